"""Azure Managed Redis (`Microsoft.Cache/redisEnterprise`): the SKUs it offers, TLS, and the pairings
Entra-only access needs to work.

AZ-REDIS-001  the cluster SKU is an Azure Managed Redis SKU (not the retiring Enterprise tiers)
AZ-REDIS-002  the cluster's minimum TLS version is 1.2
AZ-REDIS-003  a database with access keys disabled takes TLS clients (Entra tokens only work over TLS)
AZ-REDIS-004  an access policy assignment names the `default` access policy
AZ-REDIS-005  a database has access keys disabled: Entra identities only (no shared secret)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from ..common import PROD, RuleContext, peek, sub
from ._factory import rule_maker

CLUSTER = "azure-native:redisenterprise:RedisEnterprise"
DATABASE = "azure-native:redisenterprise:Database"
ACCESS_POLICY_ASSIGNMENT = "azure-native:redisenterprise:AccessPolicyAssignment"

#: Azure Managed Redis SKU families (the size follows the letter): Balanced_B0..B1000, MemoryOptimized_M10..,
#: ComputeOptimized_X3.., FlashOptimized_A250... Enterprise_E* and EnterpriseFlash_F* are the Azure Cache
#: for Redis Enterprise tiers the same resource type still accepts, announced for retirement.
MANAGED_REDIS_SKU = re.compile(r"^(Balanced_B|MemoryOptimized_M|ComputeOptimized_X|FlashOptimized_A)\d+$")
RETIRING_SKU = re.compile(r"^(Enterprise_E|EnterpriseFlash_F)\d+$")
MINIMUM_TLS = "1.2"
DEFAULT_POLICY = "default"


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def check_managed_redis_sku(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(sub(props, "sku"), "name")
    if not isinstance(name, str) or MANAGED_REDIS_SKU.match(name):
        return []
    if RETIRING_SKU.match(name):
        return [
            f"Redis cluster sku.name {name!r} is an Azure Cache for Redis Enterprise tier, announced for "
            f"retirement; use an Azure Managed Redis SKU such as 'Balanced_B0'."
        ]
    return [
        f"Redis cluster sku.name {name!r} is not an Azure Managed Redis SKU; use Balanced_B*, "
        f"MemoryOptimized_M*, ComputeOptimized_X* or FlashOptimized_A* (e.g. 'Balanced_B0')."
    ]


def check_minimum_tls(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    version = peek(props, "minimumTlsVersion")
    if not isinstance(version, str) or version == MINIMUM_TLS:
        return []
    return [f"Redis cluster minimumTlsVersion is {version!r}; set it to {MINIMUM_TLS!r}."]


def check_tls_for_entra(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    keys, protocol = _lower(peek(props, "accessKeysAuthentication")), _lower(peek(props, "clientProtocol"))
    if keys != "disabled" or protocol != "plaintext":
        return []
    return [
        'Redis database clientProtocol is "Plaintext" with access keys disabled; Entra tokens are accepted '
        'over TLS only, so no client could authenticate: set clientProtocol to "Encrypted".'
    ]


def check_default_policy(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    policy = peek(props, "accessPolicyName")
    if not isinstance(policy, str) or policy == DEFAULT_POLICY:
        return []
    return [
        f"Redis access policy assignment accessPolicyName is {policy!r}; the only policy offered is "
        f"{DEFAULT_POLICY!r}: set accessPolicyName to {DEFAULT_POLICY!r}."
    ]


def check_access_keys_disabled(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    keys = peek(props, "accessKeysAuthentication")
    if _lower(keys) == "disabled":
        return []
    shown = "unset (Azure's default keeps keys on for older API versions)" if keys is None else repr(keys)
    return [
        f'Redis database accessKeysAuthentication is {shown}; set it to "Disabled" and grant the app\'s '
        f"managed identity an access policy assignment (Entra tokens only)."
    ]


_rule = rule_maker("REDIS", prefix="engram-redisenterprise-")

MANAGED_SKU = _rule(
    1,
    "cluster-configure-managed-redis-sku",
    "A Redis cluster's SKU must be an Azure Managed Redis SKU.",
    "The redisEnterprise resource type takes Azure Managed Redis SKUs (Balanced_B*, MemoryOptimized_M*, "
    "ComputeOptimized_X*, FlashOptimized_A*) and the older Enterprise_E*/EnterpriseFlash_F* tiers of Azure "
    "Cache for Redis Enterprise, which are announced for retirement (March 2027; the Basic/Standard/Premium "
    "caches follow in September 2028); any other name is refused.",
    "Set sku.name to an Azure Managed Redis SKU, e.g. Balanced_B0 for counters and small caches.",
    "https://learn.microsoft.com/dotnet/api/azure.resourcemanager.redisenterprise.models.redisenterpriseskuname"
    " (SKU names); retirement: https://praveenkumarsreeram.com/2026/06/12/azure-cache-for-redis-vs-enterprise"
    "-vs-azure-managed-redis-what-retires-when-and-where-to-go/",
    resource_types=(CLUSTER,),
)
MIN_TLS = _rule(
    2,
    "cluster-configure-minimum-tls",
    "A Redis cluster's minimum TLS version must be 1.2.",
    "TLS 1.0 and 1.1 are obsolete on Azure Managed Redis and can no longer be set; 1.2 is the floor.",
    'Set minimumTlsVersion="1.2".',
    "https://learn.microsoft.com/azure/templates/microsoft.cache/redisenterprise",
    severity=Severity.MEDIUM,
    resource_types=(CLUSTER,),
)
TLS_FOR_ENTRA = _rule(
    3,
    "database-require-tls-with-entra",
    "A Redis database with access keys disabled must take TLS (Encrypted) clients.",
    "Microsoft Entra authentication is supported for TLS connections only; with access keys off and the "
    "Plaintext protocol no client can authenticate at all.",
    'Set clientProtocol="Encrypted" (port 10000).',
    "https://learn.microsoft.com/azure/redis/entra-for-authentication",
    resource_types=(DATABASE,),
)
DEFAULT_ACCESS_POLICY = _rule(
    4,
    "accesspolicyassignment-configure-default-policy",
    "A Redis access policy assignment must name the default access policy.",
    "Azure Managed Redis offers one access policy for Entra identities, `default` (full data access); an "
    "assignment naming another policy is refused.",
    'Set accessPolicyName="default".',
    "https://learn.microsoft.com/azure/templates/microsoft.cache/redisenterprise/databases/"
    "accesspolicyassignments",
    resource_types=(ACCESS_POLICY_ASSIGNMENT,),
)
ACCESS_KEYS_DISABLED = _rule(
    5,
    "database-disallow-access-keys",
    "A Redis database must disable access keys so only Entra identities connect.",
    "Access keys are shared secrets with full access and no per-caller audit; Microsoft recommends Entra "
    "and disabling them (disabling later drops every open connection, so it is set at creation).",
    'Set accessKeysAuthentication="Disabled" and add an access policy assignment for the app identity.',
    "https://learn.microsoft.com/azure/redis/entra-for-authentication",
    resource_types=(DATABASE,),
)

CATALOGUE = [
    MANAGED_SKU.resource(check_managed_redis_sku),
    MIN_TLS.resource(check_minimum_tls),
    TLS_FOR_ENTRA.resource(check_tls_for_entra),
    DEFAULT_ACCESS_POLICY.resource(check_default_policy),
    ACCESS_KEYS_DISABLED.resource(check_access_keys_disabled),
]
