"""Microsoft Graph's Conditional Access endpoints on loopback (v1.0 shapes): `engram tenant auth-context`.

Keeps authentication contexts and policies in memory, answers with Graph's status codes (PATCH 204,
POST 201 with the object, OData `$filter=displayName eq '...'`), refuses a wrong bearer token with
Graph's error body, and records every request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.doubles.server import LoopbackServer

_FILTER = re.compile(r"^displayName eq '((?:[^']|'')*)'$")
_REQUIRED_POLICY_KEYS = {"displayName", "state", "conditions", "grantControls"}


@dataclass
class GraphServer:
    token: str
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "InvalidAuthenticationToken", "Access token validation failure.")
        response: web.StreamResponse = await handler(request)
        return response

    async def _put_context(self, request: web.Request) -> web.Response:
        body = await request.json()
        context_id = request.match_info["id"]
        self.contexts[context_id] = {**self.contexts.get(context_id, {}), **body, "id": context_id}
        return web.Response(status=204)

    async def _list_policies(self, request: web.Request) -> web.Response:
        found = list(self.policies.values())
        raw = request.query.get("$filter")
        if raw is not None:
            match = _FILTER.match(raw)
            if match is None:
                return self._error(400, "BadRequest", "Invalid filter clause")
            name = match.group(1).replace("''", "'")
            found = [p for p in found if p["displayName"] == name]
        return web.json_response({"value": found})

    async def _create_policy(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not set(body) >= _REQUIRED_POLICY_KEYS:
            return self._error(400, "BadRequest", "missing properties")
        policy = {**body, "id": str(uuid.uuid4())}
        self.policies[policy["id"]] = policy
        return web.json_response(policy, status=201)

    async def _update_policy(self, request: web.Request) -> web.Response:
        policy_id = request.match_info["id"]
        if policy_id not in self.policies:
            return self._error(404, "ResourceNotFound", "policy not found")
        self.policies[policy_id].update(await request.json())
        return web.Response(status=204)


@asynccontextmanager
async def serve_graph(token: str) -> AsyncIterator[GraphServer]:
    graph = GraphServer(token=token)
    app = web.Application(middlewares=[graph._auth])
    base = "/v1.0/identity/conditionalAccess"
    app.router.add_patch(f"{base}/authenticationContextClassReferences/{{id}}", graph._put_context)
    app.router.add_get(f"{base}/policies", graph._list_policies)
    app.router.add_post(f"{base}/policies", graph._create_policy)
    app.router.add_patch(f"{base}/policies/{{id}}", graph._update_policy)
    async with LoopbackServer(app) as loopback:
        graph.url = f"{loopback.url}/v1.0"
        yield graph
