"""Network: the private network of an environment that uses private link (production).

Creates `azure-native:network:VirtualNetwork` and its `azure-native:network:Subnet`s: Container Apps
infrastructure (delegated to Microsoft.App/environments), private endpoints, and, when the gateway is
injected, an undelegated API Management subnet with the `azure-native:network:NetworkSecurityGroup`
Azure requires there. Per requested private-link group id it creates the documented
`azure-native:privatedns:PrivateZone`s, each linked to the VNet with an
`azure-native:privatedns:VirtualNetworkLink`. With a hub it adds the spoke side of an
`azure-native:network:VirtualNetworkPeering` so users on the corporate network reach the stack.

`private_zone()` is the one way a tier publishes its own private names (the internal Container Apps
environment's default domain, the injected gateway's `azure-api.net` host): a zone, its A records and
its links. PostgreSQL is reached through a private endpoint like every other data service (one
pattern, one policy), so it needs no delegated subnet of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import network, privatedns

from components.private_endpoint import PRIVATE_DNS_ZONES, GroupId, PrivateLinkPlacement
from components.tier import TierArgs

#: NSG rules API Management needs on its injected subnet (stv2): its load balancer denies all inbound
#: traffic unless allowed. Inbound: the control plane (ApiManagement tag, 3443), Azure's load balancer
#: probe (6390), clients in the VNet (443). Outbound: Storage, SQL, Key Vault, Azure Monitor.
#: https://learn.microsoft.com/azure/api-management/api-management-using-with-internal-vnet
#: (name, direction, priority, source tag, destination tag, ports)
APIM_NSG_RULES: tuple[tuple[str, str, int, str, str, tuple[str, ...]], ...] = (
    ("allow-apim-management", "Inbound", 100, "ApiManagement", "VirtualNetwork", ("3443",)),
    ("allow-azure-load-balancer", "Inbound", 110, "AzureLoadBalancer", "VirtualNetwork", ("6390",)),
    ("allow-vnet-clients", "Inbound", 120, "VirtualNetwork", "VirtualNetwork", ("443",)),
    ("allow-storage", "Outbound", 100, "VirtualNetwork", "Storage", ("443",)),
    ("allow-sql", "Outbound", 110, "VirtualNetwork", "Sql", ("1433",)),
    ("allow-key-vault", "Outbound", 120, "VirtualNetwork", "AzureKeyVault", ("443",)),
    ("allow-azure-monitor", "Outbound", 130, "VirtualNetwork", "AzureMonitor", ("1886", "443")),
)


@dataclass(frozen=True, kw_only=True)
class HubArgs:
    vnet_id: str  # the customer's hub VNet (ARM id)
    use_remote_gateways: bool = True


@dataclass(frozen=True, kw_only=True)
class NetworkArgs(TierArgs):
    address_space: str
    apps_subnet: str
    endpoints_subnet: str
    group_ids: Sequence[GroupId]  # the private-link targets whose DNS zones this network hosts
    gateway_subnet: str | None = None  # API Management injection (internal mode)
    # The privatelink zones made here serve the app alone and are never linked to a hub: a VNet can be
    # linked to only one zone of a given name, and hubs usually hold their own. The names users need
    # (the UI's partition zone, the environment's domain) are zones of their tiers, linked there.
    hub: HubArgs | None = None


@dataclass(frozen=True, kw_only=True)
class DnsLinks:
    """Where a private zone is linked: the stack's VNet always, the hub when users need the name."""

    resource_group_name: pulumi.Input[str]
    tags: Mapping[str, str]
    vnet_id: pulumi.Input[str]
    hub_vnet_id: str | None = None


