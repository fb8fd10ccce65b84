"""Audit-logging rules from test upward: the service writes its audit trail, and the data-plane
services send their logs to Log Analytics.

SOP-AUDIT-001  AUDIT_LOG_ENABLED=true on the container app (test and up)
SOP-AUDIT-002  diagnostic settings to Log Analytics on Key Vault, APIM, PostgreSQL and AI Services
               (test and up, stack policy)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from .common import (
    CONTAINER_APP,
    DATA_SERVICES,
    DIAGNOSTIC_SETTINGS,
    PROD,
    RuleContext,
    StackResource,
    depends_on,
    env_flag_violation,
    from_level,
    id_points_at,
    is_map,
    items,
    of_type,
    peek,
    resolve_level,
    rule_maker,
)

#: The services whose logs must reach Log Analytics (type -> label, name input, id segment).
AUDITED = DATA_SERVICES


def check_audit_log_enabled(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    return env_flag_violation(props, "AUDIT_LOG_ENABLED")


def setting_targets(setting: StackResource, target: StackResource) -> bool:
    """Does this diagnostic setting watch `target`? Property dependencies first (ids are unknown at
    preview), then a known resourceUri matched on the target's ARM type and name."""
    if depends_on(setting, "resourceUri", target):
        return True
    uri = peek(setting.props, "resourceUri")
    return isinstance(uri, str) and id_points_at(uri.rstrip("/"), target)


def sends_logs_to_workspace(setting: StackResource) -> bool:
    if peek(setting.props, "workspaceId") in (None, ""):
        return False
    return any(is_map(log) and log.get("enabled") is True for log in items(setting.props, "logs"))


def check_diagnostic_settings(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    settings = of_type(resources, *DIAGNOSTIC_SETTINGS)
    problems: list[tuple[str, str]] = []
    for target in of_type(resources, *AUDITED):
        if resolve_level(target.props, stack_tags, target.urn) < 3:
            continue
        linked = [s for s in settings if setting_targets(s, target)]
        if any(sends_logs_to_workspace(s) for s in linked):
            continue
        label = AUDITED[target.resource_type][0]
        detail = "none targets it" if not linked else "none sends an enabled log category to a workspace"
        problems.append(
            (
                f"{label} '{target.name}' has no diagnostic setting to Log Analytics ({detail}); add an "
                f"azure-native:monitor:DiagnosticSetting with resourceUri=<its id>, workspaceId and "
                f'logs [{{categoryGroup: "audit", enabled: true}}].',
                target.urn,
            )
        )
    return problems


_rule = rule_maker("SOP-AUDIT", severity=Severity.HIGH, sop_section="6.7", levels=from_level(3))

AUDIT_LOG = _rule(
    1,
    "engram-app-containerapp-enable-audit-log",
    "Container apps at test level and above must write the audit trail.",
    "SOP 6.7: every API call is logged with the user's identity from test upward.",
    "Set the env var AUDIT_LOG_ENABLED=true.",
    resource_types=(CONTAINER_APP,),
)
DIAGNOSTICS_RULE = _rule(
    2,
    "engram-stack-diagnosticsetting-require-audit-logs",
    "Key Vault, APIM, PostgreSQL and AI Services at test level and above must send logs to Log Analytics.",
    "Access to secrets, the gateway, the database and the models must be traceable after the fact.",
    "Add a DiagnosticSetting per service with workspaceId and an enabled audit (or allLogs) category group.",
    resource_types=("stack",),
    psrule="Azure.KeyVault.Logs",
)

CATALOGUE = [
    AUDIT_LOG.resource(check_audit_log_enabled),
    DIAGNOSTICS_RULE.stack(check_diagnostic_settings),
]
