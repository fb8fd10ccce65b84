"""EnvironmentProfile parsing: shapes, closed sets and cross-field rules, each error naming its key."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.profile import ProfileError, load_profile
from policies.plan import read_stack_config

STACKS = ("staging", "dev", "test", "uat", "prod")


def sections(stack: str = "prod") -> dict[str, Any]:
    """A fresh copy of a stack file's `engram:` sections, as the program reads them."""
    config = read_stack_config(stack)
    return copy.deepcopy({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("engram:")})


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_parses(stack: str) -> None:
    profile = load_profile(stack, sections(stack))
    assert profile.tags["environment"] == stack
    assert profile.tags["sop-level"] == str(profile.level)
    assert profile.tags["managed-by"] == "pulumi"


def test_levels_match_the_sop() -> None:
    levels = {stack: load_profile(stack, sections(stack)).level for stack in STACKS}
    assert levels == {"staging": 1, "dev": 2, "test": 3, "uat": 4, "prod": 5}


def test_stack_files_hold_placeholders_not_tenant_values() -> None:
    profile = load_profile("prod", sections("prod"))
    assert "<CUSTOMER_TENANT_ID>" in profile.placeholders()
    assert profile.auth.tenant_id == "<CUSTOMER_TENANT_ID>"


def test_min_above_max_replicas_names_the_key() -> None:
    config = sections()
    config["hosting"]["minReplicas"] = 11
    with pytest.raises(ProfileError, match="minReplicas 11 exceeds maxReplicas 10") as error:
        load_profile("prod", config)
    assert error.value.keys == ["engram:hosting"]


def test_unknown_cpu_memory_pair_is_refused() -> None:
    config = sections()
    config["hosting"]["memoryGi"] = 3.0
    with pytest.raises(ProfileError, match="not a Container Apps size"):
        load_profile("prod", config)


def test_revision_mode_is_single_or_multiple_and_defaults_to_single() -> None:
    config = sections()
    config["hosting"]["activeRevisionsMode"] = "Blue"
    with pytest.raises(ProfileError, match="engram:hosting.activeRevisionsMode") as error:
        load_profile("prod", config)
    assert error.value.keys == ["engram:hosting.activeRevisionsMode"]
    del config["hosting"]["activeRevisionsMode"]
    assert load_profile("prod", config).hosting.active_revisions_mode == "Single"


def test_every_bad_key_is_named_at_once() -> None:
    config = sections()
    config["keyVault"]["sku"] = "gold"
    config["database"]["backupRetentionDays"] = 90
    config["hosting"]["logLevel"] = "LOUD"
    with pytest.raises(ProfileError) as error:
        load_profile("prod", config)
    assert set(error.value.keys) == {
        "engram:keyVault.sku",
        "engram:database.backupRetentionDays",
        "engram:hosting.logLevel",
    }
    assert "engram:keyVault.sku" in str(error.value)


def test_unknown_field_and_section_are_refused() -> None:
    config = sections()
    config["keyVault"]["purgeProtecton"] = True
    with pytest.raises(ProfileError) as error:
        load_profile("prod", config)
    assert error.value.keys == ["engram:keyVault.purgeProtecton"]
    config = sections()
    config["kevault"] = {}
    with pytest.raises(ProfileError, match="unknown config sections: engram:kevault"):
        load_profile("prod", config)


def test_location_outside_residency_is_refused() -> None:
    config = sections()
    config["environment"]["location"] = "westeurope"
    with pytest.raises(ProfileError, match="not in allowedLocations"):
        load_profile("prod", config)


def test_overlapping_or_public_subnets_are_refused() -> None:
    config = sections()
    config["network"]["endpointsSubnet"] = "10.50.1.0/24"
    with pytest.raises(ProfileError, match="overlaps"):
        load_profile("prod", config)
    config = sections()
    config["network"]["addressSpace"] = "52.0.0.0/16"
    with pytest.raises(ProfileError, match="not a private range"):
        load_profile("prod", config)


def test_burstable_with_ha_is_refused() -> None:
    config = sections()
    config["database"]["tier"] = "Burstable"
    with pytest.raises(ProfileError, match="Burstable servers cannot have high availability"):
        load_profile("prod", config)


def test_mfa_without_a_conditional_access_policy_is_refused() -> None:
    config = sections()
    config["auth"]["conditionalAccess"]["enabled"] = False
    with pytest.raises(ProfileError, match="mfaRequired needs conditionalAccess.enabled"):
        load_profile("prod", config)


