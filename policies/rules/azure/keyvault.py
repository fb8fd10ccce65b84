"""Key Vault (vaults and secrets): names, settings Azure refuses, and what keeps secrets readable.

AZ-KV-001  vault name: 3-24 letters, digits, hyphens; starts with a letter; no "--"; no trailing hyphen
AZ-KV-002  enablePurgeProtection is never false (it can only be turned on)
AZ-KV-003  softDeleteRetentionInDays between 7 and 90
AZ-KV-004  access policies are not set on an RBAC vault (they would be ignored)
AZ-KV-005  secret name: 1-127 letters, digits and hyphens
AZ-KV-006  a vault closed to the public has a private endpoint (stack)

Not a rule here: an expiry on secrets (Checkov CKV_AZURE_41). Azure neither requires one nor enforces
it on reads: a secret's get operation still returns expired and not-yet-valid secrets ("Date-time
controlled operations" in https://learn.microsoft.com/azure/key-vault/secrets/about-secrets, confirmed
in Azure/AzureKeyVault#19), so an expiry can neither break a running app's Key Vault reference nor stop
a leaked value being read. It is rotation hygiene, an SOP matter, not deployability.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from ..common import (
    KEY_VAULT,
    PRIVATE_ENDPOINT,
    PROD,
    Rule,
    RuleContext,
    StackResource,
    is_list,
    of_type,
    peek,
    sub,
)
from ..network import endpoint_targets
from ._factory import rule_maker

SECRET = "azure-native:keyvault:Secret"  # noqa: S105 (a resource type)
VAULT_NAME = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
SECRET_NAME = re.compile(r"^[A-Za-z0-9-]{1,127}$")
MIN_SOFT_DELETE_DAYS, MAX_SOFT_DELETE_DAYS = 7, 90


def check_vault_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "vaultName")
    if not isinstance(name, str) or VAULT_NAME.match(name):
        return []
    return [
        f"Key Vault vaultName {name!r} is invalid; use 3-24 letters, digits and single hyphens, starting "
        f"with a letter and ending with a letter or digit."
    ]


def check_purge_protection_not_false(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if peek(sub(props, "properties"), "enablePurgeProtection") is not False:
        return []
    return [
        "Key Vault properties.enablePurgeProtection is False, which ARM refuses; omit it or set it to true "
        "(once on it cannot be turned off)."
    ]


def check_soft_delete_range(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    days = peek(sub(props, "properties"), "softDeleteRetentionInDays")
    if not isinstance(days, int | float) or MIN_SOFT_DELETE_DAYS <= days <= MAX_SOFT_DELETE_DAYS:
        return []
    return [
        f"Key Vault properties.softDeleteRetentionInDays is {days:g}; set it between {MIN_SOFT_DELETE_DAYS} "
        f"and {MAX_SOFT_DELETE_DAYS} (it cannot be changed after creation)."
    ]


def check_no_access_policies_with_rbac(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    properties = sub(props, "properties")
    if peek(properties, "enableRbacAuthorization") is not True:
        return []
    policies = peek(properties, "accessPolicies")
    if not is_list(policies) or len(policies) == 0:
        return []
    return [
        f"Key Vault has enableRbacAuthorization true and {len(policies)} accessPolicies, which Azure "
        f"ignores; remove properties.accessPolicies and grant roles (Key Vault Secrets User) instead."
    ]


def check_secret_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "secretName")
    if not isinstance(name, str) or SECRET_NAME.match(name):
        return []
    return [f"Key Vault secretName {name!r} is invalid; use 1-127 letters, digits and hyphens."]


def _closed(vault: StackResource) -> bool:
    properties = sub(vault.props, "properties")
    public = peek(properties, "publicNetworkAccess")
    if isinstance(public, str) and public.lower() == "disabled":
        return True
    acls = peek(properties, "networkAcls")
    default = peek(acls, "defaultAction") if isinstance(acls, Mapping) else None
    if not (isinstance(default, str) and default.lower() == "deny"):
        return False
    rules = (
        [peek(acls, key) for key in ("ipRules", "virtualNetworkRules")] if isinstance(acls, Mapping) else []
    )
    return not any(is_list(r) and len(r) > 0 for r in rules)


def check_closed_vault_reachable(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    endpoints = of_type(resources, PRIVATE_ENDPOINT)
    problems: list[tuple[str, str]] = []
    for vault in of_type(resources, KEY_VAULT):
        if not _closed(vault) or any(endpoint_targets(pe, vault) for pe in endpoints):
            continue
        problems.append(
            (
                f"Key Vault '{vault.name}' refuses public traffic and has no private endpoint, so the apps "
                f'cannot read its secrets; add an azure-native:network:PrivateEndpoint (group id "vault") '
                f"with a privatelink.vaultcore.azure.net DNS zone group.",
                vault.urn,
            )
        )
    return problems


_make = rule_maker("KV", prefix="engram-keyvault-", types=(KEY_VAULT,))


def _rule(n: int, resource: str, name: str, *text: str, **extra: Any) -> Rule:
    return _make(n, f"{resource}-{name}", *text, **extra)


_SPEC = "https://learn.microsoft.com/rest/api/keyvault/keyvault/vaults/create-or-update"

VAULT_NAME_RULE = _rule(
    1,
    "vault",
    "configure-valid-name",
    "A Key Vault name must be 3-24 letters, digits or single hyphens, starting with a letter.",
    "The name becomes <name>.vault.azure.net and is globally unique (a soft-deleted vault keeps its name "
    "until purged); ARM refuses names outside the pattern.",
    "Rename the vault: 3-24 characters, a letter first, a letter or digit last, no consecutive hyphens.",
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault",
    severity=Severity.MEDIUM,
    psrule="Azure.KeyVault.Name",
)
PURGE_NOT_FALSE = _rule(
    2,
    "vault",
    "disallow-purge-protection-false",
    "A Key Vault's enablePurgeProtection must not be set to false.",
    "Enabling purge protection is irreversible and the property does not accept false: a plan that sends "
    "false fails on a vault that has it on, and means nothing on one that does not.",
    "Omit properties.enablePurgeProtection, or set it to true.",
    _SPEC,
)
SOFT_DELETE_RANGE = _rule(
    3,
    "vault",
    "configure-soft-delete-retention-range",
    "A Key Vault's soft delete retention must be between 7 and 90 days.",
    "Soft-delete retention accepts 7 to 90 days and is fixed once the vault exists.",
    "Set properties.softDeleteRetentionInDays from 7 to 90 (90 is the default).",
    "https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview",
)
RBAC_NO_POLICIES = _rule(
    4,
    "vault",
    "disallow-access-policies-with-rbac",
    "A Key Vault using RBAC authorization must not also declare access policies.",
    "When enableRbacAuthorization is true the vault authorizes data actions by role assignment only and "
    "ignores its access policies, so a grant written as an access policy silently does nothing.",
    "Remove properties.accessPolicies and assign Key Vault roles to the identities.",
    _SPEC,
    severity=Severity.MEDIUM,
)
SECRET_NAME_RULE = _rule(
    5,
    "secret",
    "configure-valid-name",
    "A Key Vault secret name must be 1-127 letters, digits or hyphens.",
    "Secret names are part of the secret URI; underscores, dots and other characters are refused.",
    "Rename the secret using letters, digits and hyphens only (e.g. azure-ai-key).",
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault",
    severity=Severity.MEDIUM,
    resource_types=(SECRET,),
    psrule="Azure.KeyVault.SecretName",
)
CLOSED_VAULT_ENDPOINT = _rule(
    6,
    "vault",
    "require-private-endpoint-when-closed",
    "A Key Vault closed to public traffic needs a private endpoint.",
    "With public network access disabled (or a deny-all firewall) only private endpoints reach the vault; "
    "Container Apps is not a trusted service, so its Key Vault references fail and the revision does not "
    "start without one.",
    "Add a private endpoint with group id vault and a privatelink.vaultcore.azure.net DNS zone group.",
    "https://learn.microsoft.com/azure/key-vault/general/private-link-service",
    resource_types=("stack",),
)

CATALOGUE = [
    VAULT_NAME_RULE.resource(check_vault_name),
    PURGE_NOT_FALSE.resource(check_purge_protection_not_false),
    SOFT_DELETE_RANGE.resource(check_soft_delete_range),
    RBAC_NO_POLICIES.resource(check_no_access_policies_with_rbac),
    SECRET_NAME_RULE.resource(check_secret_name),
    CLOSED_VAULT_ENDPOINT.stack(check_closed_vault_reachable),
]
