"""StaticSite: the Engram UI on Azure Static Web Apps.

Creates `azure-native:web:StaticSite` (SKU per environment: Standard where private endpoints or an
SLA are needed) and, on private-link stacks, a private endpoint (group id `staticSites`). Its origin
is the CORS origin of the API; the stack exports the build variables the UI needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import web

from components.network import DnsLinks
from components.private_endpoint import PrivateEndpoint, PrivateEndpointArgs, PrivateLinkPlacement


@dataclass(frozen=True, kw_only=True)
class StaticSiteArgs:
    resource_group_name: pulumi.Input[str]
    location: str  # Static Web Apps exist in a few regions only (eastus2 is one)
    tags: Mapping[str, str]
    sku: Literal["Free", "Standard"] = "Free"
    public_network_access: Literal["Enabled", "Disabled"] = "Enabled"
    private_link: PrivateLinkPlacement | None = None
    dns: DnsLinks | None = None  # private-link stacks: where the UI's partition zone is published

    def __post_init__(self) -> None:
        if self.private_link is not None and self.sku != "Standard":
            raise ValueError("a private endpoint on Static Web Apps needs the Standard SKU")


class StaticSite(pulumi.ComponentResource):
    hostname: pulumi.Output[str]
    origin: pulumi.Output[str]  # https://<hostname>: the API's CORS origin

    def __init__(self, name: str, args: StaticSiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:web:StaticSite", name, None, opts)
        site = web.StaticSite(
            f"{name}-swa",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            sku={"name": args.sku, "tier": args.sku},
            public_network_access=args.public_network_access,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.private_link is not None:
            PrivateEndpoint(
                f"{name}-swa",
                PrivateEndpointArgs(
                    resource_group_name=args.resource_group_name,
                    location=args.location,
                    tags=args.tags,
                    target_id=site.id,
                    group_id="staticSites",
                    placement=args.private_link,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.hostname = site.default_hostname
        self.origin = pulumi.Output.concat("https://", site.default_hostname)
        self.register_outputs({"hostname": self.hostname, "origin": self.origin})
