"""AZ-MON-*: workspace-based App Insights, retention, diagnostic settings, query rules, action groups."""

from __future__ import annotations

from policies.rules.azure import monitor
from tests.policies.builders import (
    DIAGNOSTIC,
    action_group,
    app_insights,
    diagnostic_setting,
    log_workspace,
    messages,
    resource,
    run_resource,
    run_stack,
    scheduled_query_rule,
)

WORKSPACE_BASED, RETENTION, COUNT, QUERY, SHORT = monitor.CATALOGUE
SQR, AG = monitor.SCHEDULED_QUERY_RULES[0], monitor.ACTION_GROUPS[0]


def test_workspace_based_app_insights() -> None:
    assert run_resource(WORKSPACE_BASED, monitor.APP_INSIGHTS, app_insights()) == []
    props = app_insights()
    del props["workspaceResourceId"]
    assert messages(run_resource(WORKSPACE_BASED, monitor.APP_INSIGHTS, props)) == [
        "Application Insights workspaceResourceId is not set (a classic resource, retired 29 "
        "February 2024); set "
        "workspaceResourceId to a Log Analytics workspace."
    ]


def test_retention_range() -> None:
    assert run_resource(RETENTION, monitor.WORKSPACE, log_workspace()) == []
    props = log_workspace()
    props["retentionInDays"] = 7.0
    assert messages(run_resource(RETENTION, monitor.WORKSPACE, props)) == [
        "Log Analytics workspace retentionInDays is 7; set it between 30 and 730 (keep older data "
        "with long-term "
        "retention per table)."
    ]


def test_diagnostic_settings_per_resource() -> None:
    uri = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
    five = [resource(DIAGNOSTIC, diagnostic_setting(uri), name=f"d{i}") for i in range(5)]
    assert run_stack(COUNT, five) == []
    six = [*five, resource(DIAGNOSTIC, diagnostic_setting(uri), name="d5")]
    findings = run_stack(COUNT, six)
    assert messages(findings) == [
        f"6 diagnostic settings target {uri.lower()}; a resource takes at most 5: merge them (one "
        f"setting can send "
        "to a workspace, a storage account and an event hub at once)."
    ]
    assert findings[0].target == f"{DIAGNOSTIC}::d5"


def test_scheduled_query_rule() -> None:
    assert run_resource(QUERY, SQR, scheduled_query_rule()) == []
    props = scheduled_query_rule()
    props["severity"] = 5.0
    assert messages(run_resource(QUERY, SQR, props)) == [
        "Scheduled query rule severity is 5; set a severity from 0 to 4."
    ]
    props = scheduled_query_rule()
    props["scopes"] = []
    assert messages(run_resource(QUERY, SQR, props)) == [
        "Scheduled query rule scopes is empty; set scopes to the workspace or resource queried."
    ]
    props = scheduled_query_rule()
    props["criteria"]["allOf"][0]["query"] = " "
    assert messages(run_resource(QUERY, SQR, props)) == [
        "Scheduled query rule criteria.allOf[0].query is empty; set the KQL query."
    ]


def test_action_group_short_name() -> None:
    assert run_resource(SHORT, AG, action_group()) == []
    props = action_group()
    props["groupShortName"] = "engram-platform-ops"
    assert messages(run_resource(SHORT, AG, props)) == [
        "Action group groupShortName 'engram-platform-ops' has 19 characters; use 1 to 12 (it "
        "prefixes SMS and "
        "email notifications)."
    ]
