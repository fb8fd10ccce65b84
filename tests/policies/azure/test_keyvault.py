"""AZ-KV-*: a compliant vault and secret pass; each single mutation fails with its message."""

from __future__ import annotations

import pytest

from policies.rules.azure import keyvault
from tests.policies.builders import (
    KEY_VAULT,
    PRIVATE_ENDPOINT,
    key_vault_secret,
    messages,
    private_endpoint,
    resource,
    run_resource,
    run_stack,
    vault,
)

SECRET = keyvault.SECRET
NAME, PURGE, SOFT, RBAC, SECRET_NAME, CLOSED = keyvault.CATALOGUE


@pytest.mark.parametrize("entry", [NAME, PURGE, SOFT, RBAC], ids=lambda e: e.rule.id)
def test_compliant_vault_passes(entry) -> None:
    assert run_resource(entry, KEY_VAULT, vault()) == []


def test_compliant_secret_passes() -> None:
    assert run_resource(SECRET_NAME, SECRET, key_vault_secret()) == []


@pytest.mark.parametrize("name", ["1kv-engram", "kv--engram", "kv-engram-", "kv", "kv_engram", "k" * 25])
def test_invalid_vault_name_is_violation(name: str) -> None:
    props = vault()
    props["vaultName"] = name
    assert messages(run_resource(NAME, KEY_VAULT, props)) == [
        f"Key Vault vaultName {name!r} is invalid; use 3-24 letters, digits and single hyphens, "
        f"starting with a "
        "letter and ending with a letter or digit."
    ]


def test_purge_protection_false_is_violation() -> None:
    props = vault()
    props["properties"]["enablePurgeProtection"] = False
    assert messages(run_resource(PURGE, KEY_VAULT, props)) == [
        "Key Vault properties.enablePurgeProtection is False, which ARM refuses; omit it or set it to true "
        "(once on it cannot be turned off)."
    ]


@pytest.mark.parametrize("days", [3.0, 120.0])
def test_soft_delete_retention_out_of_range_is_violation(days: float) -> None:
    props = vault()
    props["properties"]["softDeleteRetentionInDays"] = days
    assert messages(run_resource(SOFT, KEY_VAULT, props)) == [
        f"Key Vault properties.softDeleteRetentionInDays is {days:g}; set it between 7 and 90 (it cannot be "
        "changed after creation)."
    ]


def test_access_policies_on_rbac_vault_are_violation() -> None:
    props = vault()
    props["properties"]["accessPolicies"] = [
        {"objectId": "x", "tenantId": "t", "permissions": {"secrets": ["get"]}}
    ]
    assert messages(run_resource(RBAC, KEY_VAULT, props)) == [
        "Key Vault has enableRbacAuthorization true and 1 accessPolicies, which Azure ignores; remove "
        "properties.accessPolicies and grant roles (Key Vault Secrets User) instead."
    ]


def test_invalid_secret_name_is_violation() -> None:
    props = key_vault_secret()
    props["secretName"] = "azure_ai_key"
    assert messages(run_resource(SECRET_NAME, SECRET, props)) == [
        "Key Vault secretName 'azure_ai_key' is invalid; use 1-127 letters, digits and hyphens."
    ]


def test_closed_vault_without_private_endpoint_is_violation() -> None:
    kv = resource(KEY_VAULT, vault(), name="kv")
    assert messages(run_stack(CLOSED, [kv])) == [
        "Key Vault 'kv' refuses public traffic and has no private endpoint, so the apps cannot read "
        "its secrets; "
        'add an azure-native:network:PrivateEndpoint (group id "vault") with a '
        "privatelink.vaultcore.azure.net "
        "DNS zone group."
    ]


def test_closed_vault_with_private_endpoint_or_open_vault_passes() -> None:
    kv = resource(KEY_VAULT, vault(), name="kv")
    pe = resource(
        PRIVATE_ENDPOINT,
        private_endpoint(),
        name="pe",
        property_dependencies={"privateLinkServiceConnections": (kv.urn,)},
    )
    assert run_stack(CLOSED, [kv, pe]) == []
    open_props = vault()
    open_props["properties"]["publicNetworkAccess"] = "Enabled"
    open_props["properties"]["networkAcls"] = {
        "defaultAction": "Deny",
        "ipRules": [{"value": "203.0.113.0/24"}],
    }
    assert run_stack(CLOSED, [resource(KEY_VAULT, open_props, name="kv")]) == []
