"""AZ-VNET-*: subnet ranges, service delegations, peering address spaces."""

from __future__ import annotations

from policies.rules.azure import vnet
from tests.policies.builders import (
    MANAGED_ENVIRONMENT,
    POSTGRES,
    managed_environment,
    messages,
    postgres,
    resource,
    run_resource,
    run_stack,
    subnet,
    virtual_network,
)

RANGES, DELEGATIONS, PEERING = vnet.CATALOGUE


def test_subnet_ranges() -> None:
    assert run_resource(RANGES, vnet.VIRTUAL_NETWORK, virtual_network()) == []
    props = virtual_network()
    props["subnets"][1]["addressPrefix"] = "10.30.0.0/24"
    assert messages(run_resource(RANGES, vnet.VIRTUAL_NETWORK, props)) == [
        "Subnet 'private-endpoints' prefix 10.30.0.0/24 is outside the VNet address space "
        "10.20.0.0/16; choose a "
        "prefix inside it."
    ]
    props = virtual_network()
    props["subnets"][1]["addressPrefix"] = "10.20.1.0/24"
    assert messages(run_resource(RANGES, vnet.VIRTUAL_NETWORK, props)) == [
        "Subnet 'private-endpoints' prefix 10.20.1.0/24 overlaps subnet 'apps' (10.20.0.0/23); give "
        "each subnet "
        "its own range."
    ]


def _environment_on(delegation: str | None) -> list:
    sn = resource(vnet.SUBNET, subnet(delegation), name="apps")
    env_props = managed_environment()
    env_props["workloadProfiles"] = [{"name": "Consumption", "workloadProfileType": "Consumption"}]
    env = resource(
        MANAGED_ENVIRONMENT, env_props, name="cae", property_dependencies={"vnetConfiguration": (sn.urn,)}
    )
    return [sn, env]


def test_delegated_subnet_passes() -> None:
    assert run_stack(DELEGATIONS, _environment_on("Microsoft.App/environments")) == []


def test_undelegated_subnet_is_violation() -> None:
    assert messages(run_stack(DELEGATIONS, _environment_on(None))) == [
        "Subnet 'apps' hosts 'cae' but is delegated to nothing; add a delegation to "
        "Microsoft.App/environments."
    ]


def test_postgres_subnet_found_by_id_needs_its_delegation() -> None:
    sn = resource(vnet.SUBNET, dict(subnet("Microsoft.App/environments"), subnetName="pg"), name="pg-subnet")
    pg_props = postgres()
    pg_props["network"] = {"delegatedSubnetResourceId": "/subscriptions/x/virtualNetworks/v/subnets/pg"}
    pg = resource(POSTGRES, pg_props, name="pg")
    assert messages(run_stack(DELEGATIONS, [sn, pg])) == [
        "Subnet 'pg-subnet' hosts 'pg' but is delegated to ['microsoft.app/environments']; add a "
        "delegation to "
        "Microsoft.DBforPostgreSQL/flexibleServers."
    ]


def _peered(remote_prefix: str) -> list:
    local = resource(vnet.VIRTUAL_NETWORK, virtual_network(), name="spoke")
    remote_props = virtual_network(remote_prefix)
    remote_props["virtualNetworkName"] = "vnet-hub"
    remote_props["subnets"] = []
    remote = resource(vnet.VIRTUAL_NETWORK, remote_props, name="hub")
    peering = resource(
        vnet.PEERING,
        {
            "virtualNetworkName": "vnet-engram-prod",
            "remoteVirtualNetwork": {"id": "x"},
            "allowVirtualNetworkAccess": True,
        },
        name="spoke-to-hub",
        property_dependencies={"virtualNetworkName": (local.urn,), "remoteVirtualNetwork": (remote.urn,)},
    )
    return [local, remote, peering]


def test_disjoint_peering_passes() -> None:
    assert run_stack(PEERING, _peered("10.0.0.0/16")) == []


def test_overlapping_peering_is_violation() -> None:
    assert messages(run_stack(PEERING, _peered("10.20.128.0/17"))) == [
        "Peering 'spoke-to-hub' joins 'spoke' (10.20.0.0/16) and 'hub' (10.20.128.0/17), whose "
        "spaces overlap; "
        "re-address one network."
    ]
