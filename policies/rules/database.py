"""PostgreSQL rules: zone-redundant high availability and geo-redundant backup in production.

SOP-DB-001  highAvailability.mode ZoneRedundant (prod)
SOP-DB-002  backup.geoRedundantBackup Enabled (prod)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from .common import POSTGRES, PROD, Rule, RuleContext, sub


def check_postgres_zone_redundant_ha(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    mode = sub(props, "highAvailability").get("mode")
    if isinstance(mode, str) and mode.lower() == "zoneredundant":
        return []
    return [f'PostgreSQL highAvailability.mode is {mode!r}; set highAvailability.mode to "ZoneRedundant".']


def check_postgres_geo_backup(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = sub(props, "backup").get("geoRedundantBackup")
    if isinstance(value, str) and value.lower() == "enabled":
        return []
    return [f'PostgreSQL backup.geoRedundantBackup is {value!r}; set backup.geoRedundantBackup to "Enabled".']


ZONE_REDUNDANT_HA = Rule(
    id="SOP-DB-001",
    name="engram-dbforpostgresql-server-configure-zone-redundant-ha",
    description="Production PostgreSQL servers must run zone-redundant high availability.",
    why="The SOP's production HA target survives the loss of an availability zone without data loss.",
    severity=Severity.HIGH,
    enforcement=EnforcementLevel.MANDATORY,
    sop_section="8",
    levels=frozenset({5}),
    resource_types=(POSTGRES,),
    fix='Set highAvailability = {mode: "ZoneRedundant"} on a General Purpose or Memory Optimized SKU.',
    psrule="Azure.PostgreSQL.ZoneRedundantHA",
)
GEO_BACKUP = Rule(
    id="SOP-DB-002",
    name="engram-dbforpostgresql-server-enable-geo-redundant-backup",
    description="Production PostgreSQL servers must keep geo-redundant backups.",
    why="Disaster recovery to the paired region needs backups that outlive the primary region.",
    severity=Severity.HIGH,
    enforcement=EnforcementLevel.MANDATORY,
    sop_section="8",
    levels=frozenset({5}),
    resource_types=(POSTGRES,),
    fix='Set backup.geoRedundantBackup="Enabled" (only possible at server creation).',
    psrule="Azure.PostgreSQL.GeoRedundantBackup",
    checkov="CKV_AZURE_136",
)

CATALOGUE = [
    ZONE_REDUNDANT_HA.resource(check_postgres_zone_redundant_ha),
    GEO_BACKUP.resource(check_postgres_geo_backup),
]
