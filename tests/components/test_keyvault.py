"""KeyVault: SKU and protection per stack, secret expiry on the SOP schedule, expiry events, its args."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from components.keyvault import KeyVaultArgs
from policies.plan import OfflinePlan
from tests.components.conftest import STACKS, plan_for


def test_key_vault_sku_and_protection(plan: OfflinePlan) -> None:
    vault = plan.one("azure-native:keyvault:Vault")
    props = vault.inputs["properties"]
    assert props["sku"]["name"] == ("premium" if plan.stack == "prod" else "standard")
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["softDeleteRetentionInDays"] == (7 if plan.stack in ("staging", "dev") else 90)
    assert vault.protect is (plan.stack == "prod")


@pytest.mark.parametrize("stack", STACKS)
def test_key_vault_secrets_expire_on_the_sop_schedule(stack: str) -> None:
    """SOP 8.3: API keys 90 days, the database password 180, the rest a year, from secretsRotatedOn."""
    rotated = datetime(2026, 12, 1, tzinfo=UTC)
    days = {
        "azure-ai-key": 90,
        "zep-api-key": 90,
        "database-url": 180,
        "redis-url": 365,
        "encryption-key": 365,
        "audit-pseudonym-key": 365,
        "appinsights-connection-string": 365,
    }
    secrets = plan_for(stack).of_type("azure-native:keyvault:Secret")
    assert secrets
    for secret in secrets:
        name = secret.inputs["secretName"]
        expires = secret.inputs["properties"]["attributes"]["expires"]
        assert expires == (rotated + timedelta(days=days[name])).timestamp(), name


def test_key_vault_args() -> None:
    base = {"resource_group_name": "rg", "location": "eastus2", "tags": {}, "tenant_id": "t"}
    with pytest.raises(ValueError, match="3-24"):
        KeyVaultArgs(vault_name="this-name-is-far-too-long-for-a-vault", **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="7..90"):
        KeyVaultArgs(vault_name="kv-ok", soft_delete_retention_days=120, **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret names"):
        KeyVaultArgs(vault_name="kv-ok", secrets={"AZURE_AI_KEY": "x"}, **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not hold: \\['zep-api-key'\\]"):
        KeyVaultArgs(vault_name="kv-ok", secret_expiry={"zep-api-key": 1}, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize("stack", STACKS)
def test_key_vault_expiry_events_reach_the_action_groups(stack: str) -> None:
    """SOP 8.3: where alerts are on, SecretNearExpiry and SecretExpired become Azure Monitor alerts."""
    plan = plan_for(stack)
    groups = {g.name.rsplit("-ag-", 1)[1]: g.id for g in plan.of_type("azure-native:monitor:ActionGroup")}
    topics = plan.of_type("azure-native:eventgrid:SystemTopic")
    subscriptions = plan.of_type("azure-native:eventgrid:SystemTopicEventSubscription")
    if not groups:  # alerts off (staging, dev): no event path either
        assert topics == [] and subscriptions == []
        return
    (topic,) = topics
    vault = plan.one("azure-native:keyvault:Vault")
    assert topic.inputs["source"] == vault.id
    assert topic.inputs["topicType"] == "Microsoft.KeyVault.vaults"
    assert topic.inputs["location"] == vault.inputs["location"]
    routes = {}
    for sub in subscriptions:
        assert sub.inputs["systemTopicName"] == topic.outputs["name"]
        assert sub.inputs["eventDeliverySchema"] == "CloudEventSchemaV1_0"
        destination = sub.inputs["destination"]
        assert destination["endpointType"] == "MonitorAlert"
        (event_type,) = sub.inputs["filter"]["includedEventTypes"]
        routes[event_type] = (destination["severity"], sorted(destination["actionGroups"]))
    assert routes == {
        "Microsoft.KeyVault.SecretNearExpiry": ("Sev2", sorted([groups["email"], groups["security"]])),
        "Microsoft.KeyVault.SecretExpired": ("Sev1", sorted([groups["pagerduty"], groups["security"]])),
    }
