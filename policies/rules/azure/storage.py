"""Storage (the recordings account): names, lifecycle policies, and what user-delegation SAS needs.

AZ-ST-001  storage account name: 3-24 lower-case letters and digits (globally unique DNS label)
AZ-ST-002  blob data roles for a user-delegation SAS signer at account scope or above, not a container
AZ-ST-003  the lifecycle management policy is named "default"
AZ-ST-004  every lifecycle rule filters on blobTypes
AZ-ST-005  customer-managed keys: a key name, the vault URI and a user-assigned identity for the key
AZ-ST-006  customer-managed keys: the planned vault holding the key has purge protection (stack policy)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from ..common import KEY_VAULT, PROD, RuleContext, StackResource, is_map, items, of_type, peek, sub
from ._factory import rule_maker

STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
MANAGEMENT_POLICY = "azure-native:storage:ManagementPolicy"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
NAME = re.compile(r"^[a-z0-9]{3,24}$")

#: Built-in blob data roles that include the generateUserDelegationKey action (Owner, Contributor,
#: Reader, Delegator): the roles a service signing user-delegation SAS holds.
BLOB_DATA_ROLES: dict[str, str] = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "db58b8e5-c6ad-4a2a-8342-4190687cbf4a": "Storage Blob Delegator",
}


def check_account_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "accountName")
    if not isinstance(name, str) or NAME.match(name):
        return []
    return [
        f"Storage accountName {name!r} is not 3-24 lower-case letters and digits; rename it (it becomes "
        f"<name>.blob.core.windows.net)."
    ]


def check_delegation_scope(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    role = peek(props, "roleDefinitionId")
    scope = peek(props, "scope")
    if not isinstance(role, str) or not isinstance(scope, str):
        return []
    name = BLOB_DATA_ROLES.get(role.rstrip("/").rsplit("/", 1)[-1].lower())
    if name is None or "/blobservices/default/containers/" not in scope.lower():
        return []
    return [
        f"{name} is assigned at container scope; a user-delegation key is asked for at the account, so the "
        "holder cannot sign read links. Assign it on the storage account (or add Storage Blob Delegator)."
    ]


def check_policy_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "managementPolicyName")
    if not isinstance(name, str) or name == "default":
        return []
    return [f'Storage managementPolicyName is {name!r}; set managementPolicyName="default".']


def check_blob_types(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems = []
    for rule in items(sub(props, "policy"), "rules"):
        if not is_map(rule):
            continue
        if not items(sub(rule, "definition"), "filters", "blobTypes"):
            problems.append(
                f"Lifecycle rule {rule.get('name')!r} has no definition.filters.blobTypes; set "
                'blobTypes (e.g. ["blockBlob"]).'
            )
    return problems


def check_customer_managed_key(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    encryption = sub(props, "encryption")
    source = encryption.get("keySource")
    if not isinstance(source, str) or source.lower() != "microsoft.keyvault":
        return []
    missing = []
    vault = sub(encryption, "keyVaultProperties")
    if not vault.get("keyName") or not vault.get("keyVaultUri"):
        missing.append("encryption.keyVaultProperties.keyName and keyVaultUri")
    chosen = sub(encryption, "encryptionIdentity").get("encryptionUserAssignedIdentity")
    kind = sub(props, "identity").get("type")
    if not chosen or not (isinstance(kind, str) and "userassigned" in kind.lower()):
        missing.append(
            "identity.type UserAssigned with that identity in encryption.encryptionIdentity."
            "encryptionUserAssignedIdentity"
        )
    if not missing:
        return []
    return [f"Storage account encryption.keySource is {source!r} but lacks {'; '.join(missing)}; set them."]


def _key_vault_host(account: StackResource) -> str | None:
    uri = sub(account.props, "encryption", "keyVaultProperties").get("keyVaultUri")
    if not isinstance(uri, str) or "://" not in uri:
        return None
    return uri.split("://", 1)[1].split("/", 1)[0].lower()


def check_key_vault_purge_protection(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    vaults = of_type(resources, KEY_VAULT)
    problems: list[tuple[str, str]] = []
    for account in of_type(resources, STORAGE_ACCOUNT):
        source = sub(account.props, "encryption").get("keySource")
        if not isinstance(source, str) or source.lower() != "microsoft.keyvault":
            continue
        host = _key_vault_host(account)
        for vault in vaults:  # a vault outside the plan cannot be judged here
            name = peek(vault.props, "vaultName")
            if not isinstance(name, str) or host != f"{name.lower()}.vault.azure.net":
                continue
            if sub(vault.props, "properties").get("enablePurgeProtection") is True:
                continue
            problems.append(
                (
                    f"Storage account '{account.name}' is encrypted with a key in Key Vault '{vault.name}', "
                    "which has no purge protection; set properties.enablePurgeProtection=true on the vault.",
                    account.urn,
                )
            )
    return problems


_rule = rule_maker("ST", prefix="engram-storage-")

ACCOUNT_NAME = _rule(
    1,
    "storageaccount-configure-valid-name",
    "Storage account names must be 3-24 lower-case letters and digits.",
    "The name is the DNS label of <name>.blob.core.windows.net: lower-case letters and digits only, "
    "3-24 characters, unique across Azure; ARM refuses anything else.",
    "Rename the account (for example engramprodrec).",
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftstorage",
    resource_types=(STORAGE_ACCOUNT,),
    psrule="Azure.Storage.Name",
    severity=Severity.MEDIUM,
)
DELEGATION_SCOPE = _rule(
    2,
    "roleassignment-configure-user-delegation-scope",
    "Blob data roles of a user-delegation SAS signer must be assigned at the storage account or above.",
    "With allowSharedKeyAccess=false, account and service SAS (signed with the account key) are refused; a "
    "user-delegation SAS works, but Get User Delegation Key acts on the account, so the "
    "generateUserDelegationKey action must be granted at the account, resource group or subscription: a "
    "container-scoped data role can read blobs but cannot sign a read link.",
    "Assign Storage Blob Data Contributor (or Storage Blob Delegator) on the storage account.",
    "https://learn.microsoft.com/rest/api/storageservices/get-user-delegation-key#authorization",
    resource_types=(ROLE_ASSIGNMENT,),
)
POLICY_NAME = _rule(
    3,
    "managementpolicy-configure-default-name",
    'A storage account\'s lifecycle management policy must be named "default".',
    "An account has a single management policy, whose resource name is fixed: "
    "storageAccounts/<account>/managementPolicies/default.",
    'Set managementPolicyName="default".',
    "https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts/managementpolicies",
    resource_types=(MANAGEMENT_POLICY,),
)
BLOB_TYPES = _rule(
    4,
    "managementpolicy-configure-blob-types",
    "Every lifecycle management rule must filter on blob types.",
    "blobTypes is a required filter of a lifecycle rule definition; a rule without it is refused.",
    'Set definition.filters.blobTypes, e.g. ["blockBlob"].',
    "https://learn.microsoft.com/azure/storage/blobs/lifecycle-management-policy-structure",
    resource_types=(MANAGEMENT_POLICY,),
)

CUSTOMER_MANAGED_KEY = _rule(
    5,
    "storageaccount-configure-customer-managed-key",
    "Storage accounts encrypted with a customer-managed key must name the key, its vault and a "
    "user-assigned identity.",
    "Azure Storage reaches the key through a managed identity; configuring the key when the account is "
    "created needs a user-assigned one (a system-assigned identity exists only after creation), and the "
    "vault must have soft delete and purge protection.",
    "Set encryption.keyVaultProperties.{keyName,keyVaultUri}, identity.type UserAssigned and "
    "encryption.encryptionIdentity.encryptionUserAssignedIdentity; grant that identity Key Vault Crypto "
    "Service Encryption User on the vault.",
    "https://learn.microsoft.com/azure/storage/common/customer-managed-keys-configure-new-account",
    resource_types=(STORAGE_ACCOUNT,),
)

KEY_VAULT_PURGE_PROTECTION = _rule(
    6,
    "stack-configure-cmk-vault-purge-protection",
    "A Key Vault holding a storage account's customer-managed key must have purge protection.",
    "Azure Storage encryption with customer-managed keys requires soft delete and purge protection on the "
    "key vault; without them the account cannot use the key.",
    "Set properties.enablePurgeProtection=true on the vault (keyVault.purgeProtection in the stack).",
    "https://learn.microsoft.com/azure/storage/common/customer-managed-keys-configure-new-account",
    resource_types=("stack",),
)

CATALOGUE = [
    ACCOUNT_NAME.resource(check_account_name),
    DELEGATION_SCOPE.resource(check_delegation_scope),
    POLICY_NAME.resource(check_policy_name),
    BLOB_TYPES.resource(check_blob_types),
    CUSTOMER_MANAGED_KEY.resource(check_customer_managed_key),
    KEY_VAULT_PURGE_PROTECTION.stack(check_key_vault_purge_protection),
]
