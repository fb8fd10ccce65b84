"""Private endpoints and private DNS: the zone names Azure documents per group id, the VNet links a
zone needs to answer, and the group ids each target accepts.

AZ-PE-001  a DNS zone group's zones are the ones documented for the endpoint's group id (stack)
AZ-PE-002  a private DNS zone used by a zone group is linked to at least one VNet (stack)
AZ-PE-003  private DNS zones are located in "global"
AZ-PE-004  an endpoint's group id is one its target resource offers (stack)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

try:  # in the repository (`engram check`, tests)
    from policies import paths as paths_model
except ImportError:  # the standalone pack runs with policies/ itself on sys.path
    import paths as paths_model  # type: ignore[no-redef]

from ..common import (
    AI_ACCOUNT,
    APIM,
    KEY_VAULT,
    POSTGRES,
    PRIVATE_ENDPOINT,
    PROD,
    REGISTRY,
    RuleContext,
    StackResource,
    depends_on,
    is_list,
    is_map,
    items,
    of_type,
    peek,
)
from ._factory import rule_maker
from ._plan import last_segment

ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
VNET_LINK = "azure-native:privatedns:VirtualNetworkLink"
STATIC_SITE = "azure-native:web:StaticSite"
DNS_ZONES_DOC = "https://learn.microsoft.com/azure/private-link/private-endpoint-dns"

#: Static Web Apps: the zone carries the partition of the app's default host name
#: (<app>.<partitionId>.azurestaticapps.net).
STATIC_SITES_ZONE = re.compile(r"^privatelink\.\d+\.azurestaticapps\.net$")

#: Group id (lower case) -> the private DNS zone names Azure documents for it (the pack's one table).
ZONES_BY_GROUP: dict[str, frozenset[str]] = {
    group.lower(): frozenset(zones) for group, zones in paths_model.PRIVATE_DNS_ZONES.items()
}

#: Target type -> (label, the group ids its private link resource offers, lower case).
GROUPS_BY_TARGET: dict[str, tuple[str, frozenset[str]]] = {
    KEY_VAULT: ("Key Vault", frozenset({"vault"})),
    AI_ACCOUNT: ("AI Services account", frozenset({"account"})),
    POSTGRES: ("PostgreSQL flexible server", frozenset({"postgresqlserver"})),
    paths_model.REDIS: ("Azure Managed Redis cluster", frozenset({"redisenterprise"})),
    APIM: ("API Management service", frozenset({"gateway"})),
    REGISTRY: ("container registry", frozenset({"registry"})),
    STATIC_SITE: ("Static Web App", frozenset({"staticsites"})),
}


def zone_fits(group: str, zone: str) -> bool:
    group, zone = group.lower(), zone.lower()
    if group == "staticsites" and STATIC_SITES_ZONE.match(zone):
        return True
    expected = ZONES_BY_GROUP.get(group)
    return expected is None or zone in expected


def wrong_zones(group: str, names: Sequence[str]) -> list[str]:
    """The zones that do not fit the group id; for staticSites, also a missing partitioned zone."""
    wrong = [n for n in names if not zone_fits(group, n)]
    if group.lower() == "staticsites" and names and not any(STATIC_SITES_ZONE.match(n) for n in names):
        wrong += [n for n in names if n not in wrong]
    return wrong


def group_ids(endpoint: StackResource) -> list[str]:
    found: list[str] = []
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        if key not in list(endpoint.props):
            continue
        for conn in items(endpoint.props, key):
            if not is_map(conn):
                continue
            ids = peek(conn, "groupIds")
            if is_list(ids):
                found += [g for g in ids if isinstance(g, str)]
    return found


def zone_name(zone: StackResource) -> str | None:
    name = peek(zone.props, "privateZoneName")
    return name.lower() if isinstance(name, str) else None


def _endpoint_of(group: StackResource, endpoints: Sequence[StackResource]) -> StackResource | None:
    for pe in endpoints:
        if depends_on(group, "privateEndpointName", pe):
            return pe
    wanted = peek(group.props, "privateEndpointName")
    for pe in endpoints:
        if isinstance(wanted, str) and peek(pe.props, "privateEndpointName") == wanted:
            return pe
    return None


def zones_of(
    group: StackResource, zones: Sequence[StackResource]
) -> list[tuple[str | None, StackResource | None]]:
    """(zone name, zone resource) for each config of a DNS zone group; the name is None if unknown."""
    deps = [z for z in zones if depends_on(group, "privateDnsZoneConfigs", z)]
    found: list[tuple[str | None, StackResource | None]] = [(zone_name(z), z) for z in deps]
    if "privateDnsZoneConfigs" not in list(group.props):
        return found
    for config in items(group.props, "privateDnsZoneConfigs"):
        if not is_map(config):
            continue
        name = last_segment(peek(config, "privateDnsZoneId"))
        if name is None or any(n == name for n, _ in found):
            continue
        match = next((z for z in zones if zone_name(z) == name), None)
        found.append((name, match))
    return found


def check_zone_group_zones(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    endpoints, zones = of_type(resources, PRIVATE_ENDPOINT), of_type(resources, PRIVATE_ZONE)
    problems: list[tuple[str, str]] = []
    for group in of_type(resources, ZONE_GROUP):
        endpoint = _endpoint_of(group, endpoints)
        if endpoint is None:
            continue
        names = [n for n, _ in zones_of(group, zones) if n is not None]
        for gid in group_ids(endpoint):
            wrong = wrong_zones(gid, names)
            if not wrong:
                continue
            expected = (
                "privatelink.<partitionId>.azurestaticapps.net (the partition of the app's default host name)"
                if gid.lower() == "staticsites"
                else " or ".join(sorted(ZONES_BY_GROUP[gid.lower()]))
            )
            problems.append(
                (
                    f"Private DNS zone group '{group.name}' of endpoint '{endpoint.name}' (group id {gid!r}) "
                    f"uses zone(s) {', '.join(wrong)}; use {expected}.",
                    group.urn,
                )
            )
    return problems


def check_zone_linked(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    zones, links = of_type(resources, PRIVATE_ZONE), of_type(resources, VNET_LINK)
    used: list[StackResource] = []
    for group in of_type(resources, ZONE_GROUP):
        used += [z for _, z in zones_of(group, zones) if z is not None and z not in used]
    problems: list[tuple[str, str]] = []
    for zone in used:
        name = zone_name(zone)
        if any(
            depends_on(link, "privateZoneName", zone)
            or (name is not None and str(peek(link.props, "privateZoneName") or "").lower() == name)
            for link in links
        ):
            continue
        problems.append(
            (
                f"Private DNS zone '{zone.name}' ({name or 'name unknown'}) is used by a DNS zone group but "
                f"has no {VNET_LINK}; link it to the VNet whose clients resolve the endpoint.",
                zone.urn,
            )
        )
    return problems


def check_zone_location(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    location = peek(props, "location")
    if not isinstance(location, str) or location.lower() == "global":
        return []
    return [f'Private DNS zone location is {location!r}; set location to "global".']


def _target_groups(endpoint: StackResource, target: StackResource) -> bool:
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        if depends_on(endpoint, key, target):
            return True
    return False


def check_group_id_valid(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    endpoints = of_type(resources, PRIVATE_ENDPOINT)
    problems: list[tuple[str, str]] = []
    for target in of_type(resources, *GROUPS_BY_TARGET):
        label, allowed = GROUPS_BY_TARGET[target.resource_type]
        for pe in endpoints:
            if not _target_groups(pe, target):
                continue
            wrong = [g for g in group_ids(pe) if g.lower() not in allowed]
            if wrong:
                problems.append(
                    (
                        f"Private endpoint '{pe.name}' to {label} '{target.name}' has group id(s) "
                        f"{', '.join(repr(g) for g in wrong)}; a {label} offers only {sorted(allowed)[0]!r}.",
                        pe.urn,
                    )
                )
    return problems


_rule = rule_maker("PE", types=("stack",))


ZONE_GROUP_ZONES = _rule(
    1,
    "engram-network-privatednszonegroup-configure-documented-zone",
    "A private DNS zone group must use the zone Azure documents for its endpoint's group id.",
    "Clients resolve the service's public name through a CNAME into the privatelink zone; a zone with any "
    "other name never matches, so the name keeps resolving to the public address and, with public access "
    "off, the connection fails. Static Web Apps names carry a partition (<app>.3.azurestaticapps.net), so "
    "their zone is privatelink.3.azurestaticapps.net, not privatelink.azurestaticapps.net.",
    "Reference the zone for the group id: vault -> privatelink.vaultcore.azure.net, account -> "
    "privatelink.cognitiveservices.azure.com (+ openai, services.ai), postgresqlServer -> "
    "privatelink.postgres.database.azure.com, Gateway -> privatelink.azure-api.net, registry -> "
    "privatelink.azurecr.io, staticSites -> privatelink.<partitionId>.azurestaticapps.net.",
    DNS_ZONES_DOC,
)
ZONE_LINKED = _rule(
    2,
    "engram-privatedns-privatezone-require-vnet-link",
    "A private DNS zone used by a DNS zone group must be linked to a virtual network.",
    "Azure DNS answers from a private zone only for virtual networks linked to it; an unlinked zone holds "
    "the endpoint's A record but nobody resolves it.",
    "Add an azure-native:privatedns:VirtualNetworkLink from the zone to the clients' VNet.",
    "https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links",
)
ZONE_GLOBAL = _rule(
    3,
    "engram-privatedns-privatezone-configure-global-location",
    "A private DNS zone must be located in global.",
    "Private DNS zones are global resources; ARM refuses any regional location.",
    'Set location="global" on azure-native:privatedns:PrivateZone.',
    "https://learn.microsoft.com/azure/templates/microsoft.network/privatednszones",
    severity=Severity.MEDIUM,
    resource_types=(PRIVATE_ZONE,),
)
GROUP_ID_VALID = _rule(
    4,
    "engram-network-privateendpoint-configure-valid-group-id",
    "A private endpoint's group id must be one its target resource offers.",
    "Each private link resource exposes fixed sub-resources (vault, account, postgresqlServer, Gateway, "
    "registry, staticSites); ARM refuses a connection naming any other.",
    "Set groupIds to the target's sub-resource.",
    "https://learn.microsoft.com/azure/private-link/private-endpoint-overview#private-link-resource",
)

CATALOGUE = [
    ZONE_GROUP_ZONES.stack(check_zone_group_zones),
    ZONE_LINKED.stack(check_zone_linked),
    ZONE_GLOBAL.resource(check_zone_location),
    GROUP_ID_VALID.stack(check_group_id_valid),
]
