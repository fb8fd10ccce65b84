"""Virtual network basics: subnets inside their address space, delegations the services need, peerings
between non-overlapping address spaces.

AZ-VNET-001  a VNet's subnets lie inside its address space and do not overlap each other
AZ-VNET-002  subnets used by a workload-profiles Container Apps environment or a VNet-injected PostgreSQL
             server are delegated to that service (stack)
AZ-VNET-003  peered virtual networks have non-overlapping address spaces (stack)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..common import (
    MANAGED_ENVIRONMENT,
    POSTGRES,
    PROD,
    RuleContext,
    StackResource,
    is_list,
    is_map,
    of_type,
    peek,
    sub,
)
from ._factory import rule_maker
from ._plan import address_prefixes, delegations, linked, subnet_prefixes

VIRTUAL_NETWORK = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
PEERING = "azure-native:network:VirtualNetworkPeering"
APPS_DELEGATION = "microsoft.app/environments"
POSTGRES_DELEGATION = "microsoft.dbforpostgresql/flexibleservers"


def check_subnets_in_space(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    space = address_prefixes(props)
    subnets = peek(props, "subnets")
    if not space or not is_list(subnets):
        return []
    problems: list[str] = []
    placed: list[tuple[str, Any]] = []
    for subnet in subnets:
        if not is_map(subnet):
            continue
        name = peek(subnet, "name")
        for prefix in subnet_prefixes(subnet):
            if not any(prefix.version == net.version and prefix.subnet_of(net) for net in space):  # type: ignore[arg-type]
                problems.append(
                    f"Subnet {name!r} prefix {prefix} is outside the VNet address space "
                    f"{', '.join(str(n) for n in space)}; choose a prefix inside it."
                )
            for other_name, other in placed:
                if prefix.version == other.version and prefix.overlaps(other):
                    problems.append(
                        f"Subnet {name!r} prefix {prefix} overlaps subnet {other_name!r} ({other}); give "
                        f"each subnet its own range."
                    )
            placed.append((str(name), prefix))
    return problems


def _needs(resources: Sequence[StackResource]) -> list[tuple[StackResource, str, Any, str]]:
    """(user, delegation needed, subnet id value, input path) for each subnet a service is injected into."""
    needs: list[tuple[StackResource, str, Any, str]] = []
    for env in of_type(resources, MANAGED_ENVIRONMENT):
        profiles = peek(env.props, "workloadProfiles")
        if not is_list(profiles) or len(profiles) == 0:
            continue  # a consumption-only environment must not be delegated
        subnet_id = peek(sub(env.props, "vnetConfiguration"), "infrastructureSubnetId")
        if subnet_id is not None:
            needs.append((env, APPS_DELEGATION, subnet_id, "vnetConfiguration"))
    for server in of_type(resources, POSTGRES):
        subnet_id = peek(sub(server.props, "network"), "delegatedSubnetResourceId")
        if subnet_id is not None:
            needs.append((server, POSTGRES_DELEGATION, subnet_id, "network"))
    return needs


def check_delegations(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    subnets = of_type(resources, SUBNET)
    problems: list[tuple[str, str]] = []
    for user, service, subnet_id, key in _needs(resources):
        for subnet in linked(user, key, subnets, subnet_id, "subnetName", "subnets"):
            delegated = delegations(subnet.props)
            if service in delegated:
                continue
            problems.append(
                (
                    f"Subnet '{subnet.name}' hosts '{user.name}' but is delegated to "
                    f"{delegated or 'nothing'}; add a delegation to {_pretty(service)}.",
                    subnet.urn,
                )
            )
    return problems


def _pretty(service: str) -> str:
    return {
        APPS_DELEGATION: "Microsoft.App/environments",
        POSTGRES_DELEGATION: "Microsoft.DBforPostgreSQL/flexibleServers",
    }[service]


def check_peering_overlap(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    vnets = of_type(resources, VIRTUAL_NETWORK)
    problems: list[tuple[str, str]] = []
    for peering in of_type(resources, PEERING):
        local = linked(
            peering,
            "virtualNetworkName",
            vnets,
            peek(peering.props, "virtualNetworkName"),
            "virtualNetworkName",
        )
        remote_ref = peek(sub(peering.props, "remoteVirtualNetwork"), "id")
        remote = linked(
            peering, "remoteVirtualNetwork", vnets, remote_ref, "virtualNetworkName", "virtualNetworks"
        )
        if not local or not remote:
            continue
        for a in address_prefixes(local[0].props):
            for b in address_prefixes(remote[0].props):
                if a.version == b.version and a.overlaps(b):
                    problems.append(
                        (
                            f"Peering '{peering.name}' joins '{local[0].name}' ({a}) and "
                            f"'{remote[0].name}' ({b}), whose spaces overlap; re-address one network.",
                            peering.urn,
                        )
                    )
    return problems


_rule = rule_maker("VNET", types=("stack",))


SUBNETS_IN_SPACE = _rule(
    1,
    "engram-network-virtualnetwork-configure-subnet-ranges",
    "A virtual network's subnets must lie inside its address space and must not overlap.",
    "ARM refuses a subnet prefix outside the VNet's address prefixes or overlapping another subnet.",
    "Carve each subnet from the VNet's address space, without overlaps.",
    "https://learn.microsoft.com/azure/virtual-network/virtual-network-manage-subnet",
    resource_types=(VIRTUAL_NETWORK,),
)
DELEGATIONS = _rule(
    2,
    "engram-network-subnet-require-service-delegation",
    "A subnet hosting a Container Apps environment or an injected PostgreSQL server needs its delegation.",
    "A workload-profiles environment needs its infrastructure subnet delegated to Microsoft.App/environments "
    "and a private-access PostgreSQL flexible server needs a subnet delegated to "
    "Microsoft.DBforPostgreSQL/flexibleServers; without it the service cannot be created in the subnet.",
    "Add delegations: [{name, serviceName}] with the service on the subnet.",
    "https://learn.microsoft.com/azure/container-apps/custom-virtual-networks",
)
PEERING_OVERLAP = _rule(
    3,
    "engram-network-virtualnetworkpeering-disallow-overlapping-spaces",
    "Peered virtual networks must not have overlapping address spaces.",
    "Azure refuses to peer virtual networks whose address spaces overlap, since their routes would collide.",
    "Give the networks disjoint address spaces before peering them.",
    "https://learn.microsoft.com/azure/virtual-network/virtual-network-manage-peering#requirements-and-constraints",
)

CATALOGUE = [
    SUBNETS_IN_SPACE.resource(check_subnets_in_space),
    DELEGATIONS.stack(check_delegations),
    PEERING_OVERLAP.stack(check_peering_overlap),
]
