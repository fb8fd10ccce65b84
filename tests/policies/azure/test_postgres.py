"""AZ-PG-*: a compliant flexible server passes; each single mutation fails with its message."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules.azure import postgres
from tests.policies.builders import (
    POSTGRES,
    PRIVATE_ENDPOINT,
    messages,
    private_endpoint,
    resource,
    run_resource,
    run_stack,
)

FIREWALL = postgres.FIREWALL_RULE


def server(**extra: Any) -> dict[str, Any]:
    from tests.policies.builders import postgres as build

    props = build()
    props["administratorLogin"] = "engramadmin"
    props["storage"] = {"storageSizeGB": 128.0}
    props.update(extra)
    return props


@pytest.mark.parametrize("entry", postgres.CATALOGUE[:7], ids=lambda e: e.rule.id)
def test_compliant_server_passes(entry) -> None:
    assert run_resource(entry, POSTGRES, server()) == []


def test_burstable_with_ha_is_violation() -> None:
    props = server(sku={"name": "Standard_B1ms", "tier": "Burstable"})
    assert messages(run_resource(postgres.CATALOGUE[0], POSTGRES, props)) == [
        "PostgreSQL server sku.tier is \"Burstable\" with highAvailability.mode 'ZoneRedundant'; the "
        "Burstable "
        'tier has no high availability: set highAvailability.mode to "Disabled" or use a GeneralPurpose SKU.'
    ]
    props["highAvailability"] = {"mode": "Disabled"}
    assert run_resource(postgres.CATALOGUE[0], POSTGRES, props) == []


def test_sku_from_another_tier_is_violation() -> None:
    props = server(sku={"name": "Standard_B2s", "tier": "GeneralPurpose"})
    assert messages(run_resource(postgres.CATALOGUE[1], POSTGRES, props)) == [
        "PostgreSQL server sku.name 'Standard_B2s' is not a GeneralPurpose size; set sku.name to a "
        "Standard_D* size."
    ]


def test_backup_retention_out_of_range_is_violation() -> None:
    props = server()
    props["backup"]["backupRetentionDays"] = 90.0
    assert messages(run_resource(postgres.CATALOGUE[2], POSTGRES, props)) == [
        "PostgreSQL server backup.backupRetentionDays is 90; set it between 7 and 35."
    ]


def test_storage_size_not_offered_is_violation() -> None:
    props = server(storage={"storageSizeGB": 100.0})
    assert messages(run_resource(postgres.CATALOGUE[3], POSTGRES, props))[0].startswith(
        "PostgreSQL server storage.storageSizeGB is 100; set it to one of 32, 64, 128,"
    )


def test_invalid_server_name_is_violation() -> None:
    props = server(serverName="PSQL_Engram")
    assert messages(run_resource(postgres.CATALOGUE[4], POSTGRES, props)) == [
        "PostgreSQL serverName 'PSQL_Engram' is invalid; use 3-63 lower-case letters, digits and hyphens, "
        "starting and ending with a letter or digit."
    ]


@pytest.mark.parametrize("login", ["admin", "azure_superuser", "pg_engram", "Root"])
def test_reserved_admin_login_is_violation(login: str) -> None:
    found = messages(run_resource(postgres.CATALOGUE[5], POSTGRES, server(administratorLogin=login)))
    assert found and found[0].startswith(f"PostgreSQL administratorLogin {login!r} is reserved;")


def test_vnet_injection_without_dns_zone_is_violation() -> None:
    props = server(network={"delegatedSubnetResourceId": "/subscriptions/x/subnets/pg"})
    assert messages(run_resource(postgres.CATALOGUE[6], POSTGRES, props)) == [
        "PostgreSQL network.delegatedSubnetResourceId is set but network.privateDnsZoneArmResourceId is not; "
        "set it to a private DNS zone whose name ends in .postgres.database.azure.com."
    ]
    props["network"]["privateDnsZoneArmResourceId"] = (
        "/subscriptions/x/privateDnsZones/privatelink.vaultcore.azure.net"
    )
    assert "use a private DNS zone" in messages(run_resource(postgres.CATALOGUE[6], POSTGRES, props))[0]
    props["network"]["privateDnsZoneArmResourceId"] = (
        "/subscriptions/x/privateDnsZones/engram.postgres.database.azure.com"
    )
    assert run_resource(postgres.CATALOGUE[6], POSTGRES, props) == []


def _public_server() -> Any:
    return resource(POSTGRES, server(network={"publicNetworkAccess": "Enabled"}), name="pg")


def test_public_server_without_firewall_rule_is_violation() -> None:
    findings = run_stack(postgres.CATALOGUE[7], [_public_server()])
    assert messages(findings) == [
        f"PostgreSQL server 'pg' has public network access enabled but no {FIREWALL} and no private "
        f"endpoint, "
        "so nothing can connect; add a firewall rule for the clients' addresses or a private "
        "endpoint (or set "
        'publicNetworkAccess to "Disabled" with a private endpoint).'
    ]


def test_public_server_with_firewall_rule_or_endpoint_passes() -> None:
    pg = _public_server()
    rule = resource(
        FIREWALL,
        {"serverName": "psql-engram-prod", "startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.1"},
        name="fw",
        property_dependencies={"serverName": (pg.urn,)},
    )
    assert run_stack(postgres.CATALOGUE[7], [pg, rule]) == []
    by_name = resource(FIREWALL, {"serverName": "psql-engram-prod"}, name="fw2")
    assert run_stack(postgres.CATALOGUE[7], [pg, by_name]) == []
    pe = resource(
        PRIVATE_ENDPOINT,
        private_endpoint(group="postgresqlServer"),
        name="pe",
        property_dependencies={"privateLinkServiceConnections": (pg.urn,)},
    )
    assert run_stack(postgres.CATALOGUE[7], [pg, pe]) == []


def test_disabled_public_access_needs_no_firewall_rule() -> None:
    assert run_stack(postgres.CATALOGUE[7], [resource(POSTGRES, server(), name="pg")]) == []
