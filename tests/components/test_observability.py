"""SOP 6.6 alert rules deploy the service's own queries over the telemetry it really emits."""

from __future__ import annotations

import re

import pytest

from app.observability import alerts, signals
from components.observability import ALERT_ROUTES, HIGH, LOW, MEDIUM, ObservabilityArgs
from policies.plan import OfflinePlan
from tests.components.conftest import LEVELS, by_id, plan_for

SIGNAL_NAMES = {s.name for s in signals.ALL_SIGNALS}


def deployed_rules() -> dict[str, dict[str, object]]:
    plan = plan_for("prod")
    return {
        r.name.split("-alert-")[1]: r.inputs for r in plan.of_type("azure-native:monitor:ScheduledQueryRule")
    }


@pytest.mark.parametrize("rule", alerts.SOP_ALERTS, ids=lambda r: r.id)
def test_each_deployed_query_references_what_the_service_emits(rule: alerts.AlertQuery) -> None:
    inputs = deployed_rules()[rule.id]
    query = inputs["criteria"]["allOf"][0]["query"]  # type: ignore[index]
    assert query == rule.kql
    quoted = set(re.findall(r'"([^"]+)"', query))
    metric_names = quoted & SIGNAL_NAMES
    # Every quoted name is a signal from app/observability/signals.py or the chat route's span.
    assert quoted <= SIGNAL_NAMES | {alerts.CHAT_REQUEST_SPAN}
    assert set(rule.reads) <= quoted
    if rule.id != alerts.CHAT_P95.id:
        assert metric_names, f"{rule.id} reads a signal"


def test_every_service_alert_is_routed_with_its_sop_severity() -> None:
    assert set(ALERT_ROUTES) == {a.id for a in alerts.SOP_ALERTS}
    rules = deployed_rules()
    groups = {
        g.id: g.name.rsplit("-", 1)[1] for g in plan_for("prod").of_type("azure-native:monitor:ActionGroup")
    }
    seen = {
        key: (inputs["severity"], {groups[g] for g in inputs["actions"]["actionGroups"]})  # type: ignore[index]
        for key, inputs in rules.items()
    }
    assert seen == {
        "voicelive-error-rate": (HIGH, {"pagerduty", "slack"}),
        "chat-latency-p95": (MEDIUM, {"slack"}),
        "voice-sessions-active": (LOW, {"email"}),
        "auth-failures": (HIGH, {"pagerduty", "security"}),
    }


def test_rules_fire_on_rows_and_watch_application_insights() -> None:
    plan = plan_for("prod")
    insights = plan.one("azure-native:applicationinsights:Component")
    for inputs in deployed_rules().values():
        condition = inputs["criteria"]["allOf"][0]  # type: ignore[index]
        assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == (
            "Count",
            "GreaterThan",
            0,
        )
        assert inputs["scopes"] == [insights.id]
        assert inputs["windowSize"] == inputs["evaluationFrequency"] == "PT5M"


def test_retention_bounds() -> None:
    with pytest.raises(ValueError, match="retention_days must be 30..730"):
        ObservabilityArgs(
            resource_group_name="rg", location="eastus2", tags={}, retention_days=7, alerts=False
        )


def test_key_vault_event_routes_name_real_receivers() -> None:
    """Each Key Vault event goes to action groups the component creates, at an Event Grid severity."""
    from components.observability import KEY_VAULT_EVENT_ROUTES
    from policies.rules.azure.eventgrid import SEVERITIES

    receivers = {"pagerduty", "slack", "email", "security"}  # Observability._action_groups
    assert set(KEY_VAULT_EVENT_ROUTES) == {
        "Microsoft.KeyVault.SecretNearExpiry",
        "Microsoft.KeyVault.SecretExpired",
    }
    for route in KEY_VAULT_EVENT_ROUTES.values():
        assert route.severity in SEVERITIES
        assert route.action_groups and set(route.action_groups) <= receivers


def test_audit_diagnostic_settings_from_test_upward(plan: OfflinePlan) -> None:
    settings = plan.of_type("azure-native:monitor:DiagnosticSetting")
    targets = by_id(plan)
    audited = {targets[s.inputs["resourceUri"]].type: s for s in settings}
    if LEVELS[plan.stack] < 3:
        assert audited == {}
        return
    expected = {
        "azure-native:keyvault:Vault": "AuditEvent",
        "azure-native:cognitiveservices:Account": "Audit",
        "azure-native:dbforpostgresql:Server": "PostgreSQLLogs",
        "azure-native:apimanagement:ApiManagementService": "GatewayLogs",
    }
    assert set(audited) == set(expected)
    workspace = plan.one("azure-native:operationalinsights:Workspace")
    for type_token, category in expected.items():
        setting = audited[type_token]
        assert category in {log["category"] for log in setting.inputs["logs"]}
        assert setting.inputs["workspaceId"] == workspace.id


def test_alert_rules_and_action_groups(plan: OfflinePlan) -> None:
    rules = plan.of_type("azure-native:monitor:ScheduledQueryRule")
    groups = plan.of_type("azure-native:monitor:ActionGroup")
    if LEVELS[plan.stack] < 3:
        assert rules == [] and groups == []
        return
    assert len(rules) == 4 and len(groups) == 4
    insights = plan.one("azure-native:applicationinsights:Component")
    assert all(r.inputs["scopes"] == [insights.id] for r in rules)
    assert {len(r.inputs["actions"]["actionGroups"]) for r in rules} == {1, 2}


def test_log_retention_follows_the_profile(plan: OfflinePlan) -> None:
    workspace = plan.one("azure-native:operationalinsights:Workspace")
    expected = {"staging": 30, "dev": 30, "test": 30, "uat": 60, "prod": 90}[plan.stack]
    assert workspace.inputs["retentionInDays"] == expected
    insights = plan.one("azure-native:applicationinsights:Component")
    assert insights.inputs["ingestionMode"] == "LogAnalytics"
    assert insights.inputs["workspaceResourceId"] == workspace.id
