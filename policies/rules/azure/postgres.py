"""PostgreSQL flexible server: what Azure refuses at creation and what leaves a server unreachable.

AZ-PG-001  no high availability on the Burstable tier
AZ-PG-002  the SKU name belongs to the tier (Standard_B* Burstable, Standard_D* GeneralPurpose, ...)
AZ-PG-003  backup retention between 7 and 35 days
AZ-PG-004  storage size is one of the offered sizes (32 GiB .. 32 TiB)
AZ-PG-005  server name: 3-63 lower-case letters, digits and hyphens, no hyphen at either end
AZ-PG-006  the administrator login is not a reserved name
AZ-PG-007  VNet injection names a private DNS zone ending in postgres.database.azure.com
AZ-PG-008  public access with no firewall rule and no private endpoint: nothing can connect (stack)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from ..common import (
    POSTGRES,
    PRIVATE_ENDPOINT,
    PROD,
    RuleContext,
    StackResource,
    of_type,
    peek,
    sub,
)
from ..network import endpoint_targets, postgres_vnet_injected
from ._factory import rule_maker
from ._plan import linked

FIREWALL_RULE = "azure-native:dbforpostgresql:FirewallRule"

TIER_PREFIX: dict[str, str] = {
    "burstable": "Standard_B",
    "generalpurpose": "Standard_D",
    "memoryoptimized": "Standard_E",
}
MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 7, 35
STORAGE_SIZES_GB: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767)
SERVER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
RESERVED_LOGINS = frozenset(
    {"azure_superuser", "azure_pg_admin", "admin", "administrator", "root", "guest", "public"}
)
PRIVATE_ZONE_SUFFIX = ".postgres.database.azure.com"


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def check_burstable_no_ha(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    tier = _lower(peek(sub(props, "sku"), "tier"))
    mode = peek(sub(props, "highAvailability"), "mode")
    if tier != "burstable" or not isinstance(mode, str) or mode.lower() == "disabled":
        return []
    return [
        f'PostgreSQL server sku.tier is "Burstable" with highAvailability.mode {mode!r}; the Burstable tier '
        f'has no high availability: set highAvailability.mode to "Disabled" or use a GeneralPurpose SKU.'
    ]


def check_sku_matches_tier(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    sku = sub(props, "sku")
    name, tier = peek(sku, "name"), peek(sku, "tier")
    if not isinstance(name, str) or not isinstance(tier, str) or tier.lower() not in TIER_PREFIX:
        return []
    prefix = TIER_PREFIX[tier.lower()]
    if name.startswith(prefix):
        return []
    return [f"PostgreSQL server sku.name {name!r} is not a {tier} size; set sku.name to a {prefix}* size."]


def check_backup_retention(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    days = peek(sub(props, "backup"), "backupRetentionDays")
    if not isinstance(days, int | float) or MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        return []
    return [
        f"PostgreSQL server backup.backupRetentionDays is {days:g}; set it between {MIN_RETENTION_DAYS} and "
        f"{MAX_RETENTION_DAYS}."
    ]


def check_storage_size(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    size = peek(sub(props, "storage"), "storageSizeGB")
    if not isinstance(size, int | float) or int(size) in STORAGE_SIZES_GB:
        return []
    return [
        f"PostgreSQL server storage.storageSizeGB is {size:g}; set it to one of "
        f"{', '.join(str(s) for s in STORAGE_SIZES_GB)} (it can only grow)."
    ]


def check_server_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "serverName")
    if not isinstance(name, str) or SERVER_NAME.match(name):
        return []
    return [
        f"PostgreSQL serverName {name!r} is invalid; use 3-63 lower-case letters, digits and hyphens, "
        f"starting and ending with a letter or digit."
    ]


def check_admin_login(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    login = peek(props, "administratorLogin")
    if not isinstance(login, str):
        return []
    lowered = login.lower()
    if lowered not in RESERVED_LOGINS and not lowered.startswith("pg_"):
        return []
    return [
        f"PostgreSQL administratorLogin {login!r} is reserved; choose a name that is none of "
        f"{', '.join(sorted(RESERVED_LOGINS))} and does not start with pg_."
    ]


def check_private_dns_zone(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if not postgres_vnet_injected(props):
        return []
    network = sub(props, "network")
    zone = peek(network, "privateDnsZoneArmResourceId")
    if zone is None or zone == "":
        return [
            "PostgreSQL network.delegatedSubnetResourceId is set but network.privateDnsZoneArmResourceId is "
            f"not; set it to a private DNS zone whose name ends in {PRIVATE_ZONE_SUFFIX}."
        ]
    if isinstance(zone, str) and "/" in zone and not zone.rstrip("/").lower().endswith(PRIVATE_ZONE_SUFFIX):
        return [
            f"PostgreSQL network.privateDnsZoneArmResourceId is {zone!r}; use a private DNS zone whose name "
            f"ends in {PRIVATE_ZONE_SUFFIX}."
        ]
    return []


def _public_access(props: Mapping[str, Any]) -> str:
    value = peek(sub(props, "network"), "publicNetworkAccess")
    return value.lower() if isinstance(value, str) else "enabled"  # ARM's default without VNet injection


def check_reachable(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    servers = of_type(resources, POSTGRES)
    rules = of_type(resources, FIREWALL_RULE)
    endpoints = of_type(resources, PRIVATE_ENDPOINT)
    problems: list[tuple[str, str]] = []
    for server in servers:
        if postgres_vnet_injected(server.props) or _public_access(server.props) != "enabled":
            continue
        own_rules = [
            r
            for r in rules
            if server in linked(r, "serverName", [server], peek(r.props, "serverName"), "serverName")
        ]
        if own_rules or any(endpoint_targets(pe, server) for pe in endpoints):
            continue
        problems.append(
            (
                f"PostgreSQL server '{server.name}' has public network access enabled but no "
                f"{FIREWALL_RULE} and no private endpoint, so nothing can connect; add a firewall rule for "
                f'the clients\' addresses or a private endpoint (or set publicNetworkAccess to "Disabled" '
                f"with a private endpoint).",
                server.urn,
            )
        )
    return problems


_rule = rule_maker("PG", prefix="engram-dbforpostgresql-server-", types=(POSTGRES,))


BURSTABLE_NO_HA = _rule(
    1,
    "disallow-burstable-high-availability",
    "A Burstable PostgreSQL flexible server cannot have high availability.",
    "High availability (same-zone or zone-redundant) is offered on GeneralPurpose and MemoryOptimized "
    "compute only; ARM refuses a Burstable server with a standby.",
    'Set highAvailability.mode="Disabled", or move to a GeneralPurpose Standard_D*ds SKU.',
    "https://learn.microsoft.com/azure/reliability/reliability-postgresql-flexible-server",
)
SKU_TIER = _rule(
    2,
    "configure-sku-matching-tier",
    "A PostgreSQL flexible server's SKU name must belong to its tier.",
    "Burstable sizes are Standard_B*, GeneralPurpose Standard_D*, MemoryOptimized Standard_E*; a name from "
    "another family is refused at creation.",
    "Pick sku.name from the tier's family (e.g. Standard_D2ds_v5 with GeneralPurpose).",
    "https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-compute",
)
BACKUP_RETENTION = _rule(
    3,
    "configure-backup-retention-range",
    "PostgreSQL flexible server backup retention must be between 7 and 35 days.",
    "The service keeps 7 to 35 days of point-in-time backups; other values are refused.",
    "Set backup.backupRetentionDays to a value from 7 to 35.",
    "https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-backup-restore",
)
STORAGE_SIZE = _rule(
    4,
    "configure-storage-size",
    "PostgreSQL flexible server storage must be one of the offered sizes.",
    "Premium SSD storage comes in fixed sizes from 32 GiB to 32 TiB and can be grown but never shrunk, so "
    "a size in between is refused and an oversized one is permanent.",
    "Set storage.storageSizeGB to 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384 or 32767.",
    "https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-storage",
)
SERVER_NAME_RULE = _rule(
    5,
    "configure-valid-name",
    "A PostgreSQL flexible server name must be 3-63 lower-case letters, digits or hyphens.",
    "The name becomes <name>.postgres.database.azure.com, so it must be a DNS label and globally unique; "
    "ARM refuses other names.",
    "Rename the server: lower case, digits and inner hyphens, 3 to 63 characters.",
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules"
    "#microsoftdbforpostgresql",
    severity=Severity.MEDIUM,
    psrule="Azure.PostgreSQL.ServerName",
)
ADMIN_LOGIN = _rule(
    6,
    "disallow-reserved-admin-login",
    "A PostgreSQL flexible server administrator login must not be a reserved name.",
    "azure_superuser, azure_pg_admin, admin, administrator, root, guest, public and any pg_ name are taken "
    "by the service or PostgreSQL; the login cannot be changed after creation.",
    "Choose another administratorLogin (letters and digits, not starting with pg_).",
    "https://learn.microsoft.com/azure/postgresql/flexible-server/quickstart-create-server",
)
PRIVATE_DNS = _rule(
    7,
    "configure-private-dns-zone",
    "A VNet-injected PostgreSQL server needs a private DNS zone named *.postgres.database.azure.com.",
    "With private access (VNet integration) the server's name resolves only through the linked private DNS "
    "zone; the zone must be named <anything>.postgres.database.azure.com. Private access and public access "
    "are chosen at creation and cannot be switched later.",
    "Set network.privateDnsZoneArmResourceId to a zone such as privatelink.postgres.database.azure.com.",
    "https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-networking-private",
)
REACHABLE = _rule(
    8,
    "require-firewall-rule-or-private-endpoint",
    "A PostgreSQL flexible server with public access needs a firewall rule or a private endpoint.",
    "Public access only opens the endpoint: the server firewall denies every address until a firewall rule "
    "allows it, so with no rule and no private endpoint nothing can connect. The 0.0.0.0-0.0.0.0 rule means "
    "'allow Azure services' and admits any Azure IP, other tenants' included: prefer specific ranges or a "
    "private endpoint.",
    "Add an azure-native:dbforpostgresql:FirewallRule for the clients, or a private endpoint.",
    "https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-firewall-rules",
    resource_types=("stack",),
)

CATALOGUE = [
    BURSTABLE_NO_HA.resource(check_burstable_no_ha),
    SKU_TIER.resource(check_sku_matches_tier),
    BACKUP_RETENTION.resource(check_backup_retention),
    STORAGE_SIZE.resource(check_storage_size),
    SERVER_NAME_RULE.resource(check_server_name),
    ADMIN_LOGIN.resource(check_admin_login),
    PRIVATE_DNS.resource(check_private_dns_zone),
    REACHABLE.stack(check_reachable),
]
