"""AZ-APIM-*: compliant prod APIM passes; each one-property mutation fails with its message."""

from __future__ import annotations

from policies.rules.azure import apim as rules
from tests.policies.builders import (
    AI_ACCOUNT,
    APIM,
    PRIVATE_ENDPOINT,
    ai_account,
    apim,
    messages,
    private_endpoint,
    resource,
    run_resource,
    run_stack,
)

PUBLIC, TIER, SUBNET, CAPACITY, NAME, PE_INJECTED, REACH_AI = rules.CATALOGUE


def test_compliant_apim_passes_every_resource_rule() -> None:
    for entry in (PUBLIC, TIER, SUBNET, CAPACITY, NAME):
        assert run_resource(entry, APIM, apim()) == []


def test_public_access_disabled_is_refused() -> None:
    props = apim()
    props["publicNetworkAccess"] = "Disabled"
    assert messages(run_resource(PUBLIC, APIM, props)) == [
        'API Management publicNetworkAccess is "Disabled", which Azure refuses when the service is created; '
        'leave it "Enabled" and make the gateway private with virtualNetworkType "Internal", or '
        "disable it in "
        "a later change once a private endpoint is approved."
    ]


def test_vnet_on_standard_tier_is_refused() -> None:
    props = apim()
    props["sku"]["name"] = "Standard"
    assert messages(run_resource(TIER, APIM, props)) == [
        "API Management virtualNetworkType is 'Internal' on sku 'Standard'; Internal/External need "
        "Developer, "
        "Premium or PremiumV2 (StandardV2: External only), so change the sku or set "
        'virtualNetworkType to "None".'
    ]


def test_standard_v2_allows_outbound_integration_only() -> None:
    props = apim()
    props["sku"]["name"] = "StandardV2"
    props["virtualNetworkType"] = "External"
    assert run_resource(TIER, APIM, props) == []


def test_vnet_without_subnet_is_refused() -> None:
    props = apim()
    del props["virtualNetworkConfiguration"]
    assert messages(run_resource(SUBNET, APIM, props)) == [
        "API Management virtualNetworkType is 'Internal' without "
        "virtualNetworkConfiguration.subnetResourceId; "
        "set it to the subnet the gateway joins."
    ]


def test_consumption_with_capacity_is_refused() -> None:
    props = apim()
    props["sku"] = {"name": "Consumption", "capacity": 1.0}
    assert messages(run_resource(CAPACITY, APIM, props)) == [
        "API Management sku 'Consumption' has capacity 1.0; set sku.capacity between 0 and 0."
    ]


def test_invalid_service_name_is_refused() -> None:
    props = apim()
    props["serviceName"] = "1apim_engram"
    assert messages(run_resource(NAME, APIM, props)) == [
        "API Management serviceName '1apim_engram' is not 1-50 letters, digits and hyphens starting with a "
        "letter and ending with a letter or digit; rename it (it becomes 1apim_engram.azure-api.net)."
    ]


def test_private_endpoint_on_injected_apim_is_refused() -> None:
    service = resource(APIM, apim(), name="apim")
    endpoint = resource(
        PRIVATE_ENDPOINT,
        private_endpoint(group="Gateway"),
        name="pe",
        property_dependencies={"privateLinkServiceConnections": (service.urn,)},
    )
    found = messages(run_stack(PE_INJECTED, [service, endpoint]))
    assert found == [
        "Private endpoint 'pe' targets API Management 'apim', which is injected in a virtual network "
        "(Internal); "
        "classic injected instances take no private endpoint, so drop one of the two."
    ]
    assert run_stack(PE_INJECTED, [service]) == []


def test_apim_without_vnet_cannot_reach_a_private_ai_account() -> None:
    account = resource(AI_ACCOUNT, ai_account(), name="ai")
    assert run_stack(REACH_AI, [resource(APIM, apim(), name="apim"), account]) == []
    outside = apim()
    del outside["virtualNetworkType"]
    found = messages(run_stack(REACH_AI, [resource(APIM, outside, name="apim"), account]))
    assert len(found) == 1
    assert found[0].startswith(
        "API Management 'apim' has no virtual network and AI Services account 'ai' has publicNetworkAccess "
        '"Disabled"; APIM is not a trusted service of the account'
    )
