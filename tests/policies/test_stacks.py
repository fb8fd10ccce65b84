"""The five stacks against the pack, offline: each passes with zero mandatory violations, and seeded
violations in a copy of the prod config fail with the right rule ids.

Runs the real program (`stacks/__main__.py`) under mocks through `policies.gate.check_stack`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import proto

from policies import gate
from policies.gate import check_stack, evaluate, mandatory_rule_ids
from policies.plan import OfflineRunError, PlannedResource, run_program, stack_config_path
from policies.rules import CATALOGUE, all_policies

STACKS = ["staging", "dev", "test", "uat", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_passes_with_zero_mandatory_violations(stack: str) -> None:
    report = check_stack(stack)
    assert report.resources > 0
    assert report.mandatory == [], "\n".join(f"{f.rule_id} {f.target}: {f.message}" for f in report.mandatory)


@pytest.mark.parametrize("stack", STACKS)
def test_every_required_runtime_path_is_reachable(stack: str) -> None:
    from policies import paths

    report = check_stack(stack)
    results = paths.analyse(report.plan)
    assert results
    assert {r.name for r in results if r.verdict == paths.UNREACHABLE} == set()
    assert not [r for r in results if r.verdict == paths.UNDECIDED]  # offline mocks know every value


def _prod_copy(tmp_path: Path, **sections: dict[str, Any]) -> Path:
    """A copy of Pulumi.prod.yaml with some `engram:<section>` keys changed."""
    source = stack_config_path("prod")
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    for section, changes in sections.items():
        document["config"][f"engram:{section}"].update(changes)
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return tmp_path


#: Config faults seeded together into one copy of Pulumi.prod.yaml (one program run), each with the rule
#: that must catch it.
SEEDS: dict[str, tuple[dict[str, Any], str]] = {
    "kv-public-access": ({"keyVault": {"publicNetworkAccess": "Enabled"}}, "SOP-NET-001"),
    "ai-public-access": ({"ai": {"publicNetworkAccess": "Enabled"}}, "SOP-NET-002"),
    "kv-standard-sku": ({"keyVault": {"sku": "standard"}}, "SOP-KV-001"),
    "kv-purge-protection-off": ({"keyVault": {"purgeProtection": False}}, "SOP-KV-002"),
    "postgres-ha-off": ({"database": {"highAvailability": "Disabled"}}, "SOP-DB-001"),
    "postgres-geo-backup-off": ({"database": {"geoRedundantBackup": False}}, "SOP-DB-002"),
    "too-many-replicas": ({"hosting": {"maxReplicas": 20}}, "SOP-SCALE-001"),
    "scale-to-zero": ({"hosting": {"minReplicas": 0}}, "SOP-SCALE-002"),
    "environment-not-zone-redundant": ({"hosting": {"zoneRedundant": False}}, "SOP-HA-001"),
    "debug-on": ({"hosting": {"debug": True}}, "SOP-APP-003"),
    "recordings-public": ({"recordings": {"publicNetworkAccess": "Enabled"}}, "SOP-REC-003"),
    "conditional-access-missing": (
        {"auth": {"mfaRequired": False, "conditionalAccess": {"enabled": False}}},
        "SOP-IAM-001",
    ),
    # Turning MFA off also drops the app's MFA_AUTH_CONTEXT_ID: the app-side rule fires too.
    "app-mfa-off": ({}, "SOP-IAM-002"),
    # Purge protection off also leaves the recordings account's customer-managed key in an unfit vault.
    "recordings-key-vault-without-purge-protection": ({}, "AZ-ST-006"),
}


def test_seeded_prod_violations_fail_with_exactly_their_rules(tmp_path: Path) -> None:
    sections: dict[str, dict[str, Any]] = {}
    for changes, _ in SEEDS.values():
        for section, values in changes.items():
            sections.setdefault(section, {}).update(values)
    report = check_stack("prod", _prod_copy(tmp_path, **sections))
    assert not report.passed
    assert mandatory_rule_ids(report.findings) == {rule for _, rule in SEEDS.values()}


def test_plain_secret_env_var_in_prod_plan_fails(tmp_path: Path) -> None:
    """No config knob adds a plain secret, so seed it into the planned container app itself."""
    plan = run_program("prod")
    seeded: list[PlannedResource] = []
    for r in plan.resources:
        if r.type == "azure-native:app:ContainerApp":
            props = dict(r.properties)
            template = dict(props["template"])
            container = dict(template["containers"][0])
            container["env"] = [*container["env"], {"name": "ZEP_API_KEY", "value": "z-plaintext"}]
            template["containers"] = [container, *template["containers"][1:]]
            props["template"] = template
            r = dataclasses.replace(r, properties=props)
        seeded.append(r)
    report = evaluate(seeded, stack="prod")
    assert mandatory_rule_ids(report.findings) == {"SOP-SEC-001"}


def _every_policy_on_every_resource(
    resources: list[PlannedResource], stack: str
) -> set[tuple[str, str, str]]:
    """The reference: one servicer holding the whole pack analyses each resource, as the engine does."""
    servicer = gate._servicer(all_policies(), gate.merged_config(None), stack, {})
    found = set()
    for r in resources:
        if not r.custom:
            continue
        request = proto.AnalyzeRequest(**gate._described(r))
        for d in servicer.Analyze(request, None).diagnostics:
            found.add((d.policyName, f"{r.type}::{r.name}", gate._finding(d, "").message))
    return found


def test_scoping_policies_by_resource_type_changes_no_finding(tmp_path: Path) -> None:
    """`evaluate` hands each resource only the rules for its type: same findings as the whole pack."""
    sections: dict[str, dict[str, Any]] = {}
    for changes, _ in SEEDS.values():
        for section, values in changes.items():
            sections.setdefault(section, {}).update(values)
    seeded = run_program("prod", _prod_copy(tmp_path, **sections)).resources
    stack_rules = {e.policy.name for e in CATALOGUE if e.rule.is_stack_rule}
    for resources, stack, minimum in ((seeded, "prod", 10), (run_program("test").resources, "test", 0)):
        scoped = {
            (f.policy, f.target, f.message)
            for f in evaluate(resources, stack=stack).findings
            if f.policy not in stack_rules
        }
        assert scoped == _every_policy_on_every_resource(resources, stack)
        assert len(scoped) >= minimum


def test_a_gateway_without_vnet_injection_turns_its_path_red_in_the_real_prod_plan(tmp_path: Path) -> None:
    """Seeded break on the real program: APIM outside the VNet cannot reach private AI Services."""
    report = check_stack("prod", _prod_copy(tmp_path, gateway={"virtualNetwork": "None"}))
    paths = [f for f in report.mandatory if f.rule_id == "AZ-PATH-001"]
    assert paths and all("AI Services" in f.message for f in paths)
    assert "AZ-APIM-007" in mandatory_rule_ids(report.findings)


#: Deployability faults, one program run each (some would mask others), with the rules that must catch
#: them: what Azure would refuse or could not run, on the real prod program.
AZURE_SEEDS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "retired-chat-model": (
        {"ai": {"chat": {"name": "chat", "model": "gpt-5-chat", "version": "2025-10-03", "capacity": 100}}},
        {"AZ-AI-005"},
    ),
    "image-from-the-registry-this-run-creates": (
        {"hosting": {"image": {"registry": "acr", "repository": "engram-api", "tag": "abc123"}}},
        {"AZ-ACA-009"},
    ),
    "database-sku-of-another-tier": ({"database": {"skuName": "Standard_B2s"}}, {"AZ-PG-002"}),
    "gateway-outside-the-vnet": (
        {"gateway": {"virtualNetwork": "None"}},
        {"AZ-APIM-007", "AZ-PATH-001", "SOP-NET-004"},  # and now it is public, which prod forbids
    ),
}


@pytest.mark.parametrize("seed", sorted(AZURE_SEEDS))
def test_seeded_deployability_breaks_fail_with_their_rules(seed: str, tmp_path: Path) -> None:
    changes, rules = AZURE_SEEDS[seed]
    try:
        report = check_stack("prod", _prod_copy(tmp_path, **changes))
    except OfflineRunError as exc:  # the program itself refuses some faults before the pack sees them
        pytest.fail(f"{seed}: the program refused the config before the pack ran: {exc}")
    assert mandatory_rule_ids(report.findings) == rules, [f.message for f in report.mandatory]
