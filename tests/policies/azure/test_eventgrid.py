"""AZ-EG-*: Event Grid subscriptions that deliver Key Vault events as Azure Monitor alerts."""

from __future__ import annotations

from typing import Any

from policies.rules.azure import eventgrid
from tests.policies.builders import messages, resource, run_resource, run_stack, urn

SCHEMA, SEVERITY, SOURCE = eventgrid.CATALOGUE
SUB, TOPIC = eventgrid.SYSTEM_TOPIC_SUBSCRIPTION, eventgrid.SYSTEM_TOPIC


def subscription() -> dict[str, Any]:
    """A compliant subscription: Key Vault near-expiry events to an action group as Sev2 alerts."""
    return {
        "resourceGroupName": "rg",
        "systemTopicName": "kv-events",
        "eventSubscriptionName": "secretnearexpiry",
        "eventDeliverySchema": "CloudEventSchemaV1_0",
        "filter": {"includedEventTypes": ["Microsoft.KeyVault.SecretNearExpiry"]},
        "destination": {
            "endpointType": "MonitorAlert",
            "severity": "Sev2",
            "actionGroups": [
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Insights/actionGroups/ag"
            ],
        },
    }


def topic(topic_type: str = "Microsoft.KeyVault.vaults") -> dict[str, Any]:
    return {"resourceGroupName": "rg", "source": "/subscriptions/x/vault", "topicType": topic_type}


def test_compliant_subscription_passes() -> None:
    assert run_resource(SCHEMA, SUB, subscription()) == []
    assert run_resource(SEVERITY, SUB, subscription()) == []


def test_event_grid_schema_with_monitor_alert_is_violation() -> None:
    props = subscription()
    props["eventDeliverySchema"] = "EventGridSchema"
    assert messages(run_resource(SCHEMA, SUB, props)) == [
        "Event subscription with a MonitorAlert destination has eventDeliverySchema 'EventGridSchema'; set "
        "eventDeliverySchema to 'CloudEventSchemaV1_0' (the only schema Azure Monitor alerts accept)."
    ]
    del props["eventDeliverySchema"]  # the default is the Event Grid schema
    assert len(run_resource(SCHEMA, SUB, props)) == 1


def test_other_destinations_keep_any_schema() -> None:
    props = subscription()
    props["destination"] = {"endpointType": "WebHook", "endpointUrl": "https://example.test/hook"}
    props["eventDeliverySchema"] = "EventGridSchema"
    assert run_resource(SCHEMA, SUB, props) == []
    assert run_resource(SEVERITY, SUB, props) == []


def test_missing_severity_is_violation() -> None:
    props = subscription()
    del props["destination"]["severity"]
    assert messages(run_resource(SEVERITY, SUB, props)) == [
        "Event subscription MonitorAlert destination severity is None; set destination.severity to one of "
        "Sev0, Sev1, Sev2, Sev3, Sev4."
    ]
    props["destination"]["severity"] = "Critical"
    assert len(run_resource(SEVERITY, SUB, props)) == 1


def test_monitor_alert_from_a_storage_topic_is_violation() -> None:
    deps = {"systemTopicName": (urn(TOPIC, "t"),)}
    key_vault = [
        resource(TOPIC, topic(), name="t"),
        resource(SUB, subscription(), name="s", property_dependencies=deps),
    ]
    assert run_stack(SOURCE, key_vault) == []
    storage = [
        resource(TOPIC, topic("Microsoft.Storage.StorageAccounts"), name="t"),
        resource(SUB, subscription(), name="s", property_dependencies=deps),
    ]
    findings = run_stack(SOURCE, storage)
    assert messages(findings) == [
        "Event subscription 's' delivers to Azure Monitor alerts from system topic 't' of type "
        "'Microsoft.Storage.StorageAccounts'; Azure Monitor alerts take Key Vault events only: use a "
        "webhook, function or queue destination for this topic."
    ]
    assert findings[0].target == f"{SUB}::s"
