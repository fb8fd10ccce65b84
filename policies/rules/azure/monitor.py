"""Azure Monitor: workspace-based Application Insights, Log Analytics retention, diagnostic settings per
resource, scheduled query rules and action groups.

AZ-MON-001  Application Insights is workspace-based (WorkspaceResourceId)
AZ-MON-002  Log Analytics (PerGB2018) retention between 30 and 730 days
AZ-MON-003  at most 5 diagnostic settings per resource (stack)
AZ-MON-004  a scheduled query rule has scopes, a query and a severity from 0 to 4
AZ-MON-005  an action group's short name is at most 12 characters
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from ..common import (
    DIAGNOSTIC_SETTINGS,
    PROD,
    RuleContext,
    StackResource,
    is_list,
    is_map,
    of_type,
    peek,
)
from ._factory import rule_maker

APP_INSIGHTS = "azure-native:applicationinsights:Component"
WORKSPACE = "azure-native:operationalinsights:Workspace"
SCHEDULED_QUERY_RULES = (
    "azure-native:monitor:ScheduledQueryRule",
    "azure-native:insights:ScheduledQueryRule",
)
ACTION_GROUPS = ("azure-native:monitor:ActionGroup", "azure-native:insights:ActionGroup")
MIN_RETENTION, MAX_RETENTION = 30, 730
MAX_DIAGNOSTIC_SETTINGS = 5
MAX_SHORT_NAME = 12


def check_workspace_based(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    workspace = peek(props, "workspaceResourceId")
    if workspace is not None and workspace != "":
        return []
    return [
        "Application Insights workspaceResourceId is not set (a classic resource, retired 29 February 2024); "
        "set workspaceResourceId to a Log Analytics workspace."
    ]


def check_retention(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    sku = peek(props, "sku")
    name = peek(sku, "name") if is_map(sku) else None
    if isinstance(name, str) and name.lower() != "pergb2018":
        return []  # legacy tiers (Free: 7 days) and commitment tiers differ
    days = peek(props, "retentionInDays")
    if not isinstance(days, int | float) or MIN_RETENTION <= days <= MAX_RETENTION:
        return []
    return [
        f"Log Analytics workspace retentionInDays is {days:g}; set it between {MIN_RETENTION} and "
        f"{MAX_RETENTION} (keep older data with long-term retention per table)."
    ]


def _target_key(setting: StackResource) -> str | None:
    deps = setting.property_dependencies.get("resourceUri", ())
    if deps:
        return "urn:" + str(deps[0].urn)
    uri = peek(setting.props, "resourceUri")
    return "id:" + uri.lower().rstrip("/") if isinstance(uri, str) and uri.startswith("/") else None


def check_diagnostic_settings_count(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    by_target: dict[str, list[StackResource]] = defaultdict(list)
    for setting in of_type(resources, *DIAGNOSTIC_SETTINGS):
        key = _target_key(setting)
        if key is not None:
            by_target[key].append(setting)
    problems: list[tuple[str, str]] = []
    for key, settings in by_target.items():
        if len(settings) <= MAX_DIAGNOSTIC_SETTINGS:
            continue
        target = key.split(":", 1)[1]
        problems.append(
            (
                f"{len(settings)} diagnostic settings target {target}; a resource takes at most "
                f"{MAX_DIAGNOSTIC_SETTINGS}: merge them (one setting can send to a workspace, a storage "
                f"account and an event hub at once).",
                settings[MAX_DIAGNOSTIC_SETTINGS].urn,
            )
        )
    return problems


def check_scheduled_query_rule(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems: list[str] = []
    scopes = peek(props, "scopes")
    if scopes is None or (is_list(scopes) and len(scopes) == 0):
        problems.append(
            "Scheduled query rule scopes is empty; set scopes to the workspace or resource queried."
        )
    criteria = peek(props, "criteria")
    all_of = peek(criteria, "allOf") if is_map(criteria) else None
    if is_list(all_of):
        for index, condition in enumerate(all_of):
            query = peek(condition, "query") if is_map(condition) else None
            if query is None or (isinstance(query, str) and not query.strip()):
                problems.append(
                    f"Scheduled query rule criteria.allOf[{index}].query is empty; set the KQL query."
                )
    elif all_of is None:
        problems.append("Scheduled query rule criteria.allOf is not set; add a condition with a KQL query.")
    severity = peek(props, "severity")
    if isinstance(severity, int | float) and not 0 <= severity <= 4:
        problems.append(f"Scheduled query rule severity is {severity:g}; set a severity from 0 to 4.")
    return problems


def check_short_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    short = peek(props, "groupShortName")
    if not isinstance(short, str) or 1 <= len(short) <= MAX_SHORT_NAME:
        return []
    return [
        f"Action group groupShortName {short!r} has {len(short)} characters; use 1 to {MAX_SHORT_NAME} "
        f"(it prefixes SMS and email notifications)."
    ]


_rule = rule_maker("MON", severity=Severity.MEDIUM)


WORKSPACE_BASED = _rule(
    1,
    "engram-applicationinsights-component-require-workspace",
    "Application Insights must be workspace-based.",
    "Classic Application Insights was retired on 29 February 2024: new resources must name a Log Analytics "
    "workspace at creation, and classic ones no longer ingest.",
    "Set workspaceResourceId to the stack's Log Analytics workspace id.",
    "https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource",
    severity=Severity.HIGH,
    resource_types=(APP_INSIGHTS,),
    psrule="Azure.AppInsights.Workspace",
)
RETENTION = _rule(
    2,
    "engram-operationalinsights-workspace-configure-retention-range",
    "A pay-as-you-go Log Analytics workspace's retention must be between 30 and 730 days.",
    "Interactive retention of a PerGB2018 workspace accepts 30 to 730 days; longer retention is set per "
    "table as long-term retention.",
    "Set retentionInDays from 30 to 730.",
    "https://learn.microsoft.com/azure/azure-monitor/logs/data-retention-configure",
    resource_types=(WORKSPACE,),
)
DIAGNOSTIC_COUNT = _rule(
    3,
    "engram-monitor-diagnosticsetting-limit-per-resource",
    "A resource can have at most five diagnostic settings.",
    "Azure Monitor allows up to 5 diagnostic settings per resource; the sixth is refused.",
    "Merge settings: one setting can send to a workspace, a storage account and an event hub.",
    "https://learn.microsoft.com/azure/azure-monitor/essentials/diagnostic-settings",
    resource_types=("stack",),
)
QUERY_RULE = _rule(
    4,
    "engram-monitor-scheduledqueryrule-configure-required-fields",
    "A scheduled query rule needs scopes, a query in each condition and a severity from 0 to 4.",
    "A log search alert runs its query against its scopes and raises alerts with severity 0 (critical) to "
    "4 (verbose); without scopes or a query ARM refuses it, and other severities are invalid.",
    "Set scopes, criteria.allOf[].query and severity 0-4.",
    "https://learn.microsoft.com/rest/api/monitor/scheduled-query-rules/create-or-update",
    resource_types=SCHEDULED_QUERY_RULES,
)
SHORT_NAME = _rule(
    5,
    "engram-monitor-actiongroup-configure-short-name",
    "An action group's short name must be at most 12 characters.",
    "groupShortName is limited to 12 characters (it is shown in SMS and email notifications); ARM refuses a "
    "longer one.",
    "Set groupShortName to 1-12 characters.",
    "https://learn.microsoft.com/rest/api/monitor/action-groups/create-or-update",
    resource_types=ACTION_GROUPS,
)

CATALOGUE = [
    WORKSPACE_BASED.resource(check_workspace_based),
    RETENTION.resource(check_retention),
    DIAGNOSTIC_COUNT.stack(check_diagnostic_settings_count),
    QUERY_RULE.resource(check_scheduled_query_rule),
    SHORT_NAME.resource(check_short_name),
]
