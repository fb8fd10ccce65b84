"""The catalogue as a whole: naming, metadata, levels, and the generated docs page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policies import docs
from policies.rules import CATALOGUE, all_policies, default_config
from policies.rules.common import ALL_LEVELS, Entry

NAME = re.compile(r"^engram-[a-z0-9]+(-[a-z0-9]+){2,}$")
RULE_ID = re.compile(r"^(SOP|AZ)-[A-Z]+-\d{3}$")
REPO = Path(__file__).resolve().parents[2]

#: The levels each rule must apply at, from issue 7 (production-only, test-and-up, uat-and-up, every level).
EXPECTED_LEVELS = {
    "SOP-NET-001": {5},
    "SOP-NET-002": {5},
    "SOP-NET-003": {5},
    "SOP-NET-004": {5},
    "SOP-NET-005": {5},
    "SOP-NET-006": {5},
    "SOP-NET-007": ALL_LEVELS,
    "SOP-NET-008": {3, 4, 5},
    "SOP-NET-009": {5},
    "SOP-KV-001": {5},
    "SOP-KV-002": {5},
    "SOP-KV-003": {5},
    "SOP-KV-004": ALL_LEVELS,
    "SOP-KV-005": {3, 4, 5},
    "SOP-DB-001": {5},
    "SOP-DB-002": {5},
    "SOP-SCALE-001": ALL_LEVELS,
    "SOP-SCALE-002": {4, 5},
    "SOP-SCALE-003": ALL_LEVELS,
    "SOP-SCALE-004": ALL_LEVELS,
    "SOP-HA-001": {5},
    "SOP-APP-001": ALL_LEVELS,
    "SOP-APP-002": {3, 4, 5},
    "SOP-APP-003": {3, 4, 5},
    "SOP-APP-004": {5},
    "SOP-SEC-001": ALL_LEVELS,
    "SOP-SEC-002": ALL_LEVELS,
    "SOP-SEC-003": ALL_LEVELS,
    "SOP-SEC-004": ALL_LEVELS,
    "SOP-SEC-005": ALL_LEVELS,
    "SOP-AUDIT-001": {3, 4, 5},
    "SOP-AUDIT-002": {3, 4, 5},
    "SOP-IAM-001": {5},
    "SOP-IAM-002": {5},
    "SOP-TAG-001": ALL_LEVELS,
    # Issue 16: voice recording storage.
    "SOP-REC-001": ALL_LEVELS,
    "SOP-REC-002": ALL_LEVELS,
    "SOP-REC-003": {5},
    "SOP-REC-004": ALL_LEVELS,
    "SOP-REC-005": {4, 5},
}


def test_every_expected_rule_is_in_the_pack_exactly_once() -> None:
    ids = [e.rule.id for e in CATALOGUE if not e.rule.is_azure_rule]
    assert sorted(ids) == sorted(EXPECTED_LEVELS)
    all_ids = [e.rule.id for e in CATALOGUE]
    assert len(set(all_ids)) == len(all_ids)
    names = [p.name for p in all_policies()]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.rule.id)
def test_rule_metadata(entry: Entry) -> None:
    rule, policy = entry
    assert RULE_ID.match(rule.id)
    assert NAME.match(rule.name), rule.name
    assert policy.name == rule.name and policy.display_name == rule.id
    assert rule.description.endswith(".") and rule.description.count(". ") == 0
    assert policy.description == rule.description
    assert rule.why and rule.fix and rule.sop_section
    assert policy.severity is rule.severity
    assert policy.framework is not None and policy.framework.specification == rule.id
    assert policy.url is not None and policy.url.endswith("#" + rule.id.lower())
    if rule.is_azure_rule:
        # Azure's rules hold in every environment, fail a deployment, and cite where they come from.
        assert rule.source and ("http" in rule.source or "#" in rule.source), rule.source
        assert set(rule.levels) == set(ALL_LEVELS)
        assert policy.enforcement_level is EnforcementLevel.MANDATORY
        return
    assert set(rule.levels) == set(EXPECTED_LEVELS[rule.id])
    expected_type = StackValidationPolicy if rule.is_stack_rule else ResourceValidationPolicy
    assert isinstance(policy, expected_type)


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.rule.id)
def test_production_rules_are_mandatory(entry: Entry) -> None:
    if 5 in entry.rule.levels:
        assert entry.policy.enforcement_level is EnforcementLevel.MANDATORY


def test_config_schema_defaults() -> None:
    assert default_config() == {
        "engram-azure-resource-configure-allowed-location": {"allowedLocations": ["eastus2"]},
        "engram-app-containerapp-configure-max-replicas": {
            "maxReplicas": {"staging": 3, "dev": 2, "test": 2, "uat": 5, "prod": 10}
        },
        "engram-app-containerapp-enforce-mfa": {"mfaAuthContextId": "c1"},
        "engram-app-containerapp-disallow-same-stack-registry-image": {"firstDeployment": False},
    }


def test_rules_import_nothing_from_the_program() -> None:
    for path in (REPO / "policies").rglob("*.py"):
        if path.name == "plan.py":  # the recorder runs the program; the rules never do
            continue
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) (app|components|stacks)\b", source, re.M), path


def test_pack_entry_point_only_builds_the_pack() -> None:
    source = (REPO / "policies" / "__main__.py").read_text(encoding="utf-8")
    assert source.count("\nPolicyPack(") == 1
    assert "from rules import all_policies" in source


def test_policy_docs_are_current() -> None:
    assert docs.DOCS_PATH.read_text(encoding="utf-8") == docs.render(), (
        "docs/policies.md is stale: run `engram check --write-docs`"
    )


def test_policy_docs_name_every_rule_and_equivalent() -> None:
    page = docs.render()
    for entry in CATALOGUE:
        assert f"#### {entry.rule.id}" in page
        if entry.rule.psrule:
            assert entry.rule.psrule in page
