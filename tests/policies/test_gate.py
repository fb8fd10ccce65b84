"""The offline gate: findings through the analyzer servicer, unknown values at preview, config, and the
report's pass/fail."""

from __future__ import annotations

from policies.gate import evaluate, merged_config
from policies.plan import PlannedResource
from policies.rules import keyvault, network
from tests.policies.builders import (
    CONTAINER_APP,
    KEY_VAULT,
    UNKNOWN_BOOL,
    UNKNOWN_STRING,
    container_app,
    resource,
    vault,
)


def test_compliant_prod_resources_pass_the_whole_pack() -> None:
    report = evaluate([resource(KEY_VAULT, vault(), name="kv")], stack="prod")
    # Only the stack rules that need companions (private endpoint, diagnostics, CA policy) fire.
    assert {f.rule_id for f in report.findings} == {
        "SOP-NET-005",
        "AZ-KV-006",
        "SOP-AUDIT-002",
        "SOP-IAM-001",
    }
    assert not report.passed


def test_violation_is_mandatory_and_names_rule_and_resource() -> None:
    props = vault()
    props["properties"]["enablePurgeProtection"] = False
    report = evaluate(
        [resource(KEY_VAULT, props, name="kv")], stack="prod", policies=[keyvault.CATALOGUE[1].policy]
    )
    (finding,) = report.findings
    assert (finding.rule_id, finding.target, finding.enforcement, finding.severity) == (
        "SOP-KV-002",
        f"{KEY_VAULT}::kv",
        "mandatory",
        "high",
    )
    assert report.mandatory == [finding]


def test_unknown_deciding_value_is_undecided_advisory_not_a_pass_or_a_failure() -> None:
    props = vault()
    props["properties"]["enablePurgeProtection"] = UNKNOWN_BOOL
    report = evaluate([resource(KEY_VAULT, props)], stack="prod", policies=[keyvault.CATALOGUE[1].policy])
    (finding,) = report.findings
    assert finding.undecided and finding.enforcement == "advisory"
    assert (
        "boolean value at .properties.enablePurgeProtection can't be known during preview" in finding.message
    )
    assert report.passed and report.undecided == [finding]


def test_unknown_location_defers_residency_rule() -> None:
    props = {**vault(), "location": UNKNOWN_STRING}
    report = evaluate([resource(KEY_VAULT, props)], stack="prod", policies=[network.CATALOGUE[8].policy])
    assert [f.undecided for f in report.findings] == [True]


def test_unknown_values_the_rule_does_not_need_are_never_read() -> None:
    props = container_app()
    props["managedEnvironmentId"] = UNKNOWN_STRING
    props["configuration"]["secrets"][0]["keyVaultUrl"] = UNKNOWN_STRING
    props["template"]["containers"][0]["image"] = UNKNOWN_STRING
    report = evaluate([resource(CONTAINER_APP, props)], stack="prod")
    assert [f for f in report.findings if f.target.startswith(CONTAINER_APP)] == []


def test_secret_envelopes_are_unwrapped_like_the_engine_does() -> None:
    props = vault()
    props["properties"]["tenantId"] = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": "<CUSTOMER_TENANT_ID>",
    }
    assert evaluate(
        [resource(KEY_VAULT, props)], stack="prod", policies=[keyvault.CATALOGUE[0].policy]
    ).passed


def test_level_falls_back_to_stack_tags_then_stack_name() -> None:
    props = vault()
    del props["tags"]
    props["properties"]["sku"]["name"] = "standard"
    policy = [keyvault.CATALOGUE[0].policy]
    assert not evaluate([resource(KEY_VAULT, props, stack="prod")], stack="prod", policies=policy).passed
    untagged_test = resource(KEY_VAULT, props, stack="test")
    assert evaluate([untagged_test], stack="test", policies=policy).passed
    assert not evaluate([untagged_test], stack="test", stack_tags={"sop-level": "5"}, policies=policy).passed


def test_component_resources_are_not_analyzed() -> None:
    component = PlannedResource(
        urn="urn:pulumi:prod::engram::engram:security:KeyVault::kv",
        type="engram:security:KeyVault",
        name="kv",
        properties={},
        custom=False,
    )
    assert evaluate([component], stack="prod", policies=[network.CATALOGUE[8].policy]).resources == 0


def test_customer_config_merges_over_defaults() -> None:
    merged = merged_config({"engram-app-containerapp-enforce-mfa": {"mfaAuthContextId": "c9"}})
    assert merged["engram-app-containerapp-enforce-mfa"] == {"mfaAuthContextId": "c9"}
    assert merged["engram-azure-resource-configure-allowed-location"] == {"allowedLocations": ["eastus2"]}
