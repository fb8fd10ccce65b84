"""PrivateEndpoint: one private endpoint and its DNS zone group, reusable for every private-link target.

Creates `azure-native:network:PrivateEndpoint` (in the endpoints subnet, one connection to the target
with the right group id) and `azure-native:network:PrivateDnsZoneGroup` (so the target's public name
resolves to the private IP inside the VNet). SOP 4.4 / 7: production reaches no service over the
internet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import network

from components.tier import TierArgs
from policies.paths import PRIVATE_DNS_ZONES as PACK_ZONES

GroupId = Literal[
    "vault", "account", "postgresqlServer", "redisEnterprise", "Gateway", "staticSites", "registry", "blob"
]

#: Private DNS zones per group id: the policy pack's table of Azure's documented names, so the zones
#: created here are the ones AZ-PE-001 and the path check expect.
PRIVATE_DNS_ZONES: Mapping[str, tuple[str, ...]] = {
    group: PACK_ZONES[group]
    for group in (
        "vault",
        "account",
        "postgresqlServer",
        "redisEnterprise",
        "Gateway",
        "staticSites",
        "registry",
        "blob",
    )
}


@dataclass(frozen=True, kw_only=True)
class PrivateLinkPlacement:
    """Where a tier's private endpoint goes: the endpoints subnet and the DNS zones per group id."""

    subnet_id: pulumi.Input[str]
    zone_ids: Mapping[str, Sequence[pulumi.Input[str]]]


@dataclass(frozen=True, kw_only=True)
class PrivateEndpointArgs(TierArgs):
    target_id: pulumi.Input[str]
    group_id: GroupId
    placement: PrivateLinkPlacement

    def __post_init__(self) -> None:
        if self.group_id not in PRIVATE_DNS_ZONES:
            raise ValueError(f"group_id {self.group_id!r} is not one of {sorted(PRIVATE_DNS_ZONES)}")
        if not self.placement.zone_ids.get(self.group_id):
            raise ValueError(f"no private DNS zone was provisioned for group id {self.group_id!r}")


class PrivateEndpoint(pulumi.ComponentResource):
    endpoint_id: pulumi.Output[str]

    def __init__(self, name: str, args: PrivateEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:network:PrivateEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        endpoint = network.PrivateEndpoint(
            f"{name}-pe",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            subnet={"id": args.placement.subnet_id},
            private_link_service_connections=[
                {
                    "name": f"{name}-{args.group_id.lower()}",
                    "private_link_service_id": args.target_id,
                    "group_ids": [args.group_id],
                }
            ],
            opts=child,
        )
        network.PrivateDnsZoneGroup(
            f"{name}-dns",
            resource_group_name=args.resource_group_name,
            private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[
                {"name": zone_id_label(i), "private_dns_zone_id": zone_id}
                for i, zone_id in enumerate(args.placement.zone_ids[args.group_id])
            ],
            opts=child,
        )
        self.endpoint_id = endpoint.id
        self.register_outputs({"endpoint_id": self.endpoint_id})


def private_endpoint(
    name: str,
    tier: TierArgs,
    *,
    target_id: pulumi.Input[str],
    group_id: GroupId,
    placement: PrivateLinkPlacement,
    parent: pulumi.Resource,
) -> PrivateEndpoint:
    """A tier's private endpoint to `target_id`, beside the tier's other resources, a child of `parent`."""
    return PrivateEndpoint(
        name,
        PrivateEndpointArgs(
            resource_group_name=tier.resource_group_name,
            location=tier.location,
            tags=tier.tags,
            target_id=target_id,
            group_id=group_id,
            placement=placement,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def zone_id_label(index: int) -> str:
    return f"zone-{index}"
