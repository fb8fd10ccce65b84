"""Database: PostgreSQL tier, HA, backups and firewall per stack; its args."""

from __future__ import annotations

import pytest

from components.database import DatabaseArgs
from tests.components.conftest import plan_for


@pytest.mark.parametrize(
    ("stack", "tier", "ha", "geo", "retention"),
    [
        ("test", "Burstable", "Disabled", "Disabled", 7),
        ("uat", "GeneralPurpose", "Disabled", "Disabled", 14),
        ("prod", "GeneralPurpose", "ZoneRedundant", "Enabled", 35),
    ],
)
def test_postgres_tier_ha_and_backups(stack: str, tier: str, ha: str, geo: str, retention: int) -> None:
    plan = plan_for(stack)
    server = plan.one("azure-native:dbforpostgresql:Server")
    assert server.inputs["sku"]["tier"] == tier
    assert server.inputs["highAvailability"]["mode"] == ha
    assert server.inputs["backup"] == {"backupRetentionDays": retention, "geoRedundantBackup": geo}
    assert server.inputs["authConfig"]["activeDirectoryAuth"] == "Enabled"
    assert server.protect is (stack == "prod")
    database = plan.one("azure-native:dbforpostgresql:Database")
    assert database.inputs["databaseName"] == "engram"


@pytest.mark.parametrize(
    ("stack", "rules"),
    [("test", {("0.0.0.0", "0.0.0.0")}), ("uat", {("0.0.0.0", "0.0.0.0")}), ("prod", set())],
)
def test_the_database_admits_the_app(stack: str, rules: set[tuple[str, str]]) -> None:
    """Public servers (test, uat) get the allow-Azure-services rule; prod is reached privately only."""
    plan = plan_for(stack)
    found = {
        (r.inputs["startIpAddress"], r.inputs["endIpAddress"])
        for r in plan.of_type("azure-native:dbforpostgresql:FirewallRule")
    }
    assert found == rules


def test_a_public_database_without_a_firewall_rule_is_refused() -> None:
    base = {
        "resource_group_name": "rg",
        "location": "eastus2",
        "tags": {},
        "tenant_id": "t",
        "admin_login": "engramadmin",
        "admin_password": "p",
        "public_network_access": "Enabled",
    }
    with pytest.raises(ValueError, match="nothing could connect"):
        DatabaseArgs(**base)  # type: ignore[arg-type]
    ok = DatabaseArgs(firewall_rules=[("azure", "0.0.0.0", "0.0.0.0")], **base)  # type: ignore[arg-type]
    assert ok.firewall_rules