class Network(pulumi.ComponentResource):
    vnet_id: pulumi.Output[str]
    apps_subnet_id: pulumi.Output[str]  # Container Apps environment infrastructure subnet
    endpoints_subnet_id: pulumi.Output[str]
    gateway_subnet_id: pulumi.Output[str] | None  # API Management injection (internal mode)
    placement: PrivateLinkPlacement  # what each tier needs to place its private endpoint
    dns: DnsLinks  # what a tier needs to publish its own private zone

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=tags,
            address_space={"address_prefixes": [args.address_space]},
            opts=child,
        )

        def subnet(role: str, after: pulumi.Resource | None, **settings: Any) -> network.Subnet:
            # Subnets of one VNet are updated one at a time by Azure: each waits for the one before.
            return network.Subnet(
                f"{name}-snet-{role}",
                resource_group_name=args.resource_group_name,
                virtual_network_name=vnet.name,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[after] if after else None),
                **settings,
            )

        apps = subnet(
            "apps",
            None,
            subnet_name="apps",
            address_prefix=args.apps_subnet,
            delegations=[{"name": "aca", "service_name": "Microsoft.App/environments"}],
        )
        endpoints = subnet(
            "pe",
            apps,
            subnet_name="private-endpoints",
            address_prefix=args.endpoints_subnet,
            private_endpoint_network_policies="Disabled",
        )
        self.gateway_subnet_id = None
        last_subnet = endpoints
        if args.gateway_subnet is not None:
            nsg = network.NetworkSecurityGroup(
                f"{name}-nsg-apim",
                resource_group_name=args.resource_group_name,
                location=args.location,
                tags=tags,
                security_rules=[_nsg_rule(*rule) for rule in APIM_NSG_RULES],
                opts=child,
            )
            gateway = subnet(
                "apim",
                endpoints,
                subnet_name="apim",
                address_prefix=args.gateway_subnet,
                network_security_group={"id": nsg.id},  # no delegation: classic injection refuses one
            )
            self.gateway_subnet_id = gateway.id
            last_subnet = gateway
        if args.hub is not None:
            network.VirtualNetworkPeering(
                f"{name}-peer-hub",
                resource_group_name=args.resource_group_name,
                virtual_network_name=vnet.name,
                virtual_network_peering_name="to-hub",
                remote_virtual_network={"id": args.hub.vnet_id},
                allow_virtual_network_access=True,
                allow_forwarded_traffic=True,
                use_remote_gateways=args.hub.use_remote_gateways,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[last_subnet]),
            )
        self.dns = DnsLinks(
            resource_group_name=args.resource_group_name,
            tags=tags,
            vnet_id=vnet.id,
            hub_vnet_id=args.hub.vnet_id if args.hub is not None else None,
        )
        zone_ids: dict[str, list[pulumi.Output[str]]] = {}
        for group_id in args.group_ids:
            for zone_name in PRIVATE_DNS_ZONES[group_id]:
                label = zone_name.replace("privatelink.", "").replace(".", "-")
                zone = private_zone(f"{name}-dns-{label}", zone_name, self.dns, opts=child)
                zone_ids.setdefault(group_id, []).append(zone.id)

        self.vnet_id = vnet.id
        self.apps_subnet_id = apps.id
        self.endpoints_subnet_id = endpoints.id
        self.placement = PrivateLinkPlacement(subnet_id=endpoints.id, zone_ids=zone_ids)
        self.register_outputs(
            {"vnet_id": self.vnet_id, "apps_subnet_id": apps.id, "endpoints_subnet_id": endpoints.id}
        )


def _nsg_rule(
    name: str, direction: str, priority: int, source: str, destination: str, ports: tuple[str, ...]
) -> network.SecurityRuleArgsDict:
    rule: network.SecurityRuleArgsDict = {
        "name": name,
        "direction": direction,
        "priority": priority,
        "access": "Allow",
        "protocol": "Tcp",
        "source_address_prefix": source,
        "source_port_range": "*",
        "destination_address_prefix": destination,
    }
    if len(ports) == 1:
        rule["destination_port_range"] = ports[0]
    else:
        rule["destination_port_ranges"] = list(ports)
    return rule


def private_zone(
    name: str,
    zone_name: pulumi.Input[str],
    links: DnsLinks,
    *,
    records: Sequence[tuple[pulumi.Input[str], pulumi.Input[str]]] = (),
    to_hub: bool = False,
    opts: pulumi.ResourceOptions,
) -> privatedns.PrivateZone:
    """A private DNS zone (location `global`, as Azure requires), its A records and its VNet links.

    `records` pairs relative names (`*`, `@`, a host) with IPv4 addresses. The zone is linked to the
    stack's VNet, and to the hub's when `to_hub` and a hub is configured.
    """
    zone = privatedns.PrivateZone(
        name,
        resource_group_name=links.resource_group_name,
        private_zone_name=zone_name,
        location="global",
        tags=dict(links.tags),
        opts=opts,
    )
    for index, (relative, address) in enumerate(records):
        privatedns.PrivateRecordSet(
            f"{name}-a{index}",
            resource_group_name=links.resource_group_name,
            private_zone_name=zone.name,
            record_type="A",
            relative_record_set_name=relative,
            ttl=300,
            a_records=[{"ipv4_address": address}],
            opts=opts,
        )
    targets: list[tuple[str, pulumi.Input[str]]] = [("link", links.vnet_id)]
    if to_hub and links.hub_vnet_id is not None:
        targets.append(("hub-link", links.hub_vnet_id))
    for suffix, vnet_id in targets:
        privatedns.VirtualNetworkLink(
            f"{name}-{suffix}",
            resource_group_name=links.resource_group_name,
            private_zone_name=zone.name,
            location="global",
            registration_enabled=False,
            virtual_network={"id": vnet_id},
            tags=dict(links.tags),
            opts=opts,
        )
    return zone
