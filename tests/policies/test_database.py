"""PostgreSQL rules: zone-redundant HA and geo-redundant backup in production."""

from __future__ import annotations

from policies.rules import database
from tests.policies.builders import POSTGRES, messages, postgres, run_resource

HA, GEO = database.CATALOGUE


def test_compliant_server_passes() -> None:
    assert run_resource(HA, POSTGRES, postgres()) == []
    assert run_resource(GEO, POSTGRES, postgres()) == []


def test_ha_disabled_is_violation() -> None:
    props = postgres()
    props["highAvailability"]["mode"] = "Disabled"
    assert messages(run_resource(HA, POSTGRES, props)) == [
        "PostgreSQL highAvailability.mode is 'Disabled'; set highAvailability.mode to \"ZoneRedundant\"."
    ]


def test_same_zone_ha_is_violation() -> None:
    props = postgres()
    props["highAvailability"]["mode"] = "SameZone"
    assert "is 'SameZone'" in messages(run_resource(HA, POSTGRES, props))[0]


def test_geo_backup_disabled_is_violation_in_prod_only() -> None:
    props = postgres()
    props["backup"]["geoRedundantBackup"] = "Disabled"
    assert messages(run_resource(GEO, POSTGRES, props)) == [
        "PostgreSQL backup.geoRedundantBackup is 'Disabled'; set backup.geoRedundantBackup to \"Enabled\"."
    ]
    uat = postgres("uat")
    uat["backup"]["geoRedundantBackup"] = "Disabled"
    assert run_resource(GEO, POSTGRES, uat, stack="uat") == []
