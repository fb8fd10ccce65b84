"""Pure-ASGI middleware that audits every API call and websocket session (start and end).

It records the route *template* (`/api/v1/admin/users/{user_id}`), never the raw path, so ids and
query strings (which may be personal data or tickets) stay out of the trail. `/health`, `/ready`
and the docs are probes and browsing, not API calls, and are skipped. The identity is the one the
security dependency left in the scope's state; unauthenticated calls are recorded without a user.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit.trail import Actor, AuditEvent, AuditTrail

_SKIPPED = ("/health", "/ready", "/docs", "/openapi.json", "/redoc")


class AuditMiddleware:
    def __init__(self, app: ASGIApp, trail: AuditTrail) -> None:
        self.app = app
        self.trail = trail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope.get("path", "")).startswith(_SKIPPED):
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.trail.submit(_event(scope, "http", status, (time.perf_counter() - started) * 1000))

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        accepted = False
        close_code: int | None = None

        async def recording_send(message: Message) -> None:
            nonlocal accepted, close_code
            if message["type"] == "websocket.accept":
                accepted = True
                self.trail.submit(_event(scope, "ws.start", 101, None))
            elif message["type"] == "websocket.close":
                close_code = int(message.get("code", 1000))
            await send(message)

        async def recording_receive() -> Message:
            nonlocal close_code
            message = await receive()
            if message["type"] == "websocket.disconnect" and close_code is None:
                close_code = int(message.get("code", 1005))
            return message

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            # A socket refused before accept (no identity, bad ticket) is one "ws.start" with its code.
            event = "ws.end" if accepted else "ws.start"
            self.trail.submit(_event(scope, event, close_code if close_code is not None else 1006, elapsed))


def _event(scope: Scope, kind: str, status: int, latency_ms: float | None) -> AuditEvent:
    state = scope.get("state") or {}
    identity: Actor | None = state.get("identity")
    route = scope.get("route")
    client = scope.get("client")
    return AuditEvent(
        event=kind,
        user_id=identity.user_id if identity else None,
        tenant_id=identity.tenant_id if identity else None,
        roles=sorted(identity.roles) if identity else (),
        request_id=state.get("request_id"),
        method=scope.get("method") if scope["type"] == "http" else "WS",
        route=getattr(route, "path", None) or "<unmatched>",
        status=status,
        latency_ms=latency_ms,
        client_ip=client[0] if client else None,
    )
