"""Required tags and the level they declare (resource tags, then stack tags, then stack name)."""

from __future__ import annotations

from policies.rules import tagging
from policies.rules.common import resolve_level, stack_name_of
from tests.policies.builders import KEY_VAULT, messages, run_resource, tags, urn, vault

(TAGS,) = tagging.CATALOGUE


def test_tagged_resource_passes() -> None:
    assert run_resource(TAGS, KEY_VAULT, vault()) == []


def test_missing_tags_are_violation() -> None:
    props = vault()
    del props["tags"]["data-classification"]
    del props["tags"]["managed-by"]
    assert messages(run_resource(TAGS, KEY_VAULT, props)) == [
        "missing tags ['data-classification', 'managed-by']; set data-classification, managed-by "
        "(see docs/policies.md)."
    ]


def test_bad_sop_level_and_managed_by_are_violations() -> None:
    props = vault()
    props["tags"]["sop-level"] = "9"
    props["tags"]["managed-by"] = "portal"
    assert messages(run_resource(TAGS, KEY_VAULT, props)) == [
        'tag sop-level is \'9\'; set it to "1".."5".',
        "tag managed-by is 'portal'; set it to \"pulumi\".",
    ]


def test_inconsistent_environment_and_level_is_violation() -> None:
    props = vault()
    props["tags"]["sop-level"] = "2"
    assert messages(run_resource(TAGS, KEY_VAULT, props)) == [
        "tag environment='prod' means SOP level 5 but sop-level is '2'; make them agree (the stricter one "
        "applies meanwhile)."
    ]


def test_untaggable_resources_are_skipped() -> None:
    role = {"principalId": "p", "roleDefinitionId": "r", "scope": "/subscriptions/x"}
    assert run_resource(TAGS, "azure-native:authorization:RoleAssignment", role) == []
    assert run_resource(TAGS, "azuread:index/application:Application", {"displayName": "x"}) == []


def test_level_resolution_order() -> None:
    kv_urn = urn(KEY_VAULT, "kv", "test")
    assert resolve_level({"tags": tags("uat")}, {}, kv_urn) == 4
    assert resolve_level({"tags": {**tags("dev"), "sop-level": "5"}}, {}, kv_urn) == 5  # stricter wins
    assert resolve_level({}, {"environment": "uat"}, kv_urn) == 4
    assert resolve_level({}, {}, kv_urn) == 3
    assert resolve_level({}, {}, urn(KEY_VAULT, "kv", "contoso-prod")) == 5
    assert resolve_level({}, {}, urn(KEY_VAULT, "kv", "sandbox")) == 5  # unknown stack: strictest
    assert stack_name_of("not-a-urn") is None
