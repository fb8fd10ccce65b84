"""Event Grid: system topic event subscriptions that deliver as Azure Monitor alerts.

AZ-EG-001  a MonitorAlert destination uses the CloudEvents v1.0 delivery schema
AZ-EG-002  a MonitorAlert destination has a severity Sev0..Sev4
AZ-EG-003  a MonitorAlert destination subscribes to a Key Vault system topic (stack)

The Azure Monitor alert destination is how the stacks put Key Vault's SecretNearExpiry and SecretExpired
events in front of the action groups (SOP 8.3) without a function or webhook in between.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from ..common import PROD, RuleContext, StackResource, is_map, of_type, peek
from ._factory import rule_maker
from ._plan import linked

SYSTEM_TOPIC = "azure-native:eventgrid:SystemTopic"
SYSTEM_TOPIC_SUBSCRIPTION = "azure-native:eventgrid:SystemTopicEventSubscription"
MONITOR_ALERT = "MonitorAlert"
CLOUD_EVENTS = "CloudEventSchemaV1_0"
KEY_VAULT_TOPIC = "microsoft.keyvault.vaults"
SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")


def _monitor_alert(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    destination = peek(props, "destination")
    if is_map(destination) and peek(destination, "endpointType") == MONITOR_ALERT:
        return destination
    return None


def check_cloud_events_schema(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if _monitor_alert(props) is None:
        return []
    schema = peek(props, "eventDeliverySchema")
    if schema == CLOUD_EVENTS or (schema is not None and not isinstance(schema, str)):
        return []  # unknown at preview: decided at deployment
    return [
        f"Event subscription with a MonitorAlert destination has eventDeliverySchema {schema!r}; set "
        f"eventDeliverySchema to {CLOUD_EVENTS!r} (the only schema Azure Monitor alerts accept)."
    ]


def check_alert_severity(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    destination = _monitor_alert(props)
    if destination is None:
        return []
    severity = peek(destination, "severity")
    if severity in SEVERITIES or (severity is not None and not isinstance(severity, str)):
        return []
    return [
        f"Event subscription MonitorAlert destination severity is {severity!r}; set destination.severity "
        f"to one of {', '.join(SEVERITIES)}."
    ]


def check_key_vault_source(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    topics = of_type(resources, SYSTEM_TOPIC)
    problems: list[tuple[str, str]] = []
    for subscription in of_type(resources, SYSTEM_TOPIC_SUBSCRIPTION):
        if _monitor_alert(subscription.props) is None:
            continue
        name = peek(subscription.props, "systemTopicName")
        for topic in linked(subscription, "systemTopicName", topics, name, "systemTopicName"):
            topic_type = peek(topic.props, "topicType")
            if not isinstance(topic_type, str) or topic_type.lower() == KEY_VAULT_TOPIC:
                continue
            problems.append(
                (
                    f"Event subscription '{subscription.name}' delivers to Azure Monitor alerts from system "
                    f"topic '{topic.name}' of type {topic_type!r}; Azure Monitor alerts take Key Vault "
                    "events only: use a webhook, function or queue destination for this topic.",
                    subscription.urn,
                )
            )
    return problems


_rule = rule_maker("EG", severity=Severity.MEDIUM, types=(SYSTEM_TOPIC_SUBSCRIPTION,))

CLOUD_EVENTS_SCHEMA = _rule(
    1,
    "engram-eventgrid-systemtopiceventsubscription-configure-monitor-alert-schema",
    "An event subscription delivering to Azure Monitor alerts must use the CloudEvents v1.0 schema.",
    "Cloud Events Schema v1.0 is the only event schema the Azure Monitor alert destination supports; "
    "with the Event Grid schema the subscription is refused.",
    "Set eventDeliverySchema to CloudEventSchemaV1_0.",
    "https://learn.microsoft.com/azure/event-grid/handle-key-vault-events-using-azure-monitor-alerts",
)
ALERT_SEVERITY = _rule(
    2,
    "engram-eventgrid-systemtopiceventsubscription-configure-monitor-alert-severity",
    "An event subscription delivering to Azure Monitor alerts must set a severity from Sev0 to Sev4.",
    "The MonitorAlert destination's severity is attached to every alert it fires and must be provided; "
    "the API accepts Sev0 to Sev4.",
    "Set destination.severity to Sev0, Sev1, Sev2, Sev3 or Sev4.",
    "https://learn.microsoft.com/rest/api/eventgrid/controlplane/system-topic-event-subscriptions/"
    "create-or-update",
)
KEY_VAULT_SOURCE = _rule(
    3,
    "engram-eventgrid-systemtopiceventsubscription-require-key-vault-for-monitor-alert",
    "Only Key Vault system topics can deliver events as Azure Monitor alerts.",
    "Azure Monitor alerts as an Event Grid destination is available only for Azure Key Vault system events; "
    "a subscription on another topic type with that destination is refused.",
    "Subscribe the MonitorAlert destination to a Microsoft.KeyVault.vaults system topic, or use another "
    "destination.",
    "https://learn.microsoft.com/azure/event-grid/handler-azure-monitor-alerts",
    resource_types=("stack",),
)

CATALOGUE = [
    CLOUD_EVENTS_SCHEMA.resource(check_cloud_events_schema),
    ALERT_SEVERITY.resource(check_alert_severity),
    KEY_VAULT_SOURCE.stack(check_key_vault_source),
]
