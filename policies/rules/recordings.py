"""Voice recording storage rules (SOP 5.6, 6.7, 7): recordings are personal data, kept private,
reachable with Entra identities only, and deleted when their retention ends.

Every storage account in a stack is judged as recordings storage (the platform creates none for
anything else), so a customer stack that adds one cannot slip past by naming it differently.

SOP-REC-001  allowBlobPublicAccess false (every level)
SOP-REC-002  allowSharedKeyAccess false: Entra auth only (every level)
SOP-REC-003  publicNetworkAccess Disabled (prod: a private endpoint only)
SOP-REC-004  a lifecycle management policy deletes blobs by age (stack policy, every level)
SOP-REC-005  with RECORDING_MODE=consent, RECORDING_RETENTION_DAYS is set on the container app (uat+)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from .common import (
    ALL_LEVELS,
    CONTAINER_APP,
    PROD,
    RuleContext,
    StackResource,
    depends_on,
    env_value,
    from_level,
    is_map,
    items,
    of_type,
    peek,
    rule_maker,
    sub,
)

STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
MANAGEMENT_POLICY = "azure-native:storage:ManagementPolicy"


def check_no_public_blob_access(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = props.get("allowBlobPublicAccess")
    if value is False:
        return []
    return [
        f"Storage account allowBlobPublicAccess is {value!r} (unset means allowed on older API versions); "
        "set allowBlobPublicAccess=false."
    ]


def check_no_shared_key(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = props.get("allowSharedKeyAccess")
    if value is False:
        return []
    return [
        f"Storage account allowSharedKeyAccess is {value!r} (unset means allowed); set "
        "allowSharedKeyAccess=false and grant the app identity Storage Blob Data Contributor."
    ]


def check_private_only(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = props.get("publicNetworkAccess")
    if isinstance(value, str) and value.lower() == "disabled":
        return []
    return [
        f'Storage account publicNetworkAccess is {value!r}; set publicNetworkAccess="Disabled" and reach it '
        "through a private endpoint (group blob, zone privatelink.blob.core.windows.net)."
    ]


def deletes_by_age(policy: StackResource) -> bool:
    """Does this lifecycle policy have an enabled rule that deletes base blobs after some days?"""
    for rule in items(sub(policy.props, "policy"), "rules"):
        if not is_map(rule) or rule.get("enabled") is False:
            continue
        delete = sub(rule, "definition", "actions", "baseBlob", "delete")
        if any(
            isinstance(delete.get(key), int | float)
            for key in ("daysAfterModificationGreaterThan", "daysAfterCreationGreaterThan")
        ):
            return True
    return False


def policy_of(policy: StackResource, account: StackResource) -> bool:
    """Is this management policy the account's? Property dependency first, then a known name."""
    if depends_on(policy, "accountName", account):
        return True
    name = peek(account.props, "accountName")
    return isinstance(name, str) and peek(policy.props, "accountName") == name


def check_lifecycle(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    policies = of_type(resources, MANAGEMENT_POLICY)
    problems: list[tuple[str, str]] = []
    for account in of_type(resources, STORAGE_ACCOUNT):
        if any(deletes_by_age(p) for p in policies if policy_of(p, account)):
            continue
        problems.append(
            (
                f"Storage account '{account.name}' has no lifecycle rule deleting blobs by age; add an "
                "azure-native:storage:ManagementPolicy (name default) with a rule whose "
                "actions.baseBlob.delete.daysAfterModificationGreaterThan is the recording retention.",
                account.urn,
            )
        )
    return problems


def check_recording_retention(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    mode = env_value(props, "RECORDING_MODE")
    if not isinstance(mode, str) or mode.strip().lower() in ("", "off"):
        return []
    days = env_value(props, "RECORDING_RETENTION_DAYS")
    if isinstance(days, str) and days.strip().isdigit() and int(days) >= 1:
        return []
    return [
        f"Container app env RECORDING_MODE is {mode!r} but RECORDING_RETENTION_DAYS is {days!r}; set "
        "RECORDING_RETENTION_DAYS to the days recordings are kept (e.g. 30)."
    ]


_rule = rule_maker(
    "SOP-REC", severity=Severity.HIGH, sop_section="6.7", levels=ALL_LEVELS, resource_types=(STORAGE_ACCOUNT,)
)


NO_PUBLIC_BLOBS = _rule(
    1,
    "engram-storage-storageaccount-disallow-public-blob-access",
    "Recording storage accounts must not allow anonymous public read access to blobs.",
    "Voice recordings are personal data: no container may ever be opened to anonymous readers.",
    "Set allowBlobPublicAccess=false on the storage account.",
    checkov="CKV_AZURE_190",
    psrule="Azure.Storage.BlobPublicAccess",
)
NO_SHARED_KEY = _rule(
    2,
    "engram-storage-storageaccount-disallow-shared-key-access",
    "Recording storage accounts must refuse shared-key authorization.",
    "With shared keys off every access is an Entra identity (the app's, or a user-delegation SAS the "
    "app signs with its identity), so every read is attributable and no long-lived key can leak.",
    "Set allowSharedKeyAccess=false; grant the app identity Storage Blob Data Contributor on the account.",
    checkov="CKV2_AZURE_40",
    psrule="Azure.Storage.LocalAuth",
)
PRIVATE_ONLY = _rule(
    3,
    "engram-storage-storageaccount-disallow-public-network-access",
    "Production recording storage accounts must be reachable through a private endpoint only.",
    "SOP 7: production reaches no data store over the internet.",
    'Set publicNetworkAccess="Disabled" and add a private endpoint (group blob) in the stack\'s VNet.',
    levels=frozenset({5}),
    sop_section="7",
    checkov="CKV_AZURE_59",
)
LIFECYCLE = _rule(
    4,
    "engram-stack-storageaccount-configure-lifecycle-delete",
    "Recording storage accounts must have a lifecycle rule that deletes blobs by age.",
    "SOP 5.6: recordings are retained per policy and no longer; the account's own rule deletes them even "
    "when the service's purge does not run.",
    "Add a ManagementPolicy with a rule deleting base blobs after the retention days.",
    resource_types=("stack",),
    sop_section="5.6",
)
RETENTION_SET = _rule(
    5,
    "engram-app-containerapp-configure-recording-retention",
    "Container apps that record voice sessions at uat level and above must set a recording retention.",
    "SOP 5.6: voice recordings are retained per policy; the service purges by RECORDING_RETENTION_DAYS.",
    "Set RECORDING_RETENTION_DAYS (the stack's engram:recordings.retentionDays).",
    resource_types=(CONTAINER_APP,),
    levels=from_level(4),
    sop_section="5.6",
    severity=Severity.MEDIUM,
)

CATALOGUE = [
    NO_PUBLIC_BLOBS.resource(check_no_public_blob_access),
    NO_SHARED_KEY.resource(check_no_shared_key),
    PRIVATE_ONLY.resource(check_private_only),
    LIFECYCLE.stack(check_lifecycle),
    RETENTION_SET.resource(check_recording_retention),
]
