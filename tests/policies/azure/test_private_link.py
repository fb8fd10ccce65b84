"""AZ-PE-*: zone names per group id, VNet links, global zones, group ids per target."""

from __future__ import annotations

from policies.rules.azure import private_link
from tests.policies.builders import (
    KEY_VAULT,
    PRIVATE_ENDPOINT,
    messages,
    private_endpoint,
    private_zone,
    resource,
    run_resource,
    run_stack,
    vault,
    vnet_link,
    zone_group,
)

ZONES, LINKED, GLOBAL, GROUP_ID = private_link.CATALOGUE
ZONE, GROUP, LINK = private_link.PRIVATE_ZONE, private_link.ZONE_GROUP, private_link.VNET_LINK


def _plan(zone_name: str, group: str = "vault", link: bool = True) -> list:
    pe_props = private_endpoint(group=group)
    pe_props["privateEndpointName"] = "pe-kv"
    pe = resource(PRIVATE_ENDPOINT, pe_props, name="pe-kv")
    zone = resource(ZONE, private_zone(zone_name), name="zone")
    zg = resource(
        GROUP,
        zone_group(),
        name="zg",
        property_dependencies={"privateEndpointName": (pe.urn,), "privateDnsZoneConfigs": (zone.urn,)},
    )
    plan = [pe, zone, zg]
    if link:
        plan.append(
            resource(
                LINK,
                vnet_link(zone_name),
                name="link",
                property_dependencies={"privateZoneName": (zone.urn,)},
            )
        )
    return plan


def test_documented_zone_passes() -> None:
    assert run_stack(ZONES, _plan("privatelink.vaultcore.azure.net")) == []
    assert run_stack(ZONES, _plan("privatelink.openai.azure.com", group="account")) == []
    assert run_stack(ZONES, _plan("privatelink.3.azurestaticapps.net", group="staticSites")) == []


def test_wrong_zone_for_group_id_is_violation() -> None:
    assert messages(run_stack(ZONES, _plan("privatelink.vault.azure.net"))) == [
        "Private DNS zone group 'zg' of endpoint 'pe-kv' (group id 'vault') uses zone(s) "
        "privatelink.vault.azure.net; "
        "use privatelink.vaultcore.azure.net."
    ]


def test_unpartitioned_static_sites_zone_is_violation() -> None:
    found = messages(run_stack(ZONES, _plan("privatelink.azurestaticapps.net", group="staticSites")))
    assert found == [
        "Private DNS zone group 'zg' of endpoint 'pe-kv' (group id 'staticSites') uses zone(s) "
        "privatelink.azurestaticapps.net; use privatelink.<partitionId>.azurestaticapps.net (the "
        "partition of the "
        "app's default host name)."
    ]


def test_zone_named_by_id_is_matched() -> None:
    pe_props = private_endpoint(group="registry")
    pe_props["privateEndpointName"] = "pe-kv"
    pe = resource(PRIVATE_ENDPOINT, pe_props, name="pe-kv")
    zg = resource(
        GROUP, zone_group("/subscriptions/x/privateDnsZones/privatelink.vaultcore.azure.net"), name="zg"
    )
    assert "use privatelink.azurecr.io." in messages(run_stack(ZONES, [pe, zg]))[0]


def test_linked_zone_passes() -> None:
    assert run_stack(LINKED, _plan("privatelink.vaultcore.azure.net")) == []


def test_unlinked_zone_is_violation() -> None:
    assert messages(run_stack(LINKED, _plan("privatelink.vaultcore.azure.net", link=False))) == [
        "Private DNS zone 'zone' (privatelink.vaultcore.azure.net) is used by a DNS zone group but has no "
        f"{LINK}; link it to the VNet whose clients resolve the endpoint."
    ]


def test_zone_location() -> None:
    assert run_resource(GLOBAL, ZONE, private_zone()) == []
    props = private_zone()
    props["location"] = "eastus2"
    assert messages(run_resource(GLOBAL, ZONE, props)) == [
        "Private DNS zone location is 'eastus2'; set location to \"global\"."
    ]


def _endpoint_to_vault(group: str) -> list:
    kv = resource(KEY_VAULT, vault(), name="kv")
    pe = resource(
        PRIVATE_ENDPOINT,
        private_endpoint(group=group),
        name="pe",
        property_dependencies={"privateLinkServiceConnections": (kv.urn,)},
    )
    return [kv, pe]


def test_valid_group_id_passes() -> None:
    assert run_stack(GROUP_ID, _endpoint_to_vault("vault")) == []


def test_invalid_group_id_is_violation() -> None:
    assert messages(run_stack(GROUP_ID, _endpoint_to_vault("account"))) == [
        "Private endpoint 'pe' to Key Vault 'kv' has group id(s) 'account'; a Key Vault offers only 'vault'."
    ]
