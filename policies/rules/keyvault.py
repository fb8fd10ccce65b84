"""Key Vault rules: HSM-backed SKU, purge protection and 90-day soft delete in production; RBAC
authorization everywhere.

SOP-KV-001  premium (HSM-backed) SKU (prod)
SOP-KV-002  purge protection enabled (prod)
SOP-KV-003  soft delete on with retention >= 90 days (prod)
SOP-KV-004  RBAC authorization instead of access policies (every level)
SOP-KV-005  every secret carries an expiry: its SOP 8.3 rotation deadline (test and above)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import ALL_LEVELS, KEY_VAULT, PROD, RuleContext, from_level, rule_maker, sub

KEY_VAULT_SECRET = "azure-native:keyvault:Secret"  # noqa: S105 - a resource type

MIN_SOFT_DELETE_DAYS = 90
AZURE_DEFAULT_SOFT_DELETE_DAYS = 90  # ARM fills 90 when softDeleteRetentionInDays is omitted


def check_vault_premium_sku(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = sub(props, "properties", "sku").get("name")
    if isinstance(name, str) and name.lower() == "premium":
        return []
    return [f'Key Vault sku.name is {name!r}; set properties.sku.name to "premium" (HSM-backed keys).']


def check_vault_purge_protection(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = sub(props, "properties").get("enablePurgeProtection")
    if value is True:
        return []
    return [f"Key Vault enablePurgeProtection is {value!r}; set properties.enablePurgeProtection to true."]


def check_vault_soft_delete(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    properties = sub(props, "properties")
    problems: list[str] = []
    if properties.get("enableSoftDelete") is False:
        problems.append("Key Vault enableSoftDelete is False; set properties.enableSoftDelete to true.")
    days = properties.get("softDeleteRetentionInDays")
    effective = AZURE_DEFAULT_SOFT_DELETE_DAYS if days is None else days
    if not isinstance(effective, int | float) or effective < MIN_SOFT_DELETE_DAYS:
        problems.append(
            f"Key Vault softDeleteRetentionInDays is {days!r}; set properties.softDeleteRetentionInDays "
            f"to at least {MIN_SOFT_DELETE_DAYS}."
        )
    return problems


def check_vault_rbac(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = sub(props, "properties").get("enableRbacAuthorization")
    if value is True:
        return []
    return [
        f"Key Vault enableRbacAuthorization is {value!r}; set properties.enableRbacAuthorization to true "
        f"and grant Key Vault Secrets User by role assignment."
    ]


def check_secret_expiry(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    expires = sub(props, "properties", "attributes").get("expires")
    if expires is not None:
        return []
    return [
        "Key Vault secret has no properties.attributes.expires; set it to the secret's SOP 8.3 rotation "
        "deadline (the stacks: engram:keyVault.secretsRotatedOn plus 90/180/365 days by kind)."
    ]


_rule = rule_maker(
    "SOP-KV", resource_types=(KEY_VAULT,), severity=Severity.MEDIUM, sop_section="6.4", levels=frozenset({5})
)

PREMIUM_SKU = _rule(
    1,
    "engram-keyvault-vault-configure-premium-sku",
    "Production Key Vaults must use the premium (HSM-backed) SKU.",
    "Production keys and secrets are protected by HSMs, as the SOP's data-protection table requires.",
    'Set properties.sku = {family: "A", name: "premium"}.',
)
PURGE_PROTECTION = _rule(
    2,
    "engram-keyvault-vault-enable-purge-protection",
    "Production Key Vaults must enable purge protection.",
    "Without it a deleted vault or secret can be purged before the retention period, losing data for good.",
    "Set properties.enablePurgeProtection=true (it cannot be turned off again).",
    severity=Severity.HIGH,
    psrule="Azure.KeyVault.PurgeProtect",
    checkov="CKV_AZURE_110",
)
SOFT_DELETE = _rule(
    3,
    "engram-keyvault-vault-configure-soft-delete-retention",
    "Production Key Vaults must keep soft delete on with at least 90 days of retention.",
    "Deleted secrets stay recoverable for the SOP's 90-day window.",
    "Leave enableSoftDelete on and set properties.softDeleteRetentionInDays >= 90.",
    severity=Severity.HIGH,
    psrule="Azure.KeyVault.SoftDelete",
    checkov="CKV_AZURE_42",
)
RBAC = _rule(
    4,
    "engram-keyvault-vault-enable-rbac-authorization",
    "Key Vaults must use Azure RBAC authorization instead of access policies.",
    "RBAC grants are auditable, scoped and managed with the other role assignments of the stack.",
    "Set properties.enableRbacAuthorization=true and assign Key Vault Secrets User to the app identity.",
    levels=ALL_LEVELS,
    psrule="Azure.KeyVault.RBAC",
)

SECRET_EXPIRY = _rule(
    5,
    "engram-keyvault-secret-configure-expiry",
    "Key Vault secrets must carry an expiry at their SOP 8.3 rotation deadline.",
    "SOP 8.3 rotates API keys every 90 days, the database password every 180 and service principal "
    "credentials every 365; the expiry is what raises Key Vault's near-expiry and expiry events, and "
    "what `engram secrets status` reports.",
    "Set engram:keyVault.secretsRotatedOn in the stack file (properties.attributes.expires follows).",
    resource_types=(KEY_VAULT_SECRET,),
    sop_section="8.3",
    levels=from_level(3),
    checkov="CKV_AZURE_41",
)

CATALOGUE = [
    PREMIUM_SKU.resource(check_vault_premium_sku),
    PURGE_PROTECTION.resource(check_vault_purge_protection),
    SOFT_DELETE.resource(check_vault_soft_delete),
    RBAC.resource(check_vault_rbac),
    SECRET_EXPIRY.resource(check_secret_expiry),
]
