"""Storage (the recordings account): names, lifecycle policies, and what user-delegation SAS needs.

AZ-ST-001  storage account name: 3-24 lower-case letters and digits (globally unique DNS label)
AZ-ST-002  blob data roles for a user-delegation SAS signer at account scope or above, not a container
AZ-ST-003  the lifecycle management policy is named "default"
AZ-ST-004  every lifecycle rule filters on blobTypes
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from ..common import PROD, RuleContext, is_map, items, peek, sub
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

CATALOGUE = [
    ACCOUNT_NAME.resource(check_account_name),
    DELEGATION_SCOPE.resource(check_delegation_scope),
    POLICY_NAME.resource(check_policy_name),
    BLOB_TYPES.resource(check_blob_types),
]
