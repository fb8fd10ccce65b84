"""Static Web Apps: where one can be created and what a private endpoint needs.

AZ-SWA-001  location is one of the regions that offer Microsoft.Web/staticSites
AZ-SWA-002  a private endpoint to a Static Web App needs the Standard plan (stack)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..common import (
    PRIVATE_ENDPOINT,
    PROD,
    RuleContext,
    StackResource,
    depends_on,
    normalise_location,
    of_type,
    peek,
    sub,
)
from ._factory import rule_maker
from .private_link import STATIC_SITE, group_ids

#: ARM's answer for Microsoft.Web/staticSites (LocationNotAvailableForResourceType).
SWA_REGIONS: tuple[str, ...] = ("centralus", "eastasia", "eastus2", "westeurope", "westus2")


def check_location(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    location = peek(props, "location")
    if not isinstance(location, str) or normalise_location(location) in SWA_REGIONS:
        return []
    return [
        f"Static Web App location is {location!r}, where Microsoft.Web/staticSites cannot be created; set "
        f"location to one of {', '.join(SWA_REGIONS)} (content is served globally either way)."
    ]


def _to_site(endpoint: StackResource, site: StackResource) -> bool:
    if depends_on(endpoint, "privateLinkServiceConnections", site):
        return True
    name = peek(site.props, "name")
    if not isinstance(name, str):
        return False
    for conn in endpoint.props.get("privateLinkServiceConnections") or []:
        service_id = peek(conn, "privateLinkServiceId") if isinstance(conn, Mapping) else None
        if isinstance(service_id, str) and service_id.lower().rstrip("/").endswith(
            "/staticsites/" + name.lower()
        ):
            return True
    return False


def check_private_endpoint_sku(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    endpoints = [pe for pe in of_type(resources, PRIVATE_ENDPOINT) if "staticSites" in group_ids(pe)]
    problems: list[tuple[str, str]] = []
    for site in of_type(resources, STATIC_SITE):
        tier = peek(sub(site.props, "sku"), "name")
        if isinstance(tier, str) and tier.lower() in ("standard", "dedicated"):
            continue
        if not any(_to_site(pe, site) for pe in endpoints):
            continue
        problems.append(
            (
                f"Static Web App '{site.name}' has a private endpoint but sku.name is {tier!r}; private "
                f'endpoints need the Standard plan: set sku = {{name: "Standard", tier: "Standard"}}.',
                site.urn,
            )
        )
    return problems


_rule = rule_maker("SWA", prefix="engram-web-staticsite-")

LOCATION = _rule(
    1,
    "configure-supported-location",
    "A Static Web App must be created in a region that offers Static Web Apps.",
    "Microsoft.Web/staticSites is offered in Central US, East Asia, East US 2, West Europe and West US 2 "
    "only; ARM answers LocationNotAvailableForResourceType elsewhere. The region holds the managed "
    "functions and staging environments; production content is served globally.",
    "Set location to centralus, eastasia, eastus2, westeurope or westus2.",
    "https://github.com/Azure/static-web-apps/issues/443",
    resource_types=(STATIC_SITE,),
)
PRIVATE_ENDPOINT_SKU = _rule(
    2,
    "require-standard-for-private-endpoint",
    "A Static Web App with a private endpoint must be on the Standard plan.",
    "Private endpoints are a Standard-plan feature; on the Free plan the endpoint cannot be created. "
    "With an endpoint the app answers 403 to public addresses and its default host name must resolve "
    "through privatelink.<partitionId>.azurestaticapps.net.",
    'Set sku = {name: "Standard", tier: "Standard"} on the azure-native:web:StaticSite.',
    "https://learn.microsoft.com/azure/static-web-apps/private-endpoint",
    resource_types=("stack",),
)

CATALOGUE = [
    LOCATION.resource(check_location),
    PRIVATE_ENDPOINT_SKU.stack(check_private_endpoint_sku),
]
