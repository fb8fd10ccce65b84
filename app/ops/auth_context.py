"""The production MFA proof in the tenant: a Conditional Access authentication context and its policy.

v2.0 access tokens carry no `amr`, so the API cannot see MFA in a token unless Conditional Access puts
it there: an authentication context (`c1`, Microsoft Graph `authenticationContextClassReference`) and a
policy that targets that context (not the app) and grants only with MFA. After a claims challenge the
UI asks Entra for a token with `acrs: c1`; Entra evaluates this policy and, once satisfied, issues the
token with `acrs: ["c1"]` - what `app/security/entra.py` demands in production.

pulumi-azuread (6.x) has no resource for either (its ConditionalAccessPolicy cannot target an
authentication context), so `engram tenant auth-context` makes them through Graph v1.0. Idempotent:
the context is created-or-updated by id (PATCH), the policy found by display name and updated, or
created. Sources:
- https://learn.microsoft.com/graph/api/resources/authenticationcontextclassreference
- https://learn.microsoft.com/graph/api/resources/conditionalaccessapplications
  (`includeAuthenticationContextClassReferences`)
- https://learn.microsoft.com/entra/identity-platform/developer-guide-conditional-access-authentication-context
Permissions: Policy.ReadWrite.ConditionalAccess and Policy.Read.All (delegated: a Conditional Access
Administrator signed in with `az login`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

GRAPH_URL = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TIMEOUT_SECONDS = 30.0

_CONTEXT_ID = re.compile(r"^c([1-9]|[1-9][0-9])$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

PolicyState = Literal["enabled", "enabledForReportingButNotEnforced", "disabled"]


class AuthContextError(RuntimeError):
    """Graph refused a call, or the inputs are unusable; the message says what to fix."""


@dataclass(frozen=True, kw_only=True)
class AuthContextPlan:
    context_id: str  # c1..c99: the service's MFA_AUTH_CONTEXT_ID
    included_group_ids: tuple[str, ...]
    excluded_group_ids: tuple[str, ...] = ()  # break-glass accounts
    state: PolicyState = "enabled"
    name: str = "Engram"

    def problems(self) -> list[str]:
        found = []
        if not _CONTEXT_ID.match(self.context_id):
            found.append(f"context id {self.context_id!r}: use c1..c99 (the service's MFA_AUTH_CONTEXT_ID)")
        if not self.included_group_ids:
            found.append("name at least one group the policy applies to (--group <object id>)")
        for group in (*self.included_group_ids, *self.excluded_group_ids):
            if not _GUID.match(group):
                found.append(f"group {group!r}: use the group's object id (a GUID), not a placeholder")
        return found

    @property
    def policy_name(self) -> str:
        return f"{self.name}: require MFA for authentication context {self.context_id}"

    def context_body(self) -> dict[str, Any]:
        return {
            "displayName": f"{self.name} MFA",
            "description": f"{self.name} API calls in production: multi-factor authentication.",
            "isAvailable": True,  # apps may request it (claims challenge); the policy below enforces it
        }

    def policy_body(self) -> dict[str, Any]:
        return {
            "displayName": self.policy_name,
            "state": self.state,
            "conditions": {
                "clientAppTypes": ["all"],
                "applications": {"includeAuthenticationContextClassReferences": [self.context_id]},
                "users": {
                    "includeGroups": list(self.included_group_ids),
                    "excludeGroups": list(self.excluded_group_ids),
                },
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        }


def plan_from_stack(config: Mapping[str, Any], *, context_id: str | None = None) -> AuthContextPlan:
    """The plan from a stack file's `config` (its `engram:auth` section: groups and context id)."""
    auth = config.get("engram:auth") or {}
    ca = auth.get("conditionalAccess") or {}
    return AuthContextPlan(
        context_id=context_id or str(auth.get("mfaAuthContextId", "c1")),
        included_group_ids=tuple(str(g) for g in ca.get("includedGroupIds", ())),
        excluded_group_ids=tuple(str(g) for g in ca.get("excludedGroupIds", ())),
        state=ca.get("state", "enabled"),
    )


@dataclass(frozen=True)
class AuthContextResult:
    context_id: str
    policy_id: str
    policy_created: bool


async def ensure_auth_context(
    plan: AuthContextPlan,
    *,
    token: str,
    base_url: str = GRAPH_URL,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AuthContextResult:
    """Create or update the authentication context and its MFA policy; safe to run again."""
    problems = plan.problems()
    if problems:
        raise AuthContextError("; ".join(problems))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=base_url.rstrip("/"), headers=headers, timeout=TIMEOUT_SECONDS, transport=transport
    ) as graph:
        await _call(
            graph,
            "PATCH",
            f"/identity/conditionalAccess/authenticationContextClassReferences/{plan.context_id}",
            "create or update the authentication context",
            json=plan.context_body(),
        )
        name = plan.policy_name.replace("'", "''")  # OData string literal
        found = await _call(
            graph,
            "GET",
            "/identity/conditionalAccess/policies",
            "list Conditional Access policies",
            params={"$filter": f"displayName eq '{name}'"},
        )
        existing = [p for p in (found or {}).get("value", []) if p.get("displayName") == plan.policy_name]
        if len(existing) > 1:
            raise AuthContextError(
                f"{len(existing)} policies are named {plan.policy_name!r}; delete the extra ones in the "
                "Entra admin center and run this again"
            )
        if existing:
            policy_id = str(existing[0]["id"])
            await _call(
                graph,
                "PATCH",
                f"/identity/conditionalAccess/policies/{policy_id}",
                "update the Conditional Access policy",
                json=plan.policy_body(),
            )
            return AuthContextResult(plan.context_id, policy_id, policy_created=False)
        created = await _call(
            graph,
            "POST",
            "/identity/conditionalAccess/policies",
            "create the Conditional Access policy",
            json=plan.policy_body(),
        )
        return AuthContextResult(plan.context_id, str((created or {})["id"]), policy_created=True)


async def _call(
    graph: httpx.AsyncClient, method: str, path: str, what: str, **kwargs: Any
) -> dict[str, Any] | None:
    try:
        response = await graph.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise AuthContextError(
            f"could not {what}: Microsoft Graph is out of reach ({type(exc).__name__})"
        ) from None
    if response.status_code in (401, 403):
        raise AuthContextError(
            f"Microsoft Graph refused to {what} ({response.status_code} {_graph_code(response)}): "
            "sign in as a Conditional Access Administrator "
            "(Policy.ReadWrite.ConditionalAccess and Policy.Read.All)"
        )
    if response.status_code >= 400:
        raise AuthContextError(
            f"Microsoft Graph could not {what} ({response.status_code} {_graph_code(response)})"
        )
    if response.status_code == 204 or not response.content:
        return None
    body: dict[str, Any] = response.json()
    return body


def _graph_code(response: httpx.Response) -> str:
    """Graph's error code (never its message, which may echo identifiers)."""
    try:
        code = response.json().get("error", {}).get("code", "")
    except ValueError:
        return ""
    return str(code) if isinstance(code, str) and re.fullmatch(r"[A-Za-z0-9_.]{1,80}", code) else ""
