"""API Management: what Azure refuses at creation, what a tier cannot do, and what APIM cannot reach.

AZ-APIM-001  publicNetworkAccess "Disabled" is refused when the service is created
AZ-APIM-002  virtualNetworkType only on the tiers that support it (and the modes each supports)
AZ-APIM-003  a virtual network mode needs virtualNetworkConfiguration.subnetResourceId
AZ-APIM-004  sku.capacity within the tier's bounds (Consumption takes 0)
AZ-APIM-005  service name: 1-50 letters, digits and hyphens, starting with a letter (<name>.azure-api.net)
AZ-APIM-006  no private endpoint on a VNet-injected classic instance (stack)
AZ-APIM-007  APIM outside a virtual network cannot reach a locked-down AI Services account (stack)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from ..common import (
    AI_ACCOUNT,
    APIM,
    PRIVATE_ENDPOINT,
    PROD,
    RuleContext,
    StackResource,
    of_type,
    peek,
    sub,
)
from ..network import endpoint_targets
from ._factory import rule_maker

#: virtualNetworkType values each tier accepts (classic injection; v2 injection / outbound integration).
VNET_MODES: dict[str, frozenset[str]] = {
    "developer": frozenset({"internal", "external"}),
    "premium": frozenset({"internal", "external"}),
    "premiumv2": frozenset({"internal", "external"}),  # injection (Internal) or integration (External)
    "standardv2": frozenset({"external"}),  # outbound virtual network integration only
}
CLASSIC_INJECTION_TIERS = frozenset({"developer", "premium"})
#: sku.capacity bounds per tier (Consumption is serverless: capacity 0).
CAPACITY: dict[str, tuple[int, int]] = {
    "consumption": (0, 0),
    "developer": (1, 1),
    "basic": (1, 2),
    "standard": (1, 4),
    "premium": (1, 31),
    "basicv2": (1, 10),
    "standardv2": (1, 10),
    "premiumv2": (1, 30),
}
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,48}[A-Za-z0-9]$|^[A-Za-z]$")


def _tier(props: Mapping[str, Any]) -> str | None:
    name = peek(sub(props, "sku"), "name")
    return name.lower() if isinstance(name, str) else None


def _vnet_type(props: Mapping[str, Any]) -> str:
    value = peek(props, "virtualNetworkType")
    return value.lower() if isinstance(value, str) else "none"


def check_public_access_at_creation(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = props.get("publicNetworkAccess")
    if isinstance(value, str) and value.lower() == "disabled":
        return [
            'API Management publicNetworkAccess is "Disabled", which Azure refuses when the service is '
            'created; leave it "Enabled" and make the gateway private with virtualNetworkType "Internal", '
            "or disable it in a later change once a private endpoint is approved."
        ]
    return []


def check_vnet_tier(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    mode = _vnet_type(props)
    if mode == "none":
        return []
    tier = sub(props, "sku").get("name")
    allowed = VNET_MODES.get(tier.lower(), frozenset()) if isinstance(tier, str) else frozenset()
    if mode in allowed:
        return []
    return [
        f"API Management virtualNetworkType is {props.get('virtualNetworkType')!r} on sku {tier!r}; "
        f"Internal/External need Developer, Premium or PremiumV2 (StandardV2: External only), "
        f'so change the sku or set virtualNetworkType to "None".'
    ]


def check_vnet_subnet(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if _vnet_type(props) == "none":
        return []
    subnet = peek(sub(props, "virtualNetworkConfiguration"), "subnetResourceId")
    if subnet not in (None, ""):
        return []
    return [
        f"API Management virtualNetworkType is {props.get('virtualNetworkType')!r} without "
        f"virtualNetworkConfiguration.subnetResourceId; set it to the subnet the gateway joins."
    ]


def check_capacity(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    sku = sub(props, "sku")
    tier = sku.get("name")
    if not isinstance(tier, str) or tier.lower() not in CAPACITY:
        return []
    low, high = CAPACITY[tier.lower()]
    capacity = sku.get("capacity")
    if isinstance(capacity, int | float) and low <= capacity <= high:
        return []
    return [
        f"API Management sku {tier!r} has capacity {capacity!r}; set sku.capacity between {low} and {high}."
    ]


def check_service_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "serviceName")
    if not isinstance(name, str) or NAME.match(name):
        return []
    return [
        f"API Management serviceName {name!r} is not 1-50 letters, digits and hyphens starting with a "
        f"letter and ending with a letter or digit; rename it (it becomes {name}.azure-api.net)."
    ]


def check_private_endpoint_on_injected(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    endpoints = of_type(resources, PRIVATE_ENDPOINT)
    problems: list[tuple[str, str]] = []
    for service in resources:
        if service.resource_type != APIM or _tier(service.props) not in CLASSIC_INJECTION_TIERS:
            continue
        if _vnet_type(service.props) == "none":
            continue
        for endpoint in endpoints:
            if endpoint_targets(endpoint, service):
                problems.append(
                    (
                        f"Private endpoint '{endpoint.name}' targets API Management '{service.name}', "
                        "which is "
                        f"injected in a virtual network ({service.props.get('virtualNetworkType')}); classic "
                        f"injected instances take no private endpoint, so drop one of the two.",
                        endpoint.urn,
                    )
                )
    return problems


def _account_locked(props: Mapping[str, Any]) -> str | None:
    properties = sub(props, "properties")
    access = peek(properties, "publicNetworkAccess")
    if isinstance(access, str) and access.lower() == "disabled":
        return 'publicNetworkAccess "Disabled"'
    action = peek(sub(properties, "networkAcls"), "defaultAction")
    if isinstance(action, str) and action.lower() == "deny":
        return 'networkAcls.defaultAction "Deny"'
    return None


def check_apim_reaches_ai_account(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    gateways = [r for r in resources if r.resource_type == APIM and _vnet_type(r.props) == "none"]
    problems: list[tuple[str, str]] = []
    for account in of_type(resources, AI_ACCOUNT):
        why = _account_locked(account.props)
        if why is None:
            continue
        for gateway in gateways:
            problems.append(
                (
                    f"API Management '{gateway.name}' has no virtual network and AI Services account "
                    f"'{account.name}' has {why}; APIM is not a trusted service of the account, so put the "
                    'gateway in the network (virtualNetworkType "Internal"/"External" or '
                    "StandardV2/PremiumV2 "
                    f"integration) with a route to the account's private endpoint.",
                    gateway.urn,
                )
            )
    return problems


_rule = rule_maker("APIM", prefix="engram-apimanagement-", types=(APIM,))


PUBLIC_ACCESS_AT_CREATION = _rule(
    1,
    "service-disallow-disabled-public-access-at-creation",
    'API Management must not set publicNetworkAccess to "Disabled" in the program.',
    "Azure rejects publicNetworkAccess=Disabled on a service that does not exist yet (public access can only "
    "be turned off after a private endpoint is approved). A policy sees the plan, not whether this `up` "
    "creates or updates the service, so any Disabled value would fail the first deployment from an empty "
    "subscription: the program keeps it Enabled (or unset) and makes the gateway private with the internal "
    "VNet mode, which SOP-NET-004 accepts. Disabling public access behind a private endpoint is a later, "
    "separate change this pack will flag until the rule learns to tell the two apart.",
    'Leave publicNetworkAccess unset or "Enabled"; use virtualNetworkType "Internal" for a private gateway.',
    "https://github.com/Azure/azure-rest-api-specs/issues/24947",
    severity=Severity.CRITICAL,
)
VNET_TIER = _rule(
    2,
    "service-configure-vnet-supported-tier",
    "API Management virtual network modes need a tier that supports them.",
    "Classic injection (Internal/External) exists only on Developer and Premium; PremiumV2 injects "
    "(Internal) "
    "or integrates outbound (External); StandardV2 only integrates outbound; other tiers refuse the setting.",
    "Use Developer/Premium (or PremiumV2) for injection, StandardV2/PremiumV2 for outbound integration.",
    "https://learn.microsoft.com/azure/api-management/virtual-network-concepts",
)
VNET_SUBNET = _rule(
    3,
    "service-require-vnet-subnet",
    "API Management in a virtual network mode must name its subnet.",
    "Injection and integration deploy the gateway into a subnet; without subnetResourceId the request fails.",
    "Set virtualNetworkConfiguration.subnetResourceId to the gateway's dedicated subnet.",
    "https://learn.microsoft.com/azure/api-management/api-management-using-with-internal-vnet",
)
CAPACITY_RULE = _rule(
    4,
    "service-configure-tier-capacity",
    "API Management capacity must fit the tier (Consumption takes 0).",
    "Consumption is serverless and only accepts capacity 0; Developer has one unit; every other tier has a "
    "per-tier unit maximum (Basic 2, Standard 4, Premium 31 per region, v2 tiers 10/30).",
    "Set sku.capacity within the tier's bounds.",
    ""
    "https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#api-management-limits",
)
SERVICE_NAME = _rule(
    5,
    "service-configure-valid-name",
    "API Management service names must meet the Azure naming rules.",
    "The name becomes <name>.azure-api.net: 1-50 characters, letters, digits and hyphens, starting with a "
    "letter and ending with a letter or digit, globally unique.",
    "Rename the service (for example apim-engram-<env>-<suffix>).",
    ""
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftapimanagement",
    psrule="Azure.APIM.Name",
    severity=Severity.MEDIUM,
)
PE_ON_INJECTED = _rule(
    6,
    "stack-disallow-private-endpoint-on-vnet-injected",
    "Classic API Management instances injected in a virtual network take no private endpoint.",
    "Azure refuses a private endpoint connection on a Developer/Premium instance in Internal or External "
    "mode: the two isolation models are exclusive.",
    "Keep the internal VNet mode and drop the private endpoint, or leave the VNet and keep the endpoint.",
    "https://learn.microsoft.com/azure/api-management/private-endpoint#limitations",
    resource_types=("stack",),
)
REACH_AI = _rule(
    7,
    "stack-require-vnet-for-private-ai-backend",
    "API Management outside a virtual network cannot reach an AI Services account that refuses "
    "public traffic.",
    "APIM is not among the trusted Azure services a Cognitive Services account lets through its firewall, so "
    "a gateway without VNet injection or integration gets 403 from an account with public access disabled "
    "or a Deny default action. The check pairs every such gateway with every such account in the stack.",
    "Inject or integrate the gateway into the virtual network that reaches the account's private endpoint.",
    ""
    "https://learn.microsoft.com/azure/ai-services/cognitive-services-virtual-networks#grant-access-to-trusted-azure-services",
    resource_types=("stack",),
)

CATALOGUE = [
    PUBLIC_ACCESS_AT_CREATION.resource(check_public_access_at_creation),
    VNET_TIER.resource(check_vnet_tier),
    VNET_SUBNET.resource(check_vnet_subnet),
    CAPACITY_RULE.resource(check_capacity),
    SERVICE_NAME.resource(check_service_name),
    PE_ON_INJECTED.stack(check_private_endpoint_on_injected),
    REACH_AI.stack(check_apim_reaches_ai_account),
]
