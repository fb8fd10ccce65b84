"""Container Registry: name rules and the features only some tiers have.

AZ-ACR-001  registry name: 5-50 alphanumerics (globally unique <name>.azurecr.io)
AZ-ACR-002  public access off, network rules and dedicated data endpoints need Premium
AZ-ACR-003  anonymous pull needs Standard or Premium
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from ..common import PROD, REGISTRY, RuleContext, items, peek, sub, truthy
from ._factory import rule_maker

NAME = re.compile(r"^[A-Za-z0-9]{5,50}$")


def _sku(props: Mapping[str, Any]) -> str | None:
    name = sub(props, "sku").get("name")
    return name if isinstance(name, str) else None


def check_registry_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "registryName")
    if not isinstance(name, str) or NAME.match(name):
        return []
    return [
        f"Container registry registryName {name!r} is not 5-50 letters and digits; rename it (no hyphens: it "
        f"becomes <name>.azurecr.io)."
    ]


def premium_features(props: Mapping[str, Any]) -> list[str]:
    """The Premium-only settings this registry uses, as `path=value` strings."""
    used: list[str] = []
    access = props.get("publicNetworkAccess")
    if isinstance(access, str) and access.lower() == "disabled":
        used.append('publicNetworkAccess="Disabled"')
    rules = sub(props, "networkRuleSet")
    action = rules.get("defaultAction")
    if isinstance(action, str) and action.lower() == "deny":
        used.append('networkRuleSet.defaultAction="Deny"')
    if items(props, "networkRuleSet", "ipRules"):
        used.append("networkRuleSet.ipRules")
    if truthy(props.get("dataEndpointEnabled")):
        used.append("dataEndpointEnabled=true")
    return used


def check_premium_features(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    used = premium_features(props)
    sku = _sku(props)
    if not used or (sku is not None and sku.lower() == "premium"):
        return []
    return [
        f'Container registry sku is {sku!r} but uses {", ".join(used)}; set sku.name to "Premium" or '
        "drop them."
    ]


def check_anonymous_pull(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if not truthy(props.get("anonymousPullEnabled")):
        return []
    sku = _sku(props)
    if sku is not None and sku.lower() in ("standard", "premium"):
        return []
    return [
        f'Container registry sku is {sku!r} with anonymousPullEnabled=true; use sku "Standard" or "Premium", '
        f"or turn anonymous pull off."
    ]


_rule = rule_maker("ACR", prefix="engram-containerregistry-registry-", types=(REGISTRY,))


REGISTRY_NAME = _rule(
    1,
    "configure-valid-name",
    "Container registry names must be 5-50 letters and digits.",
    "The name is the DNS label of <name>.azurecr.io: alphanumerics only, 5-50 characters, globally unique.",
    "Rename the registry without hyphens (for example acrengramprod).",
    ""
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftcontainerregistry",
    psrule="Azure.ACR.Name",
    severity=Severity.MEDIUM,
)
PREMIUM_FEATURES = _rule(
    2,
    "require-premium-for-network-features",
    "Container registries that restrict network access or use dedicated data endpoints must be Premium.",
    "Private endpoints, public network access off, IP network rules and dedicated data endpoints exist only "
    "in the Premium tier; Basic and Standard registries reject those settings. (Zone redundancy is no longer "
    "a Premium feature: Azure enables it on every tier in zonal regions.)",
    'Set sku.name="Premium", or remove the network restrictions.',
    "https://learn.microsoft.com/azure/container-registry/container-registry-skus",
)
ANONYMOUS_PULL = _rule(
    3,
    "require-standard-for-anonymous-pull",
    "Container registries with anonymous pull must be Standard or Premium.",
    "Anonymous (unauthenticated) pull access is a Standard and Premium feature; Basic rejects it.",
    'Use sku "Standard" or "Premium", or set anonymousPullEnabled=false.',
    "https://learn.microsoft.com/azure/container-registry/anonymous-pull-access",
)

CATALOGUE = [
    REGISTRY_NAME.resource(check_registry_name),
    PREMIUM_FEATURES.resource(check_premium_features),
    ANONYMOUS_PULL.resource(check_anonymous_pull),
]
