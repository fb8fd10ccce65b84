"""Observability: where the service's logs, traces and metrics land, and the SOP 6.6 alerts over them.

Creates `azure-native:operationalinsights:Workspace` (retention from the profile),
`azure-native:applicationinsights:Component` (workspace-based: the service's OpenTelemetry metrics
are `customMetrics` on the component, `AppMetrics` in the workspace) and, where alerts are on,
four `azure-native:monitor:ActionGroup`s (PagerDuty webhook, Slack webhook, e-mail, security team)
and one `azure-native:monitor:ScheduledQueryRule` per SOP 6.6 alert, scoped to Application Insights.
The queries are the service's own (`app.observability.alerts`, written next to the signal names in
`app.observability.signals`); this module adds only severity and routing.

`key_vault_event_alerts` routes the vault's secret near-expiry and expiry events (SOP 8.3) to the same
action groups: an `azure-native:eventgrid:SystemTopic` on the vault and one
`azure-native:eventgrid:SystemTopicEventSubscription` per severity, delivering as Azure Monitor alerts
(Event Grid's `MonitorAlert` destination, offered for Key Vault events only; see AZ-EG-*).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import applicationinsights, eventgrid, monitor, operationalinsights

from app.observability import alerts
from components.tier import TierArgs

# Azure Monitor severities: 0 critical, 1 error, 2 warning, 3 informational.
HIGH, MEDIUM, LOW = 1, 2, 3


@dataclass(frozen=True)
class AlertRoute:
    """How loud one SOP 6.6 alert is and who hears it (the query itself is the service's)."""

    severity: int
    action_groups: tuple[str, ...]


#: SOP 6.6: severity and receivers per alert id of `app.observability.alerts.SOP_ALERTS`.
ALERT_ROUTES: Mapping[str, AlertRoute] = {
    alerts.VOICE_ERROR_RATE.id: AlertRoute(HIGH, ("pagerduty", "slack")),
    alerts.CHAT_P95.id: AlertRoute(MEDIUM, ("slack",)),
    alerts.ACTIVE_SESSIONS.id: AlertRoute(LOW, ("email",)),
    alerts.AUTH_FAILURES.id: AlertRoute(HIGH, ("pagerduty", "security")),
}


@dataclass(frozen=True)
class EventRoute:
    """How loud one Key Vault event is and who hears it (Event Grid alert severities are Sev0..Sev4)."""

    severity: Literal["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"]
    action_groups: tuple[str, ...]


#: SOP 8.3: Key Vault publishes SecretNearExpiry 30 days before a secret version's expiry and
#: SecretExpired on the day; both reach the action groups as Azure Monitor alerts.
KEY_VAULT_EVENT_ROUTES: Mapping[str, EventRoute] = {
    "Microsoft.KeyVault.SecretNearExpiry": EventRoute("Sev2", ("email", "security")),
    "Microsoft.KeyVault.SecretExpired": EventRoute("Sev1", ("pagerduty", "security")),
}


@dataclass(frozen=True, kw_only=True)
class AlertReceivers:
    """Who hears the alerts (from stack config; webhook URLs are secrets)."""

    pagerduty_webhook: pulumi.Input[str] | None = None
    slack_webhook: pulumi.Input[str] | None = None
    emails: Sequence[str] = ()
    security_emails: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class ObservabilityArgs(TierArgs):
    retention_days: int
    alerts: bool
    receivers: AlertReceivers = AlertReceivers()

    def __post_init__(self) -> None:
        if not 30 <= self.retention_days <= 730:
            raise ValueError(f"retention_days must be 30..730, got {self.retention_days}")


class Observability(pulumi.ComponentResource):
    workspace_id: pulumi.Output[str]  # diagnostic settings of every tier send here
    workspace_customer_id: pulumi.Output[str]  # the Container Apps environment's log destination
    workspace_name: pulumi.Output[str]
    connection_string: pulumi.Output[str]  # APPLICATIONINSIGHTS_CONNECTION_STRING (kept secret)
    action_group_ids: dict[str, pulumi.Output[str]]  # by receiver key; empty where alerts are off

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        workspace = operationalinsights.Workspace(
            f"{name}-log",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            sku={"name": "PerGB2018"},
            retention_in_days=args.retention_days,
            opts=child,
        )
        insights = applicationinsights.Component(
            f"{name}-appi",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            kind="web",
            application_type="web",
            ingestion_mode="LogAnalytics",
            workspace_resource_id=workspace.id,
            retention_in_days=args.retention_days,
            opts=child,
        )
        groups: dict[str, pulumi.Output[str]] = {}
        if args.alerts:
            groups = self._action_groups(name, args, child)
            for rule in alerts.SOP_ALERTS:
                route = ALERT_ROUTES[rule.id]  # a new service alert must be routed here first
                window = f"PT{rule.window_minutes}M"
                monitor.ScheduledQueryRule(
                    f"{name}-alert-{rule.id}",
                    resource_group_name=args.resource_group_name,
                    location=args.location,
                    tags=dict(args.tags),
                    kind="LogAlert",
                    description=f"{rule.title}: {rule.condition} (SOP {rule.sop}).",
                    display_name=f"engram {rule.id}",
                    enabled=True,
                    severity=route.severity,
                    # The queries use Application Insights table names (customMetrics, requests).
                    scopes=[insights.id],
                    evaluation_frequency=window,
                    window_size=window,
                    auto_mitigate=True,
                    criteria={
                        "all_of": [
                            {
                                # The query returns rows only when the SOP condition holds.
                                "query": rule.kql,
                                "time_aggregation": "Count",
                                "operator": "GreaterThan",
                                "threshold": 0,
                                "failing_periods": {
                                    "number_of_evaluation_periods": 1,
                                    "min_failing_periods_to_alert": 1,
                                },
                            }
                        ]
                    },
                    actions={"action_groups": [groups[g] for g in route.action_groups]},
                    opts=child,
                )

        self.action_group_ids = groups
        self.workspace_id = workspace.id
        self.workspace_customer_id = workspace.customer_id
        self.workspace_name = workspace.name
        self.connection_string = pulumi.Output.secret(insights.connection_string)
        self.register_outputs({"workspace_id": workspace.id, "workspace_customer_id": workspace.customer_id})

    @staticmethod
    def _action_groups(
        name: str, args: ObservabilityArgs, child: pulumi.ResourceOptions
    ) -> dict[str, pulumi.Output[str]]:
        receivers = args.receivers

        def webhooks(key: str, url: pulumi.Input[str] | None) -> list[monitor.WebhookReceiverArgsDict]:
            return [] if url is None else [{"name": key, "service_uri": url, "use_common_alert_schema": True}]

        def emails(key: str, addresses: Sequence[str]) -> list[monitor.MicrosoftCommonEmailReceiverArgsDict]:
            return [
                {"name": f"{key}-{i}", "email_address": a, "use_common_alert_schema": True}
                for i, a in enumerate(addresses)
            ]

        specs = {
            "pagerduty": (webhooks("pagerduty", receivers.pagerduty_webhook), []),
            "slack": (webhooks("slack", receivers.slack_webhook), []),
            "email": ([], emails("email", receivers.emails)),
            "security": ([], emails("security", receivers.security_emails)),
        }
        groups: dict[str, pulumi.Output[str]] = {}
        for key, (hooks, mails) in specs.items():
            group = monitor.ActionGroup(
                f"{name}-ag-{key}",
                resource_group_name=args.resource_group_name,
                location="global",  # action groups are global resources
                tags=dict(args.tags),
                group_short_name=f"engram-{key}"[:12],
                enabled=True,
                webhook_receivers=hooks,
                email_receivers=mails,
                opts=child,
            )
            groups[key] = group.id
        return groups


def audit_diagnostics(
    name: str,
    *,
    target_id: pulumi.Input[str],
    workspace_id: pulumi.Input[str],
    categories: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> monitor.DiagnosticSetting:
    """Send a resource's audit log categories to Log Analytics (SOP: audit logging from test upward)."""
    return monitor.DiagnosticSetting(
        name,
        name="engram-audit",
        resource_uri=target_id,
        workspace_id=workspace_id,
        log_analytics_destination_type="Dedicated",
        logs=[{"category": category, "enabled": True} for category in categories],
        opts=opts,
    )


def key_vault_event_alerts(
    name: str,
    *,
    vault_id: pulumi.Input[str],
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    action_groups: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> eventgrid.SystemTopic:
    """Deliver the vault's expiry events (`KEY_VAULT_EVENT_ROUTES`) to the action groups as alerts.

    Key Vault raises these only for secret versions created after the subscription exists (the runbook
    says to re-set the secrets once after the first deployment).
    """
    topic = eventgrid.SystemTopic(
        f"{name}-events",
        resource_group_name=resource_group_name,
        location=location,  # a regional resource's system topic lives in that resource's region
        tags=dict(tags),
        source=vault_id,
        topic_type="Microsoft.KeyVault.vaults",
        opts=opts,
    )
    for event_type, route in KEY_VAULT_EVENT_ROUTES.items():
        slug = event_type.rsplit(".", 1)[1].lower()  # secretnearexpiry | secretexpired
        eventgrid.SystemTopicEventSubscription(
            f"{name}-{slug}",
            resource_group_name=resource_group_name,
            system_topic_name=topic.name,
            event_subscription_name=slug,
            # The Azure Monitor alert destination takes CloudEvents v1.0 only (AZ-EG-001).
            event_delivery_schema="CloudEventSchemaV1_0",
            filter={"included_event_types": [event_type]},
            destination={
                "endpoint_type": "MonitorAlert",
                "severity": route.severity,
                "description": f"engram: Key Vault {event_type.rsplit('.', 1)[1]} (SOP 8.3): rotate the "
                "secret (engram secrets rotate; docs/runbook.md).",
                "action_groups": [action_groups[g] for g in route.action_groups if g in action_groups],
            },
            opts=opts,
        )
    return topic
