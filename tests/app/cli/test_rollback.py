"""`engram rollback` on the command line: where it finds the app, its refusals, and verify afterwards."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.cli import rollback as rollback_cli
from app.ops.rollback import RollbackError
from tests.app.ops.test_rollback import APP, RG
from tests.doubles.arm_server import SUBSCRIPTION, ArmDouble


def test_names_come_from_flags_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollback_cli, "_stack_outputs", lambda stack: {})
    assert rollback_cli.resolve_target("prod", "rg", "app") == ("rg", "app")
    monkeypatch.setenv("ENGRAM_RESOURCE_GROUP", "env-rg")
    monkeypatch.setenv("ENGRAM_CONTAINER_APP", "env-app")
    assert rollback_cli.resolve_target("prod", None, None) == ("env-rg", "env-app")


def test_names_fall_back_to_the_stack_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = {"resourceGroupName": "out-rg", "containerAppName": "out-app"}
    monkeypatch.setattr(rollback_cli, "_stack_outputs", lambda stack: outputs if stack == "uat" else {})
    assert rollback_cli.resolve_target("uat", None, None) == ("out-rg", "out-app")
    with pytest.raises(RollbackError, match="--resource-group and --app"):
        rollback_cli.resolve_target("prod", None, None)


def test_names_come_from_the_outputs_the_stack_program_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The program's real outputs (offline plan), served by a stand-in `pulumi` CLI on PATH."""
    from policies.plan import run_program

    outputs = {stack: run_program(stack).outputs for stack in ("prod", "dev")}
    fake = tmp_path / "pulumi"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"outputs = {json.dumps(outputs)!r}\n"
        "args = sys.argv[1:]\n"
        "if args[:2] != ['stack', 'output'] or '--json' not in args: sys.exit(9)\n"
        "print(json.dumps(json.loads(outputs)[args[args.index('--stack') + 1]]))\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("ENGRAM_RESOURCE_GROUP", raising=False)
    monkeypatch.delenv("ENGRAM_CONTAINER_APP", raising=False)
    assert rollback_cli.resolve_target("prod", None, None) == ("engram-prod-rg", "engram-prod-app-api")
    with pytest.raises(RollbackError, match="cannot find the container app of stack 'dev'"):
        rollback_cli.resolve_target("dev", None, None)  # local-first: no container app to roll back


def test_missing_subscription_is_refused_before_azure_is_called() -> None:
    result = CliRunner().invoke(cli, ["rollback", "--stack", "prod", "--resource-group", RG, "--app", APP])
    assert result.exit_code == 2
    assert "AZURE_SUBSCRIPTION_ID" in result.output


def test_rollback_moves_traffic_then_verifies(arm: ArmDouble) -> None:
    double = arm
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))  # bound, not listening: the verification finds nothing there
        api_base = f"http://127.0.0.1:{refusing.getsockname()[1]}"
        result = CliRunner().invoke(
            cli,
            ["rollback", "--stack", "prod", "--json", "--api-base", api_base, "--revision", "r1"],
            env={
                "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
                "ENGRAM_RESOURCE_GROUP": RG,
                "ENGRAM_CONTAINER_APP": APP,
            },
        )
        traffic = double.app.traffic()
    assert traffic == [{"revisionName": f"{APP}--r1", "weight": 100}]
    # the rollback happened; the verification that follows found nothing listening, so exit 1
    assert result.exit_code == 1, result.output
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[0])["rollback"]["target"] == f"{APP}--r1"
    report = json.loads("\n".join(lines[1:]))
    assert report["checks"][0]["hint_id"] == "api-unreachable"
