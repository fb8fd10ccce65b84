"""Service settings on the Engram container app, so the app's own SOP guard runs in the right mode.

The app reads these as environment variables (`app/settings.py`); the rules read the container app's
`template.containers[].env` entries. A setting held in a secret (`secretRef`) has no literal value.

SOP-APP-001  ENVIRONMENT matches the SOP level (every level)
SOP-APP-002  AUTH_REQUIRED=true (test and up)
SOP-APP-003  DEBUG not enabled (above level 2)
SOP-APP-004  DATA_RETENTION_DAYS set to a positive number of days (prod)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import (
    ALL_LEVELS,
    CONTAINER_APP,
    PROD,
    RuleContext,
    env_flag_violation,
    env_value,
    from_level,
    rule_maker,
    truthy,
)

#: The service's ENVIRONMENT value for each SOP level (staging and dev both run `development`).
SERVICE_ENVIRONMENT: dict[int, str] = {
    1: "development",
    2: "development",
    3: "test",
    4: "uat",
    5: "production",
}


def check_environment_setting(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    expected = SERVICE_ENVIRONMENT[ctx.level]
    value = env_value(props, "ENVIRONMENT")
    effective = "development" if value is None else str(value).strip().lower()
    if effective == expected:
        return []
    return [
        f"Container app env ENVIRONMENT is {value!r}; set ENVIRONMENT={expected} for SOP level {ctx.level}."
    ]


def check_auth_required(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    return env_flag_violation(props, "AUTH_REQUIRED")


def check_debug_off(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = env_value(props, "DEBUG")
    if value is None or not truthy(value):
        return []
    return [f"Container app env DEBUG is {value!r}; set DEBUG=false above SOP level 2."]


def check_data_retention(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = env_value(props, "DATA_RETENTION_DAYS")
    try:
        days = int(str(value).strip()) if value is not None else None
    except ValueError:
        days = None
    if days is not None and days >= 1:
        return []
    return [f"Container app env DATA_RETENTION_DAYS is {value!r}; set it to the retention in days (e.g. 90)."]


_rule = rule_maker("SOP-APP", resource_types=(CONTAINER_APP,))

ENVIRONMENT_SETTING = _rule(
    1,
    "engram-app-containerapp-configure-environment-setting",
    "The container app's ENVIRONMENT setting must match the stack's SOP level.",
    "The service's start-up guard and MFA enforcement key off ENVIRONMENT; a lower value weakens both.",
    "Set ENVIRONMENT to development (levels 1-2), test, uat or production.",
    severity=Severity.HIGH,
    sop_section="7",
    levels=ALL_LEVELS,
)
AUTH_REQUIRED = _rule(
    2,
    "engram-app-containerapp-enable-auth-required",
    "Container apps at test level and above must require authentication.",
    "From test upward every protected route needs an Entra identity (SOP auth model per environment).",
    "Set the env var AUTH_REQUIRED=true.",
    severity=Severity.CRITICAL,
    sop_section="6.3",
    levels=from_level(3),
)
DEBUG_OFF = _rule(
    3,
    "engram-app-containerapp-disable-debug",
    "Container apps above level 2 must not run with DEBUG enabled.",
    "Debug output can leak internals and personal data outside development.",
    "Set DEBUG=false (or leave it unset).",
    severity=Severity.MEDIUM,
    sop_section="7",
    levels=from_level(3),
)
DATA_RETENTION = _rule(
    4,
    "engram-app-containerapp-configure-data-retention",
    "Production container apps must set DATA_RETENTION_DAYS.",
    "The retention job purges conversation data older than this; production must state its period.",
    "Set DATA_RETENTION_DAYS to the contract's retention in days.",
    severity=Severity.MEDIUM,
    sop_section="6.7",
    levels=frozenset({5}),
)

CATALOGUE = [
    ENVIRONMENT_SETTING.resource(check_environment_setting),
    AUTH_REQUIRED.resource(check_auth_required),
    DEBUG_OFF.resource(check_debug_off),
    DATA_RETENTION.resource(check_data_retention),
]
