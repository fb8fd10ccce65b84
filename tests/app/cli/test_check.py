"""`engram check`: docs regeneration, usage errors, and the verdict for a stack (exit 1 on mandatory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from policies import docs, gate
from policies.gate import Finding, GateReport
from policies.plan import OfflineRunError

runner = CliRunner()


def test_write_docs_renders_the_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "policies.md"
    monkeypatch.setattr(docs, "DOCS_PATH", target)
    result = runner.invoke(cli, ["check", "--write-docs"])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == docs.render()


def test_no_stack_named_is_a_usage_error() -> None:
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 2
    assert "--stack <name>" in result.output


def test_bad_policy_config_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('["not", "a", "mapping"]', encoding="utf-8")
    result = runner.invoke(cli, ["check", "--stack", "prod", "--policy-config", str(bad)])
    assert result.exit_code == 2
    assert "policy config must map policy names" in result.output


def _fake_report(findings: list[Finding]) -> GateReport:
    return GateReport(stack="prod", resources=3, findings=findings, seconds=0.1)


def test_mandatory_violation_prints_table_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = Finding(
        "SOP-KV-002", "engram-keyvault-vault-enable-purge-protection", "kv", "mandatory", "high", "fix it"
    )
    monkeypatch.setattr(gate, "check_stack", lambda *a, **k: _fake_report([finding]))
    result = runner.invoke(cli, ["check", "--stack", "prod"])
    assert result.exit_code == 1
    assert "SOP-KV-002" in result.output and "FAIL prod" in result.output


def test_advisory_only_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = Finding("SOP-NET-009", "p", "kv", "advisory", "high", "can't run policy ...", undecided=True)
    monkeypatch.setattr(gate, "check_stack", lambda *a, **k: _fake_report([finding]))
    result = runner.invoke(cli, ["check", "--stack", "prod"])
    assert result.exit_code == 0
    assert "undecided" in result.output and "PASS prod" in result.output


def test_unplannable_stack_is_reported_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> GateReport:
        raise OfflineRunError("no stack configuration for 'nope'")

    monkeypatch.setattr(gate, "check_stack", boom)
    result = runner.invoke(cli, ["check", "--stack", "nope"])
    assert result.exit_code == 2
    assert "stack nope: no stack configuration" in result.output


def test_path_table_shows_every_path_and_the_failing_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.policies.paths_builders import private_prod

    plan = private_prod().without("privatelink.vaultcore.azure.net-link-vnet")
    from policies.rules.azure.paths import CATALOGUE

    report = gate.evaluate(plan, stack="prod", policies=[e.policy for e in CATALOGUE])
    report.plan = plan
    monkeypatch.setattr(gate, "check_stack", lambda *a, **k: report)
    result = runner.invoke(cli, ["check", "--stack", "prod"], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert "runtime paths: stack prod" in result.output
    assert "AZ-PATH-001" in result.output
    assert result.output.count("reachable") >= 11  # every path is listed with its verdict
    assert "unreachable" in result.output and "link zone" in result.output
    assert "FAIL prod" in result.output


def test_export_arm_writes_a_template_per_stack_and_still_checks(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["check", "--stack", "dev", "--export-arm", str(tmp_path / "arm")])
    assert result.exit_code == 0, result.output
    assert "PASS dev" in result.output
    template = json.loads((tmp_path / "arm" / "dev.json").read_text(encoding="utf-8"))
    assert template["$schema"].endswith("deploymentTemplate.json#") and template["resources"]
    assert (tmp_path / "arm" / "dev.parameters.json").is_file()
