"""Cache: Azure Managed Redis, the shared counter store of the service's limits (issue 14).

Creates `azure-native:redisenterprise:RedisEnterprise` (an Azure Managed Redis SKU, TLS 1.2, high
availability and public access from the profile) and its `default`
`azure-native:redisenterprise:Database` (TLS only, Entra only: access keys disabled, the enterprise
cluster policy so the app's plain client and its hash-tagged Lua scripts work, no eviction: a limit
counter must never vanish under memory pressure), and a private endpoint (group id `redisEnterprise`)
where the stack has private link. `data_access(...)` grants the app's managed identity the `default`
access policy once the identity exists. `url` is the REDIS_URL the app receives (no credential: the
app authenticates with its managed identity, REDIS_AUTH=entra).

Azure Managed Redis, not Azure Cache for Redis: the Basic/Standard/Premium tiers of the latter are
announced for retirement (no new caches from October 2026, retired September 2028) and its Enterprise
tiers in March 2027, with Azure Managed Redis as the replacement (AZ-REDIS-001 and its source).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import redisenterprise

from components.private_endpoint import PrivateLinkPlacement, private_endpoint
from components.tier import TierArgs

#: The database name Azure Managed Redis serves (one database per cluster) and its TLS port.
DATABASE_NAME = "default"
PORT = 10000
#: The only access policy Azure Managed Redis offers for Entra identities (full data access).
ACCESS_POLICY = "default"


@dataclass(frozen=True, kw_only=True)
class CacheArgs(TierArgs):
    sku: str = "Balanced_B0"
    high_availability: bool = True
    public_network_access: Literal["Enabled", "Disabled"] = "Disabled"
    private_link: PrivateLinkPlacement | None = None

    def __post_init__(self) -> None:
        if self.public_network_access == "Disabled" and self.private_link is None:
            raise ValueError("public access disabled with no private endpoint: nothing could connect")
        if not self.sku.startswith(("Balanced_", "MemoryOptimized_", "ComputeOptimized_", "FlashOptimized_")):
            raise ValueError(f"sku {self.sku!r} is not an Azure Managed Redis SKU (e.g. Balanced_B0)")


class Cache(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    host: pulumi.Output[str]
    url: pulumi.Output[str]  # rediss://<host>:10000

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:data:Cache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = redisenterprise.RedisEnterprise(
            f"{name}-redis",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            sku={"name": args.sku},
            minimum_tls_version="1.2",
            high_availability="Enabled" if args.high_availability else "Disabled",
            public_network_access=args.public_network_access,
            opts=child,
        )
        redisenterprise.Database(
            f"{name}-redis-db",
            resource_group_name=args.resource_group_name,
            cluster_name=cluster.name,
            database_name=DATABASE_NAME,
            client_protocol="Encrypted",
            port=PORT,
            clustering_policy="EnterpriseCluster",
            eviction_policy="NoEviction",
            access_keys_authentication="Disabled",
            opts=child,
        )
        if args.private_link is not None:
            private_endpoint(
                f"{name}-redis",
                args,
                target_id=cluster.id,
                group_id="redisEnterprise",
                placement=args.private_link,
                parent=self,
            )
        self._resource_group_name = args.resource_group_name
        self.cluster_name = cluster.name
        self.host = cluster.host_name
        self.url = pulumi.Output.concat("rediss://", cluster.host_name, f":{PORT}")
        self.register_outputs({"cluster_name": self.cluster_name, "host": self.host})

    def data_access(
        self, name: str, principal_id: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> redisenterprise.AccessPolicyAssignment:
        """Grant `principal_id` (the app's managed identity object id) data access to the database."""
        return redisenterprise.AccessPolicyAssignment(
            name,
            resource_group_name=self._resource_group_name,
            cluster_name=self.cluster_name,
            database_name=DATABASE_NAME,
            access_policy_name=ACCESS_POLICY,
            user={"object_id": principal_id},
            opts=opts,
        )
