"""Network: the private VNet, its endpoints and DNS (prod only)."""

from __future__ import annotations

import pytest

from policies.plan import OfflinePlan
from tests.components.conftest import by_id, dig, plan_for


def test_prod_has_no_public_endpoints_and_a_private_endpoint_per_data_service(prod: OfflinePlan) -> None:
    assert dig(prod.one("azure-native:keyvault:Vault").inputs, "properties.publicNetworkAccess") == "Disabled"
    assert (
        dig(prod.one("azure-native:keyvault:Vault").inputs, "properties.networkAcls.defaultAction") == "Deny"
    )
    account = prod.one("azure-native:cognitiveservices:Account")
    assert dig(account.inputs, "properties.publicNetworkAccess") == "Disabled"
    server = prod.one("azure-native:dbforpostgresql:Server")
    assert dig(server.inputs, "network.publicNetworkAccess") == "Disabled"
    apim = prod.one("azure-native:apimanagement:ApiManagementService")
    # Private by injection (Azure refuses publicNetworkAccess Disabled at creation).
    assert apim.inputs["virtualNetworkType"] == "Internal"
    registry = prod.one("azure-native:containerregistry:Registry")
    assert registry.inputs["publicNetworkAccess"] == "Disabled"
    assert registry.inputs["sku"] == {"name": "Premium"}
    assert (
        prod.one("azure-native:redisenterprise:RedisEnterprise").inputs["publicNetworkAccess"] == "Disabled"
    )
    environment = prod.one("azure-native:app:ManagedEnvironment")
    assert dig(environment.inputs, "vnetConfiguration.internal") is True
    assert environment.inputs["zoneRedundant"] is True

    targets = by_id(prod)
    endpoints = {
        (targets[c["privateLinkServiceId"]].type, c["groupIds"][0])
        for pe in prod.of_type("azure-native:network:PrivateEndpoint")
        for c in pe.inputs["privateLinkServiceConnections"]
    }
    assert endpoints == {
        ("azure-native:keyvault:Vault", "vault"),
        ("azure-native:cognitiveservices:Account", "account"),
        ("azure-native:dbforpostgresql:Server", "postgresqlServer"),
        ("azure-native:redisenterprise:RedisEnterprise", "redisEnterprise"),
        ("azure-native:containerregistry:Registry", "registry"),
        ("azure-native:web:StaticSite", "staticSites"),
        ("azure-native:storage:StorageAccount", "blob"),  # voice recordings (consent)
    }
    assert len(prod.of_type("azure-native:network:PrivateDnsZoneGroup")) == len(endpoints)
    # Every zone is linked to the stack's VNet; only the names users need are linked to the hub too.
    zones = {z.name: z for z in prod.of_type("azure-native:privatedns:PrivateZone")}
    linked: dict[str, set[str]] = {}
    for link in prod.of_type("azure-native:privatedns:VirtualNetworkLink"):
        zone = next(z for z in zones.values() if z.outputs["name"] == link.inputs["privateZoneName"])
        linked.setdefault(zone.name, set()).add(link.inputs["virtualNetwork"]["id"])
    assert set(linked) == set(zones)
    hub = "<CUSTOMER_HUB_VNET_ID>"
    to_hub = {zones[name].inputs["privateZoneName"] for name, vnets in linked.items() if hub in vnets}
    environment_domain = environment.outputs["defaultDomain"]
    assert to_hub == {environment_domain, "privatelink.2.azurestaticapps.net"}  # the UI's partition zone


def test_prod_private_names_resolve_inside_the_vnet(prod: OfflinePlan) -> None:
    """The injected gateway and the internal environment publish their names in private zones."""
    records = {
        (r.inputs["privateZoneName"], r.inputs["relativeRecordSetName"]): r.inputs["aRecords"]
        for r in prod.of_type("azure-native:privatedns:PrivateRecordSet")
    }
    apim = prod.one("azure-native:apimanagement:ApiManagementService")
    environment = prod.one("azure-native:app:ManagedEnvironment")
    domain = environment.outputs["defaultDomain"]
    assert records[("azure-api.net", apim.outputs["name"])] == [
        {"ipv4Address": apim.outputs["privateIPAddresses"][0]}
    ]
    assert (
        records[(domain, "*")] == records[(domain, "@")] == [{"ipv4Address": environment.outputs["staticIp"]}]
    )
    subnet = prod.one("azure-native:network:Subnet", "snet-apim")
    assert apim.inputs["virtualNetworkConfiguration"]["subnetResourceId"] == subnet.id
    assert "delegations" not in subnet.inputs  # classic injection refuses a delegated subnet
    nsg = prod.one("azure-native:network:NetworkSecurityGroup")
    assert subnet.inputs["networkSecurityGroup"]["id"] == nsg.id
    inbound = {(r["sourceAddressPrefix"], r.get("destinationPortRange")) for r in nsg.inputs["securityRules"]}
    assert {("ApiManagement", "3443"), ("AzureLoadBalancer", "6390")} <= inbound
    peering = prod.one("azure-native:network:VirtualNetworkPeering")
    assert peering.inputs["remoteVirtualNetwork"]["id"] == "<CUSTOMER_HUB_VNET_ID>"


@pytest.mark.parametrize("stack", ["staging", "dev", "test", "uat"])
def test_only_prod_builds_a_private_network(stack: str) -> None:
    plan = plan_for(stack)
    assert not plan.of_type("azure-native:network:VirtualNetwork")
    assert not plan.of_type("azure-native:network:PrivateEndpoint")
