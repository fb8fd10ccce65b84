"""Network: the private network of an environment that uses private link (production).

Creates `azure-native:network:VirtualNetwork`, two `azure-native:network:Subnet`s (Container Apps
infrastructure, delegated to Microsoft.App/environments; private endpoints), and per requested
private-link group id its `azure-native:privatedns:PrivateZone`s, each linked to the VNet with an
`azure-native:privatedns:VirtualNetworkLink`. PostgreSQL is reached through a private endpoint like
every other data service (one pattern, one policy), so it needs no delegated subnet of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns

from components.private_endpoint import PRIVATE_DNS_ZONES, GroupId, PrivateLinkPlacement


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]
    address_space: str
    apps_subnet: str
    endpoints_subnet: str
    group_ids: Sequence[GroupId]  # the private-link targets whose DNS zones this network hosts


class Network(pulumi.ComponentResource):
    vnet_id: pulumi.Output[str]
    apps_subnet_id: pulumi.Output[str]  # Container Apps environment infrastructure subnet
    endpoints_subnet_id: pulumi.Output[str]
    placement: PrivateLinkPlacement  # what each tier needs to place its private endpoint

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            address_space={"address_prefixes": [args.address_space]},
            opts=child,
        )
        apps = network.Subnet(
            f"{name}-snet-apps",
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            subnet_name="apps",
            address_prefix=args.apps_subnet,
            delegations=[{"name": "aca", "service_name": "Microsoft.App/environments"}],
            opts=child,
        )
        endpoints = network.Subnet(
            f"{name}-snet-pe",
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            subnet_name="private-endpoints",
            address_prefix=args.endpoints_subnet,
            private_endpoint_network_policies="Disabled",
            # Subnets of one VNet are updated one at a time by Azure.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[apps]),
        )
        zone_ids: dict[str, list[pulumi.Output[str]]] = {}
        for group_id in args.group_ids:
            for zone_name in PRIVATE_DNS_ZONES[group_id]:
                label = zone_name.replace("privatelink.", "").replace(".", "-")
                zone = privatedns.PrivateZone(
                    f"{name}-dns-{label}",
                    resource_group_name=args.resource_group_name,
                    private_zone_name=zone_name,  # name fixed by Azure
                    location="global",
                    tags=dict(args.tags),
                    opts=child,
                )
                privatedns.VirtualNetworkLink(
                    f"{name}-dns-{label}-link",
                    resource_group_name=args.resource_group_name,
                    private_zone_name=zone.name,
                    location="global",
                    registration_enabled=False,
                    virtual_network={"id": vnet.id},
                    tags=dict(args.tags),
                    opts=child,
                )
                zone_ids.setdefault(group_id, []).append(zone.id)

        self.vnet_id = vnet.id
        self.apps_subnet_id = apps.id
        self.endpoints_subnet_id = endpoints.id
        self.placement = PrivateLinkPlacement(subnet_id=endpoints.id, zone_ids=zone_ids)
        self.register_outputs(
            {"vnet_id": self.vnet_id, "apps_subnet_id": apps.id, "endpoints_subnet_id": endpoints.id}
        )
