"""A Zep API v4 server with the endpoints Engram uses, for the real `zep-cloud` SDK.

`POST /api/v4/users`, `POST /api/v4/users/lookup`, `DELETE /api/v4/users/{uuid}` (202 + task),
`POST /api/v4/threads`, `DELETE /api/v4/threads/{uuid}` (202 + task),
`POST /api/v4/threads/{uuid}/messages` (202 + task),
`GET /api/v4/threads/{uuid}/context`. Ids are server-generated uuids; `Idempotency-Key` replays the
first response; `Authorization: Api-Key <key>` is required. `mode` simulates trouble: "ok",
"slow" (sleeps `delay_s` before answering), "error" (500 everywhere).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from tests.doubles.server import LoopbackServer

API_KEY = "zep-test-key"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _task(kind: str) -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "type": kind, "status": "pending", "created_at": _now()}


@dataclass
class ZepState:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # uuid -> user
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)  # uuid -> thread
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # thread uuid -> messages
    deleted_users: list[str] = field(default_factory=list)
    deleted_threads: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)  # thread uuid -> context block
    calls: list[str] = field(default_factory=list)


class ZepDouble:
    def __init__(self) -> None:
        self.state = ZepState()
        self.mode: Literal["ok", "slow", "error"] = "ok"
        self.delay_s = 5.0
        # Awaited with "METHOD /path" before a request is handled: lets a test act mid-call.
        self.before: Callable[[str], Awaitable[None]] | None = None
        self._replays: dict[str, tuple[int, Any]] = {}
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/v4/users", self._create_user)
        app.router.add_post("/api/v4/users/lookup", self._lookup_user)
        app.router.add_delete("/api/v4/users/{uuid}", self._delete_user)
        app.router.add_post("/api/v4/threads", self._create_thread)
        app.router.add_delete("/api/v4/threads/{uuid}", self._delete_thread)
        app.router.add_post("/api/v4/threads/{uuid}/messages", self._add_messages)
        app.router.add_get("/api/v4/threads/{uuid}/context", self._context)
        self._server = LoopbackServer(app)

    @property
    def base_url(self) -> str:
        return self._server.url + "/api/v4"

    async def __aenter__(self) -> ZepDouble:
        await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    def thread_for_user(self, user_id: str) -> list[dict[str, Any]]:
        """All messages in the threads of the user with external id `user_id`."""
        uuids = {u for u, user in self.state.users.items() if user["user_id"] == user_id}
        return [
            m
            for t, thread in self.state.threads.items()
            if thread["user_uuid"] in uuids
            for m in self.state.messages.get(t, [])
        ]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.state.calls.append(f"{request.method} {request.path}")
        if request.headers.get("Authorization") != f"Api-Key {API_KEY}":
            return _error(401, "unauthorized", "bad api key")
        if self.before is not None:
            await self.before(f"{request.method} {request.path}")
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        if self.mode == "error":
            return _error(500, "internal", "double says 500")
        key = request.headers.get("Idempotency-Key")
        # Keys are scoped to the project, not the path (the stricter reading; Zep does not document
        # it): a reused key replays the first answer whatever resource it names.
        replay_key = key
        if key and replay_key in self._replays:
            status, body = self._replays[replay_key]
            return web.json_response(body, status=status)
        response = await handler(request)
        if key and isinstance(response, web.Response) and response.status < 300 and response.text:
            import json

            self._replays[replay_key] = (response.status, json.loads(response.text))
        return response

    async def _create_user(self, request: web.Request) -> web.Response:
        body = await request.json()
        user_id = body.get("user_id")
        if user_id and any(u["user_id"] == user_id for u in self.state.users.values()):
            return _error(409, "conflict", "user_id already exists")
        user = {
            "uuid": str(uuid.uuid4()),
            "user_id": user_id,
            "created_at": _now(),
            "graph_uuid": str(uuid.uuid4()),
        }
        self.state.users[user["uuid"]] = user
        return web.json_response(user, status=201)

    async def _lookup_user(self, request: web.Request) -> web.Response:
        body = await request.json()
        for user in self.state.users.values():
            if user["user_id"] == body.get("user_id"):
                return web.json_response(user)
        return _error(404, "not_found", "no such user")

    async def _delete_user(self, request: web.Request) -> web.Response:
        user_uuid = request.match_info["uuid"]
        if user_uuid not in self.state.users:
            return _error(404, "not_found", "no such user")
        del self.state.users[user_uuid]
        self.state.deleted_users.append(user_uuid)
        for t in [t for t, thread in self.state.threads.items() if thread["user_uuid"] == user_uuid]:
            del self.state.threads[t]
            self.state.messages.pop(t, None)
        return web.json_response({"task": _task("user_delete")}, status=202)

    async def _create_thread(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("user_uuid") not in self.state.users:
            return _error(404, "not_found", "no such user")
        thread = {"uuid": str(uuid.uuid4()), "user_uuid": body["user_uuid"], "created_at": _now()}
        self.state.threads[thread["uuid"]] = thread
        return web.json_response(thread, status=201)

    async def _delete_thread(self, request: web.Request) -> web.Response:
        thread_uuid = request.match_info["uuid"]
        if thread_uuid not in self.state.threads:
            return _error(404, "not_found", "no such thread")
        del self.state.threads[thread_uuid]
        self.state.messages.pop(thread_uuid, None)
        self.state.deleted_threads.append(thread_uuid)
        return web.json_response({"task": _task("thread_delete")}, status=202)

    async def _add_messages(self, request: web.Request) -> web.Response:
        thread_uuid = request.match_info["uuid"]
        if thread_uuid not in self.state.threads:
            return _error(404, "not_found", "no such thread")
        body = await request.json()
        stored = [
            {
                **m,
                "uuid": str(uuid.uuid4()),
                "thread_uuid": thread_uuid,
                "created_at": _now(),
                "processed": False,
            }
            for m in body["messages"]
        ]
        self.state.messages.setdefault(thread_uuid, []).extend(stored)
        return web.json_response({"messages": stored, "task": _task("add_messages")}, status=202)

    async def _context(self, request: web.Request) -> web.Response:
        thread_uuid = request.match_info["uuid"]
        if thread_uuid not in self.state.threads:
            return _error(404, "not_found", "no such thread")
        return web.json_response({"context": self.state.context.get(thread_uuid, "")})
