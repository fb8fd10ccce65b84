"""Identity rules for production: Entra Conditional Access demands MFA for the Engram app, and the
app itself is configured to insist on it.

SOP-IAM-001  an enabled Conditional Access policy requiring MFA for the app exists (prod, stack policy)
SOP-IAM-002  the container app carries the MFA authentication-context id (prod; id from config)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, Severity

from .common import (
    AAD_APPLICATIONS,
    CONDITIONAL_ACCESS,
    CONTAINER_APP,
    PROD,
    RuleContext,
    StackResource,
    env_value,
    items,
    of_type,
    peek,
    rule_maker,
    stack_level,
    sub,
)

DEFAULT_AUTH_CONTEXT_ID = "c1"
#: The service setting holding the Conditional Access authentication-context id it demands in `acrs`.
AUTH_CONTEXT_SETTING = "MFA_AUTH_CONTEXT_ID"


def requires_mfa(policy: StackResource) -> bool:
    grant = sub(policy.props, "grantControls")
    controls = [c for c in items(grant, "builtInControls") if isinstance(c, str)]
    strength = peek(grant, "authenticationStrengthPolicyId")
    return "mfa" in [c.lower() for c in controls] or strength not in (None, "")


def exposes_api(app: StackResource) -> bool:
    """A registration users get tokens *for* (identifier URIs): the API, not the UI's public client."""
    return any(isinstance(uri, str) and uri for uri in items(app.props, "identifierUris"))


def covers_app(policy: StackResource, apps: Sequence[StackResource]) -> bool:
    """All applications, or the stack's API registration (linked through property dependencies,
    since the client id is unknown at preview; a policy on the UI's client alone does not count, as
    Conditional Access is evaluated for the resource a token is for). With no registration in the stack
    (a customer's existing app), any explicitly listed application counts."""
    apis = [a for a in apps if exposes_api(a)] or list(apps)
    app_urns = {a.urn for a in apis}
    if any(dep.urn in app_urns for dep in policy.property_dependencies.get("conditions", ())):
        return True
    included = items(sub(policy.props, "conditions", "applications"), "includedApplications")
    known = [a for a in included if isinstance(a, str)]
    if "All" in known:
        return True
    return not apps and bool(included)


def check_conditional_access(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    if stack_level(resources, stack_tags) != 5:
        return []
    apps = of_type(resources, *AAD_APPLICATIONS)
    policies = of_type(resources, CONDITIONAL_ACCESS)
    for policy in policies:
        state = peek(policy.props, "state")
        if state == "enabled" and requires_mfa(policy) and covers_app(policy, apps):
            return []
    seen = f" ({len(policies)} present, none enabled+MFA+targeting the app)" if policies else ""
    return [
        (
            f"No Conditional Access policy requires MFA for the Engram app{seen}; add an "
            f'azuread ConditionalAccessPolicy with state "enabled", grantControls.builtInControls ["mfa"] '
            f"and conditions.applications.includedApplications = [the app's client id].",
            "",
        )
    ]


def check_app_enforces_mfa(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    expected = ctx.config.get("mfaAuthContextId", DEFAULT_AUTH_CONTEXT_ID)
    if not expected:  # the customer opted out of this check
        return []
    value = env_value(props, AUTH_CONTEXT_SETTING)
    if value == expected:
        return []
    return [
        f"Container app env {AUTH_CONTEXT_SETTING} is {value!r}; set {AUTH_CONTEXT_SETTING}={expected} "
        f"so the app demands the Conditional Access MFA context."
    ]


_rule = rule_maker("SOP-IAM", sop_section="6.3", levels=frozenset({5}))

CONDITIONAL_ACCESS_MFA = _rule(
    1,
    "engram-azuread-conditionalaccesspolicy-require-mfa",
    "Production stacks must include an enabled Conditional Access policy requiring MFA for the app.",
    "SOP 6.3: production users prove MFA at sign-in; the policy is part of the stack so it cannot drift.",
    "Add azuread.ConditionalAccessPolicy(state=enabled, grant mfa, includedApplications=[app client id]).",
    resource_types=("stack",),
    severity=Severity.CRITICAL,
)
APP_ENFORCES_MFA = _rule(
    2,
    "engram-app-containerapp-enforce-mfa",
    "Production container apps must demand the configured MFA authentication context.",
    "v2.0 access tokens carry no amr: the app proves MFA by the Conditional Access authentication "
    "context in acrs (created with `engram tenant auth-context`) and refuses tokens without it.",
    f"Set the env var {AUTH_CONTEXT_SETTING} to the tenant's authentication-context id (default c1).",
    resource_types=(CONTAINER_APP,),
    severity=Severity.HIGH,
    config_schema=PolicyConfigSchema(
        properties={
            "mfaAuthContextId": {
                "type": "string",
                "default": DEFAULT_AUTH_CONTEXT_ID,
                "description": "Conditional Access authentication-context id the app must demand ('' skips "
                "this rule; the service demands c1 by default all the same).",
            }
        }
    ),
)

CATALOGUE = [
    CONDITIONAL_ACCESS_MFA.stack(check_conditional_access),
    APP_ENFORCES_MFA.resource(check_app_enforces_mfa),
]
