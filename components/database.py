"""Database: the PostgreSQL flexible server that holds memory, transcripts and the audit trail.

Creates `azure-native:dbforpostgresql:Server` (tier/SKU, backup retention, geo-redundant backup,
high availability, Entra + password auth and public access from the profile) and its `engram`
`azure-native:dbforpostgresql:Database`, optionally an audit `azure-native:monitor:DiagnosticSetting`
(`PostgreSQLLogs`), a private endpoint (group id `postgresqlServer`) or, with public access, its
`azure-native:dbforpostgresql:FirewallRule`s: a public server with no rule admits nobody.
`database_url` is the DATABASE_URL the app receives, as a secret, through Key Vault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import pulumi
from pulumi_azure_native import dbforpostgresql

from components.observability import audit_diagnostics
from components.private_endpoint import PrivateLinkPlacement, private_endpoint
from components.tier import TierArgs

DATABASE_NAME = "engram"


@dataclass(frozen=True, kw_only=True)
class DatabaseArgs(TierArgs):
    tenant_id: pulumi.Input[str]
    admin_login: str
    admin_password: pulumi.Input[str]
    tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = "Burstable"
    sku_name: str = "Standard_B1ms"
    version: str = "16"
    storage_gb: int = 32
    backup_retention_days: int = 7
    geo_redundant_backup: bool = False
    high_availability: Literal["Disabled", "SameZone", "ZoneRedundant"] = "Disabled"
    public_network_access: Literal["Enabled", "Disabled"] = "Disabled"
    audit_workspace_id: pulumi.Input[str] | None = None
    private_link: PrivateLinkPlacement | None = None
    # With public access: (rule name, start IPv4, end IPv4). Without a rule nothing can connect.
    firewall_rules: Sequence[tuple[str, str, str]] = ()
    protect: bool = False

    def __post_init__(self) -> None:
        if not 7 <= self.backup_retention_days <= 35:
            raise ValueError(f"backup_retention_days must be 7..35, got {self.backup_retention_days}")
        if self.tier == "Burstable" and self.high_availability != "Disabled":
            raise ValueError("Burstable servers cannot have high availability")
        if self.public_network_access == "Enabled" and not self.firewall_rules and self.private_link is None:
            raise ValueError(
                "public access with no firewall rule and no private endpoint: nothing could connect; add "
                "firewall_rules (e.g. allow Azure services) or a private endpoint"
            )
        if self.public_network_access == "Disabled" and self.firewall_rules:
            raise ValueError("firewall_rules have no effect with public access disabled")


class Database(pulumi.ComponentResource):
    server_id: pulumi.Output[str]
    fqdn: pulumi.Output[str]
    database_url: pulumi.Output[str]  # secret: postgresql://login:password@fqdn:5432/engram?sslmode=require

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:data:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        server = dbforpostgresql.Server(
            f"{name}-pg",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            version=args.version,
            sku={"name": args.sku_name, "tier": args.tier},
            storage={"storage_size_gb": args.storage_gb, "auto_grow": "Enabled"},
            backup={
                "backup_retention_days": args.backup_retention_days,
                "geo_redundant_backup": "Enabled" if args.geo_redundant_backup else "Disabled",
            },
            high_availability={"mode": args.high_availability},
            auth_config={
                "active_directory_auth": "Enabled",
                "password_auth": "Enabled",  # the app's DATABASE_URL; rotate through Key Vault
                "tenant_id": args.tenant_id,
            },
            network={"public_network_access": args.public_network_access},
            administrator_login=args.admin_login,
            administrator_login_password=pulumi.Output.secret(args.admin_password),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        dbforpostgresql.Database(
            f"{name}-db",
            resource_group_name=args.resource_group_name,
            server_name=server.name,
            database_name=DATABASE_NAME,
            charset="UTF8",
            collation="en_US.utf8",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        for rule_name, start, end in args.firewall_rules:
            dbforpostgresql.FirewallRule(
                f"{name}-fw-{rule_name.lower()}",
                resource_group_name=args.resource_group_name,
                server_name=server.name,
                firewall_rule_name=rule_name,
                start_ip_address=start,
                end_ip_address=end,
                opts=child,
            )
        if args.audit_workspace_id is not None:
            audit_diagnostics(
                f"{name}-pg-audit",
                target_id=server.id,
                workspace_id=args.audit_workspace_id,
                categories=("PostgreSQLLogs",),
                opts=child,
            )
        if args.private_link is not None:
            private_endpoint(
                f"{name}-pg",
                args,
                target_id=server.id,
                group_id="postgresqlServer",
                placement=args.private_link,
                parent=self,
            )
        login = args.admin_login
        self.server_id = server.id
        self.fqdn = server.fully_qualified_domain_name
        self.database_url = pulumi.Output.secret(
            pulumi.Output.all(server.fully_qualified_domain_name, args.admin_password).apply(
                lambda parts: (
                    f"postgresql://{quote(login, safe='')}:{quote(str(parts[1]), safe='')}"
                    f"@{parts[0]}:5432/{DATABASE_NAME}?sslmode=require"
                )
            )
        )
        self.register_outputs({"server_id": server.id, "fqdn": self.fqdn})
