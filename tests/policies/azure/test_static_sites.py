"""AZ-SWA-*: supported regions and the Standard plan for private endpoints."""

from __future__ import annotations

from policies.rules.azure import static_sites
from policies.rules.azure.private_link import STATIC_SITE
from tests.policies.builders import (
    PRIVATE_ENDPOINT,
    messages,
    private_endpoint,
    resource,
    run_resource,
    run_stack,
    static_site,
)

LOCATION, PE_SKU = static_sites.CATALOGUE


def test_supported_location_passes() -> None:
    assert run_resource(LOCATION, STATIC_SITE, static_site()) == []


def test_unsupported_location_is_violation() -> None:
    props = static_site()
    props["location"] = "northeurope"
    assert messages(run_resource(LOCATION, STATIC_SITE, props)) == [
        "Static Web App location is 'northeurope', where Microsoft.Web/staticSites cannot be "
        "created; set location "
        "to one of centralus, eastasia, eastus2, westeurope, westus2 (content is served globally either way)."
    ]


def _site_and_endpoint(sku: str) -> list:
    props = static_site()
    props["sku"] = {"name": sku, "tier": sku}
    site = resource(STATIC_SITE, props, name="swa")
    pe = resource(
        PRIVATE_ENDPOINT,
        private_endpoint(group="staticSites"),
        name="pe-swa",
        property_dependencies={"privateLinkServiceConnections": (site.urn,)},
    )
    return [site, pe]


def test_private_endpoint_on_standard_passes() -> None:
    assert run_stack(PE_SKU, _site_and_endpoint("Standard")) == []


def test_private_endpoint_on_free_is_violation() -> None:
    assert messages(run_stack(PE_SKU, _site_and_endpoint("Free"))) == [
        "Static Web App 'swa' has a private endpoint but sku.name is 'Free'; private endpoints need "
        "the Standard "
        'plan: set sku = {name: "Standard", tier: "Standard"}.'
    ]
