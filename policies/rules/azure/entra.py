"""Entra ID (pulumi-azuread 6.x): app roles a service principal can hold, redirect and identifier URIs
Entra accepts, and conditional access policies that do something.

AZ-ENTRA-001  an app role assigned to a service principal allows the "Application" member type (stack)
AZ-ENTRA-002  app role values use the allowed characters, and role ids and values are unique
AZ-ENTRA-003  SPA and web redirect URIs are https (http only for localhost)
AZ-ENTRA-004  identifier URIs use an accepted scheme (api, https, urn, ms-appx) and no wildcard
AZ-ENTRA-005  a conditional access policy has a valid state and a grant or session control
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pulumi_policy import Severity

from ..common import (
    AAD_APPLICATIONS,
    CONDITIONAL_ACCESS,
    PROD,
    RuleContext,
    StackResource,
    is_list,
    is_map,
    of_type,
    peek,
)
from ._factory import rule_maker

SERVICE_PRINCIPAL = "azuread:index/servicePrincipal:ServicePrincipal"
APP_ROLE_ASSIGNMENT = "azuread:index/appRoleAssignment:AppRoleAssignment"
REDIRECT_URIS = "azuread:index/applicationRedirectUris:ApplicationRedirectUris"
USER_ASSIGNED_IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE_VALUE = re.compile(r"^[0-9A-Za-z:!#$%&'()*+,\-./;<=>?@\[\]^_`{|}~]{1,120}$")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
IDENTIFIER_SCHEMES = frozenset({"api", "https", "urn", "ms-appx"})
CA_STATES = frozenset({"enabled", "disabled", "enabledforreportingbutnotenforced"})


def _roles(app: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    roles = peek(app, "appRoles")
    return [r for r in roles if is_map(r)] if is_list(roles) else []


def check_role_member_types(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    roles: dict[str, tuple[StackResource, Mapping[str, Any]]] = {}
    for app in of_type(resources, *AAD_APPLICATIONS):
        for role in _roles(app.props):
            role_id = peek(role, "id")
            if isinstance(role_id, str):
                roles[role_id.lower()] = (app, role)
    principals = {r.urn for r in of_type(resources, SERVICE_PRINCIPAL, USER_ASSIGNED_IDENTITY)}
    problems: list[tuple[str, str]] = []
    for assignment in of_type(resources, APP_ROLE_ASSIGNMENT):
        deps = assignment.property_dependencies.get("principalObjectId", ())
        if not any(dep.urn in principals for dep in deps):
            continue
        role_id = peek(assignment.props, "appRoleId")
        if not isinstance(role_id, str) or role_id.lower() not in roles:
            continue
        app, role = roles[role_id.lower()]
        members = peek(role, "allowedMemberTypes")
        if is_list(members) and "Application" in [m for m in members if isinstance(m, str)]:
            continue
        shown = list(members) if is_list(members) else members
        problems.append(
            (
                f"App role {peek(role, 'value')!r} of application '{app.name}' is assigned to a service "
                f"principal by '{assignment.name}' but allowedMemberTypes is {shown!r}; "
                f'add "Application" to allowedMemberTypes.',
                assignment.urn,
            )
        )
    return problems


def check_role_values(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems: list[str] = []
    seen_ids: set[str] = set()
    seen_values: set[str] = set()
    for role in _roles(props):
        value, role_id = peek(role, "value"), peek(role, "id")
        if isinstance(value, str):
            if not ROLE_VALUE.match(value) or value.startswith("."):
                problems.append(
                    f"App role value {value!r} is invalid; use 1-120 letters, digits and punctuation, "
                    f"no spaces, not starting with '.' (e.g. Transcripts.Read)."
                )
            if value in seen_values:
                problems.append(f"App role value {value!r} is used twice; give each role its own value.")
            seen_values.add(value)
        if isinstance(role_id, str):
            if role_id.lower() in seen_ids:
                problems.append(f"App role id {role_id!r} is used twice; give each role its own GUID.")
            seen_ids.add(role_id.lower())
    return problems


def _bad_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme == "https":
        return False
    return not (parts.scheme == "http" and (parts.hostname or "").lower() in LOCAL_HOSTS | {"::1"})


def _redirects(props: Mapping[str, Any], *path: str) -> list[str]:
    holder: Any = props
    for key in path:
        holder = peek(holder, key) if is_map(holder) else None
    return [u for u in holder if isinstance(u, str)] if is_list(holder) else []


def check_redirect_uris(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    found: list[tuple[str, str]] = []
    if "type" in list(props):  # azuread ApplicationRedirectUris: one type per resource
        kind = peek(props, "type")
        if isinstance(kind, str) and kind.upper() in ("SPA", "WEB"):
            found += [(f"{kind} redirectUris", u) for u in _redirects(props, "redirectUris")]
    else:
        found += [
            ("singlePageApplication.redirectUris", u)
            for u in _redirects(props, "singlePageApplication", "redirectUris")
        ]
        found += [("web.redirectUris", u) for u in _redirects(props, "web", "redirectUris")]
    return [
        f"Application {where} contains {uri!r}; use an https:// URI (http:// only for localhost)."
        for where, uri in found
        if _bad_redirect(uri)
    ]


def check_identifier_uris(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems: list[str] = []
    for uri in _redirects(props, "identifierUris"):
        scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
        if scheme not in IDENTIFIER_SCHEMES:
            problems.append(
                f"Application identifierUris contains {uri!r}; use api://<app id or name>, an https:// URI "
                f"on a verified domain, urn: or ms-appx://."
            )
        elif "*" in uri:
            problems.append(f"Application identifierUris contains {uri!r}; wildcards are not allowed.")
    return problems


def check_conditional_access(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems: list[str] = []
    state = peek(props, "state")
    if isinstance(state, str) and state.lower() not in CA_STATES:
        problems.append(
            f"Conditional access policy state is {state!r}; set enabled, disabled or "
            f"enabledForReportingButNotEnforced."
        )
    grant, session = peek(props, "grantControls"), peek(props, "sessionControls")
    if grant is None and session is None:
        problems.append(
            "Conditional access policy has neither grantControls nor sessionControls; add a grant control "
            '(e.g. builtInControls ["mfa"]) or a session control.'
        )
    return problems


_rule = rule_maker("ENTRA")


ROLE_MEMBER_TYPES = _rule(
    1,
    "engram-azuread-approleassignment-require-application-member-type",
    "An app role assigned to a service principal must allow the Application member type.",
    "allowedMemberTypes decides who can hold a role: User for users and groups, Application for other "
    "apps' service principals (daemons, the test tier, pipelines, managed identities). Graph refuses to "
    "assign a User-only role to a service principal, so the app-only caller never gets its roles claim.",
    'Add "Application" to the role\'s allowedMemberTypes (["User", "Application"] for both).',
    "https://learn.microsoft.com/graph/api/resources/approle",
    resource_types=("stack",),
)
ROLE_VALUES = _rule(
    2,
    "engram-azuread-application-configure-valid-app-roles",
    "App role values must use the allowed characters and roles must have unique ids and values.",
    "The value becomes the roles claim: at most 120 characters, no spaces, not starting with a dot; Graph "
    "refuses duplicate role ids or values on one application.",
    "Use values like Transcripts.Read and a distinct GUID per role.",
    "https://learn.microsoft.com/graph/api/resources/approle",
    severity=Severity.MEDIUM,
    resource_types=AAD_APPLICATIONS,
)
REDIRECTS = _rule(
    3,
    "engram-azuread-application-configure-https-redirect-uris",
    "SPA and web redirect URIs must use https, except on localhost.",
    "Entra accepts http:// redirect URIs only for localhost; other http URIs are refused, and a browser SPA "
    "signing in with MSAL must be registered under singlePageApplication for the auth code flow with PKCE.",
    "Use https://<UI_HOST>/... (http://localhost:<port> for local development).",
    "https://learn.microsoft.com/entra/identity-platform/reply-url",
    resource_types=(*AAD_APPLICATIONS, REDIRECT_URIS),
)
IDENTIFIER_URIS = _rule(
    4,
    "engram-azuread-application-configure-valid-identifier-uris",
    "Application identifier URIs must use the api, https, urn or ms-appx scheme without wildcards.",
    "Entra restricts application ID URIs to those schemes, https ones to verified domains of the tenant, "
    "and refuses wildcards.",
    "Use api://<application id> (or api://<name>), or https://<verified domain>/<path>.",
    "https://learn.microsoft.com/entra/identity-platform/identifier-uri-restrictions",
    severity=Severity.MEDIUM,
    resource_types=AAD_APPLICATIONS,
)
CONDITIONAL_ACCESS_RULE = _rule(
    5,
    "engram-azuread-conditionalaccesspolicy-configure-controls",
    "A conditional access policy needs a valid state and a grant or session control.",
    "A policy without grant or session controls enforces nothing and Graph refuses it; state is one of "
    "enabled, disabled, enabledForReportingButNotEnforced.",
    'Set grantControls (e.g. builtInControls ["mfa"]) or sessionControls, and a valid state.',
    "https://learn.microsoft.com/graph/api/resources/conditionalaccesspolicy",
    resource_types=(CONDITIONAL_ACCESS,),
)

CATALOGUE = [
    ROLE_MEMBER_TYPES.stack(check_role_member_types),
    ROLE_VALUES.resource(check_role_values),
    REDIRECTS.resource(check_redirect_uris),
    IDENTIFIER_URIS.resource(check_identifier_uris),
    CONDITIONAL_ACCESS_RULE.resource(check_conditional_access),
]
