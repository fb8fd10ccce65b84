"""Key Vault rules: premium SKU, purge protection, soft delete >= 90 days (prod); RBAC (every level);
secret expiry (test and above)."""

from __future__ import annotations

from policies.rules import keyvault
from tests.policies.builders import KEY_VAULT, key_vault_secret, messages, run_resource, vault

SKU, PURGE, SOFT_DELETE, RBAC, SECRET_EXPIRY = keyvault.CATALOGUE


def test_compliant_vault_passes_every_rule() -> None:
    for entry in keyvault.CATALOGUE:
        assert run_resource(entry, KEY_VAULT, vault()) == [], entry.rule.id


def test_standard_sku_is_violation_in_prod_only() -> None:
    props = vault()
    props["properties"]["sku"]["name"] = "standard"
    assert messages(run_resource(SKU, KEY_VAULT, props)) == [
        "Key Vault sku.name is 'standard'; set properties.sku.name to \"premium\" (HSM-backed keys)."
    ]
    test_props = vault("test")
    test_props["properties"]["sku"]["name"] = "standard"
    assert run_resource(SKU, KEY_VAULT, test_props, stack="test") == []


def test_purge_protection_off_is_violation() -> None:
    props = vault()
    props["properties"]["enablePurgeProtection"] = False
    assert messages(run_resource(PURGE, KEY_VAULT, props)) == [
        "Key Vault enablePurgeProtection is False; set properties.enablePurgeProtection to true."
    ]


def test_purge_protection_unset_is_violation() -> None:
    props = vault()
    del props["properties"]["enablePurgeProtection"]
    assert "enablePurgeProtection is None" in messages(run_resource(PURGE, KEY_VAULT, props))[0]


def test_soft_delete_disabled_is_violation() -> None:
    props = vault()
    props["properties"]["enableSoftDelete"] = False
    assert messages(run_resource(SOFT_DELETE, KEY_VAULT, props)) == [
        "Key Vault enableSoftDelete is False; set properties.enableSoftDelete to true."
    ]


def test_soft_delete_retention_below_90_is_violation_and_default_is_90() -> None:
    props = vault()
    props["properties"]["softDeleteRetentionInDays"] = 89.0
    assert messages(run_resource(SOFT_DELETE, KEY_VAULT, props)) == [
        "Key Vault softDeleteRetentionInDays is 89.0; set properties.softDeleteRetentionInDays to at least "
        "90."
    ]
    del props["properties"]["softDeleteRetentionInDays"]
    assert run_resource(SOFT_DELETE, KEY_VAULT, props) == []


def test_access_policies_instead_of_rbac_is_violation_at_every_level() -> None:
    props = vault("staging")
    props["properties"]["enableRbacAuthorization"] = False
    assert messages(run_resource(RBAC, KEY_VAULT, props, stack="staging")) == [
        "Key Vault enableRbacAuthorization is False; set properties.enableRbacAuthorization to true and "
        "grant "
        "Key Vault Secrets User by role assignment."
    ]


def test_secret_with_expiry_passes() -> None:
    assert run_resource(SECRET_EXPIRY, keyvault.KEY_VAULT_SECRET, key_vault_secret()) == []


def test_secret_without_expiry_is_violation_from_test_up() -> None:
    props = key_vault_secret()
    del props["properties"]["attributes"]["expires"]
    assert messages(run_resource(SECRET_EXPIRY, keyvault.KEY_VAULT_SECRET, props)) == [
        "Key Vault secret has no properties.attributes.expires; set it to the secret's SOP 8.3 rotation "
        "deadline (the stacks: engram:keyVault.secretsRotatedOn plus 90/180/365 days by kind)."
    ]
    assert run_resource(SECRET_EXPIRY, keyvault.KEY_VAULT_SECRET, props, stack="test") != []
    assert run_resource(SECRET_EXPIRY, keyvault.KEY_VAULT_SECRET, props, stack="dev") == []
