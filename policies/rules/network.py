"""Network exposure rules: no public endpoints in production, private endpoints, internal hosting,
HTTPS-only ingress, no wildcard CORS outside development, and data residency.

SOP-NET-001..004  public network access disabled on Key Vault, AI Services, PostgreSQL, APIM (prod)
SOP-NET-005       a private endpoint (or VNet injection) for each of those four (prod, stack policy)
SOP-NET-006       Container Apps environment internal to the VNet (prod)
SOP-NET-007       HTTPS-only ingress on container apps (every level)
SOP-NET-008       no "*" CORS origin outside development (test and up)
SOP-NET-009       resource locations within the allowed data-residency list (prod)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, Severity

from .common import (
    AI_ACCOUNT,
    ALL_LEVELS,
    ANY_RESOURCE,
    APIM,
    CONTAINER_APP,
    DATA_SERVICES,
    KEY_VAULT,
    MANAGED_ENVIRONMENT,
    POSTGRES,
    PRIVATE_ENDPOINT,
    PROD,
    RuleContext,
    StackResource,
    depends_on,
    env_value,
    from_level,
    id_points_at,
    is_list,
    is_map,
    items,
    normalise_location,
    of_type,
    peek,
    resolve_level,
    rule_maker,
    sub,
)

DEFAULT_ALLOWED_LOCATIONS: tuple[str, ...] = ("eastus2",)
# Locations ARM uses for non-regional resources (private DNS zones, action groups, Front Door).
NON_REGIONAL_LOCATIONS = frozenset({"global"})


def _public_access_violation(what: str, path: str, value: Any) -> list[str]:
    if isinstance(value, str) and value.lower() == "disabled":
        return []
    shown = "not set (Azure default: Enabled)" if value is None else repr(value)
    return [f'{what} {path} is {shown}; set {path} to "Disabled" and reach it through a private endpoint.']


def check_vault_public_network_access(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    return _public_access_violation(
        "Key Vault", "properties.publicNetworkAccess", sub(props, "properties").get("publicNetworkAccess")
    )


def check_ai_account_public_network_access(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    return _public_access_violation(
        "AI Services account",
        "properties.publicNetworkAccess",
        sub(props, "properties").get("publicNetworkAccess"),
    )


def postgres_vnet_injected(props: Mapping[str, Any]) -> bool:
    """A flexible server with a delegated subnet has no public endpoint at all (the id may be unknown)."""
    return peek(sub(props, "network"), "delegatedSubnetResourceId") not in (None, "")


def check_postgres_public_network_access(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if postgres_vnet_injected(props):
        return []
    return _public_access_violation(
        "PostgreSQL server", "network.publicNetworkAccess", sub(props, "network").get("publicNetworkAccess")
    )


def apim_internal_vnet(props: Mapping[str, Any]) -> bool:
    value = props.get("virtualNetworkType")
    return isinstance(value, str) and value.lower() == "internal"


def check_apim_public_network_access(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    # Azure refuses publicNetworkAccess=Disabled when an APIM instance is first created; the internal
    # VNet mode gives the gateway no public endpoint either, so both count.
    if apim_internal_vnet(props):
        return []
    value = props.get("publicNetworkAccess")
    if isinstance(value, str) and value.lower() == "disabled":
        return []
    shown = "not set (Azure default: Enabled)" if value is None else repr(value)
    return [
        f"API Management publicNetworkAccess is {shown} and virtualNetworkType is "
        f'{props.get("virtualNetworkType")!r}; set virtualNetworkType to "Internal" '
        f'or publicNetworkAccess to "Disabled" with a private endpoint.'
    ]


# ---- SOP-NET-005: private endpoints (stack policy) -------------------------------------------------

#: The services that need a private endpoint in production (type -> label, name input, id segment).
PRIVATE_TARGETS = DATA_SERVICES


def _connections(endpoint: StackResource) -> list[Any]:
    return [
        conn
        for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections")
        for conn in items(endpoint.props, key)
        if is_map(conn)
    ]


def endpoint_targets(endpoint: StackResource, target: StackResource) -> bool:
    """Does this private endpoint connect to `target`?

    At preview the target's id is unknown, so the link is read from the endpoint's property
    dependencies (what the analyzer gets from the engine); a known `privateLinkServiceId` is matched
    on the target's ARM type and name as well.
    """
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        if depends_on(endpoint, key, target):
            return True
    return any(id_points_at(peek(conn, "privateLinkServiceId"), target) for conn in _connections(endpoint))


def check_private_endpoints(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    endpoints = of_type(resources, PRIVATE_ENDPOINT)
    problems: list[tuple[str, str]] = []
    for target in of_type(resources, *PRIVATE_TARGETS):
        if resolve_level(target.props, stack_tags, target.urn) != 5:
            continue
        if target.resource_type == POSTGRES and postgres_vnet_injected(target.props):
            continue
        if target.resource_type == APIM and apim_internal_vnet(target.props):
            continue
        if any(endpoint_targets(pe, target) for pe in endpoints):
            continue
        label = PRIVATE_TARGETS[target.resource_type][0]
        problems.append(
            (
                f"{label} '{target.name}' has no private endpoint; add an "
                f"azure-native:network:PrivateEndpoint whose privateLinkServiceConnections point at it.",
                target.urn,
            )
        )
    return problems


def check_environment_internal(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    vnet = sub(props, "vnetConfiguration")
    internal = vnet.get("internal")
    if internal is True:
        return []
    return [
        f"Container Apps environment vnetConfiguration.internal is {internal!r}; set "
        f"vnetConfiguration.internal to true with an infrastructureSubnetId so the apps have no public IP."
    ]


def check_https_only_ingress(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    ingress = sub(props, "configuration", "ingress")
    if ingress.get("allowInsecure") is True:
        return [
            "Container app ingress allowInsecure is True; set configuration.ingress.allowInsecure "
            "to false so HTTP is redirected to HTTPS."
        ]
    return []


def check_no_wildcard_cors(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems: list[str] = []
    origins = items(props, "configuration", "ingress", "corsPolicy", "allowedOrigins")
    if "*" in [o for o in origins if isinstance(o, str)]:
        problems.append(
            'Container app ingress corsPolicy.allowedOrigins contains "*"; list the UI origins '
            '(e.g. "https://<UI_HOST>") instead.'
        )
    setting = env_value(props, "CORS_ORIGINS")
    if isinstance(setting, str) and "*" in setting:
        problems.append(f'Container app env CORS_ORIGINS is {setting!r}; list the UI origins instead of "*".')
    return problems


def check_allowed_location(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if "location" not in list(props):
        return []
    location = props.get("location")  # unknown at preview -> the analyzer defers the rule to `up`
    if not isinstance(location, str):
        return []
    allowed = ctx.config.get("allowedLocations") or list(DEFAULT_ALLOWED_LOCATIONS)
    allowed_norm = {normalise_location(str(a)) for a in allowed} if is_list(allowed) else set()
    here = normalise_location(location)
    if here in allowed_norm or here in NON_REGIONAL_LOCATIONS:
        return []
    return [
        f"location is {location!r}, outside the allowed data-residency list "
        f"{sorted(allowed_norm)}; deploy to one of those regions."
    ]


# ---- the rules ------------------------------------------------------------------------------------

_PUBLIC_WHY = "Production data may only be reachable from the platform's virtual network."

_rule = rule_maker("SOP-NET", severity=Severity.HIGH, sop_section="6.4", levels=frozenset({5}))

VAULT_PUBLIC_ACCESS = _rule(
    1,
    "engram-keyvault-vault-disallow-public-network-access",
    "Production Key Vaults must disable public network access.",
    _PUBLIC_WHY,
    'Set properties.publicNetworkAccess="Disabled" and add a private endpoint (group id "vault").',
    resource_types=(KEY_VAULT,),
    severity=Severity.CRITICAL,
    psrule="Azure.KeyVault.Firewall",
    checkov="CKV_AZURE_189",
)
AI_PUBLIC_ACCESS = _rule(
    2,
    "engram-cognitiveservices-account-disallow-public-network-access",
    "Production AI Services accounts must disable public network access.",
    _PUBLIC_WHY,
    'Set properties.publicNetworkAccess="Disabled" and add a private endpoint (group id "account").',
    resource_types=(AI_ACCOUNT,),
    severity=Severity.CRITICAL,
    psrule="Azure.Cognitive.PublicAccess",
    checkov="CKV_AZURE_134",
)
POSTGRES_PUBLIC_ACCESS = _rule(
    3,
    "engram-dbforpostgresql-server-disallow-public-network-access",
    "Production PostgreSQL servers must disable public network access.",
    _PUBLIC_WHY,
    'Set network.publicNetworkAccess="Disabled" (or inject the server into a delegated subnet).',
    resource_types=(POSTGRES,),
    severity=Severity.CRITICAL,
)
APIM_PUBLIC_ACCESS = _rule(
    4,
    "engram-apimanagement-service-disallow-public-network-access",
    "Production API Management gateways must not expose a public endpoint.",
    _PUBLIC_WHY + " Internal VNet mode or a private endpoint with public access disabled both qualify.",
    'Set virtualNetworkType="Internal", or publicNetworkAccess="Disabled" with a private endpoint.',
    resource_types=(APIM,),
)
PRIVATE_ENDPOINTS = _rule(
    5,
    "engram-stack-privateendpoint-require-private-link",
    "Production Key Vault, AI Services, PostgreSQL and APIM each need a private endpoint.",
    "With public access off, the private endpoint is the only path from the app; a missing one is an "
    "outage or a hole. VNet-injected PostgreSQL and internal-mode APIM are private by construction.",
    "Add an azure-native:network:PrivateEndpoint per service with the right group id and DNS zone group.",
    resource_types=("stack",),
    psrule="Azure.Cognitive.PrivateEndpoints",
)
ENVIRONMENT_INTERNAL = _rule(
    6,
    "engram-app-managedenvironment-configure-internal",
    "Production Container Apps environments must be internal to the virtual network.",
    "An internal environment has no public IP; the UI reaches the API through the private network.",
    "Set vnetConfiguration.internal=true and vnetConfiguration.infrastructureSubnetId.",
    resource_types=(MANAGED_ENVIRONMENT,),
    psrule="Azure.ContainerApp.PublicAccess",
)
HTTPS_ONLY = _rule(
    7,
    "engram-app-containerapp-disallow-insecure-ingress",
    "Container app ingress must not accept plain HTTP.",
    "Tokens and transcripts cross this ingress; plain HTTP would expose them on the wire.",
    "Set configuration.ingress.allowInsecure=false (the default).",
    resource_types=(CONTAINER_APP,),
    levels=ALL_LEVELS,
    psrule="Azure.ContainerApp.Insecure",
)
NO_WILDCARD_CORS = _rule(
    8,
    "engram-app-containerapp-disallow-wildcard-cors",
    'Container apps outside development must not allow the "*" CORS origin.',
    "A wildcard origin lets any site drive the API with a user's browser session.",
    "List the Static Web App origin(s) in corsPolicy.allowedOrigins and CORS_ORIGINS.",
    resource_types=(CONTAINER_APP,),
    levels=from_level(3),
)
ALLOWED_LOCATION = _rule(
    9,
    "engram-azure-resource-configure-allowed-location",
    "Production resources must be deployed to an allowed data-residency region.",
    "Customer data must stay in the regions the contract names (default East US 2).",
    "Set location to an allowed region, or adjust allowedLocations in the pack config.",
    resource_types=(ANY_RESOURCE,),
    sop_section="7",
    psrule="Azure.Resource.AllowedRegions",
    config_schema=PolicyConfigSchema(
        properties={
            "allowedLocations": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(DEFAULT_ALLOWED_LOCATIONS),
                "description": "ARM region names production resources may use ('global' is always allowed).",
            }
        }
    ),
)

CATALOGUE = [
    VAULT_PUBLIC_ACCESS.resource(check_vault_public_network_access),
    AI_PUBLIC_ACCESS.resource(check_ai_account_public_network_access),
    POSTGRES_PUBLIC_ACCESS.resource(check_postgres_public_network_access),
    APIM_PUBLIC_ACCESS.resource(check_apim_public_network_access),
    PRIVATE_ENDPOINTS.stack(check_private_endpoints),
    ENVIRONMENT_INTERNAL.resource(check_environment_internal),
    HTTPS_ONLY.resource(check_https_only_ingress),
    NO_WILDCARD_CORS.resource(check_no_wildcard_cors),
    ALLOWED_LOCATION.resource(check_allowed_location),
]
