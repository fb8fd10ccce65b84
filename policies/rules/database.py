"""PostgreSQL rules: zone-redundant high availability and geo-redundant backup in production.

SOP-DB-001  highAvailability.mode ZoneRedundant (prod)
SOP-DB-002  backup.geoRedundantBackup Enabled (prod)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import POSTGRES, PROD, RuleContext, rule_maker, sub


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


_rule = rule_maker(
    "SOP-DB", resource_types=(POSTGRES,), severity=Severity.HIGH, sop_section="8", levels=frozenset({5})
)

ZONE_REDUNDANT_HA = _rule(
    1,
    "engram-dbforpostgresql-server-configure-zone-redundant-ha",
    "Production PostgreSQL servers must run zone-redundant high availability.",
    "The SOP's production HA target survives the loss of an availability zone without data loss.",
    'Set highAvailability = {mode: "ZoneRedundant"} on a General Purpose or Memory Optimized SKU.',
    psrule="Azure.PostgreSQL.ZoneRedundantHA",
)
GEO_BACKUP = _rule(
    2,
    "engram-dbforpostgresql-server-enable-geo-redundant-backup",
    "Production PostgreSQL servers must keep geo-redundant backups.",
    "Disaster recovery to the paired region needs backups that outlive the primary region.",
    'Set backup.geoRedundantBackup="Enabled" (only possible at server creation).',
    psrule="Azure.PostgreSQL.GeoRedundantBackup",
    checkov="CKV_AZURE_136",
)

CATALOGUE = [
    ZONE_REDUNDANT_HA.resource(check_postgres_zone_redundant_ha),
    GEO_BACKUP.resource(check_postgres_geo_backup),
]