def test_existing_gateway_needs_an_https_url() -> None:
    config = sections()
    config["gateway"] = {"mode": "existing", "existingUrl": "http://gw.example"}
    with pytest.raises(ProfileError, match="existingUrl"):
        load_profile("prod", config)


def test_sop_floors_are_left_to_the_policy_pack() -> None:
    """A prod config that breaks the SOP still parses: the gate, not the parser, reports the rule."""
    config = sections()
    config["network"]["privateLink"] = False
    # What only exists inside a VNet goes with it (structure, not an SOP floor: see the next test).
    del config["network"]["hub"]
    config["gateway"]["virtualNetwork"] = "None"
    config["hosting"]["internal"] = False
    config["database"]["highAvailability"] = "Disabled"
    config["keyVault"]["publicNetworkAccess"] = "Enabled"
    config["limits"]["redisPublicNetworkAccess"] = "Enabled"
    config["recordings"]["publicNetworkAccess"] = "Enabled"  # a private account needs the VNet
    profile = load_profile("prod", config)
    assert profile.network.private_link is False


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("network", "hub", {"vnetId": "<HUB>"}, "hub needs privateLink"),
        ("gateway", "virtualNetwork", "Internal", "virtualNetwork Internal needs network.privateLink"),
        ("hosting", "internal", True, "hosting.internal needs network.privateLink"),
        ("limits", "redisPublicNetworkAccess", "Disabled", "redisPublicNetworkAccess Disabled needs network"),
        ("recordings", "publicNetworkAccess", "Disabled", "recordings.publicNetworkAccess Disabled needs"),
    ],
)
def test_what_lives_in_the_vnet_needs_the_vnet(section: str, key: str, value: object, message: str) -> None:
    config = sections()
    config["network"] = {"privateLink": False}
    config["gateway"]["virtualNetwork"] = "None"
    config["hosting"]["internal"] = False
    config["limits"]["redisPublicNetworkAccess"] = "Enabled"
    config[section][key] = value
    with pytest.raises(ProfileError, match=message):
        load_profile("prod", config)


def test_a_gateway_cannot_be_created_with_public_access_disabled() -> None:
    config = sections()
    config["gateway"]["publicNetworkAccess"] = "Disabled"
    with pytest.raises(ProfileError, match="refused when API Management is created"):
        load_profile("prod", config)


def test_gateway_injection_needs_a_classic_tier_that_supports_it() -> None:
    config = sections()
    config["gateway"]["sku"] = "StandardV2"
    with pytest.raises(ProfileError, match="needs the Developer or Premium SKU"):
        load_profile("prod", config)


def test_bad_stack_name() -> None:
    with pytest.raises(ProfileError, match="stack name"):
        load_profile("Prod!", sections())


def test_rotation_schedule_is_the_sop_table() -> None:
    """SOP 8.3: API keys 90 days, the database password 180, service principals 365."""
    from components.profile import ROTATION_DAYS

    assert dict(ROTATION_DAYS) == {
        "api-key": 90,
        "database-password": 180,
        "service-principal": 365,
        "key": 365,
    }


def test_every_vault_secret_has_a_kind() -> None:
    from components.profile import SECRET_KINDS, rotation_days

    assert set(SECRET_KINDS) == {
        "azure-ai-key",
        "database-url",
        "redis-url",
        "zep-api-key",
        "encryption-key",
        "audit-pseudonym-key",
        "appinsights-connection-string",
    }
    assert rotation_days("azure-ai-key") == 90 and rotation_days("database-url") == 180
    with pytest.raises(KeyError, match="no kind"):
        rotation_days("new-secret")


def test_secret_expiry_is_rotation_date_plus_period() -> None:
    from datetime import UTC, date, datetime

    from components.profile import KeyVaultSection

    section = KeyVaultSection(secrets_rotated_on=date(2026, 12, 1))
    assert section.secret_expiry(["zep-api-key", "database-url"]) == {
        "zep-api-key": int(datetime(2027, 3, 1, tzinfo=UTC).timestamp()),
        "database-url": int(datetime(2027, 5, 30, tzinfo=UTC).timestamp()),
    }
    assert KeyVaultSection().secret_expiry(["zep-api-key"]) == {}
