"""StaticSite: the Engram UI on Azure Static Web Apps.

Creates `azure-native:web:StaticSite` (SKU per environment: Standard where private endpoints or an
SLA are needed) and, on private-link stacks, a private endpoint (group id `staticSites`) whose DNS
records land in the private zone of the site's partition, which this tier creates and links. Its origin
is the CORS origin of the API; the stack exports the build variables the UI needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import web

from components.network import DnsLinks, private_zone
from components.private_endpoint import PrivateLinkPlacement, private_endpoint
from components.tier import TierArgs


@dataclass(frozen=True, kw_only=True)
class StaticSiteArgs(TierArgs):
    # location: Static Web Apps exist in a few regions only (eastus2 is one)
    sku: Literal["Free", "Standard"] = "Free"
    public_network_access: Literal["Enabled", "Disabled"] = "Enabled"
    private_link: PrivateLinkPlacement | None = None
    dns: DnsLinks | None = None  # private-link stacks: where the UI's partition zone is published
    # Custom host names the site is also served on (bound by the operator once their CNAME exists:
    # `az staticwebapp hostname set`); their origins join the default one (CORS, MSAL redirect URIs).
    custom_domains: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.private_link is not None and self.sku != "Standard":
            raise ValueError("a private endpoint on Static Web Apps needs the Standard SKU")
        if self.private_link is not None and self.dns is None:
            raise ValueError("a private endpoint on Static Web Apps needs dns (its partition zone's links)")


def partition_zone(hostname: str) -> str:
    """The private DNS zone of a Static Web App's host name: `privatelink.` + everything after the app.

    `nice-rock-0a1.2.azurestaticapps.net` -> `privatelink.2.azurestaticapps.net` (Azure documents the
    partitioned zone; an unpartitioned host name gives `privatelink.azurestaticapps.net`).
    """
    return "privatelink." + hostname.split(".", 1)[1] if "." in hostname else hostname


class StaticSite(pulumi.ComponentResource):
    hostname: pulumi.Output[str]
    origin: pulumi.Output[str]  # https://<hostname>: the API's CORS origin
    origins: pulumi.Output[list[str]]  # the default origin, then one per custom domain
    site_name: pulumi.Output[str]  # `az staticwebapp secrets list --name`: the pipeline's deployment token

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
            assert args.dns is not None  # checked in args
            # The endpoint's records go in the zone of the site's partition (`<app>.<n>.azurestatic
            # apps.net` -> `privatelink.<n>.azurestaticapps.net`), known once the site exists; users on
            # the corporate network resolve the UI through it, so it is linked to the hub too.
            zone = private_zone(
                f"{name}-dns",
                site.default_hostname.apply(partition_zone),
                args.dns,
                to_hub=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            placement = PrivateLinkPlacement(
                subnet_id=args.private_link.subnet_id, zone_ids={"staticSites": [zone.id]}
            )
            private_endpoint(
                f"{name}-swa",
                args,
                target_id=site.id,
                group_id="staticSites",
                placement=placement,
                parent=self,
            )
        self.hostname = site.default_hostname
        self.origin = pulumi.Output.concat("https://", site.default_hostname)
        custom = [f"https://{host.lower().rstrip('.')}" for host in args.custom_domains]
        self.origins = self.origin.apply(lambda origin: [origin, *custom])
        self.site_name = site.name
        self.register_outputs(
            {
                "hostname": self.hostname,
                "origin": self.origin,
                "origins": self.origins,
                "site_name": self.site_name,
            }
        )
