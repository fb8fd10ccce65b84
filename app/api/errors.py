"""Error responses: request ids on every response, no stack traces or secrets to clients."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logging import request_id_var

log = logging.getLogger("engram.errors")

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Takes a sane incoming X-Request-ID or makes one; sets it for logs and echoes it back.

    Pure ASGI (not BaseHTTPMiddleware) so streaming responses and websockets pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _acceptable(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def _acceptable(value: str) -> bool:
    return 0 < len(value) <= 64 and all(ch.isalnum() or ch in "-_." for ch in value)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", request_id_var.get()))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Echo where and what, never the submitted value (it may hold personal data).
        problems = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", "invalid"), "type": err.get("type")}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": problems, "request_id": _request_id(request)}, status_code=422)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        request_id = _request_id(request)
        request_id_var.set(request_id)  # the middleware's scope has ended by the time we get here
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {"detail": "internal error; quote the request id to the operator", "request_id": request_id},
            status_code=500,
            headers={REQUEST_ID_HEADER: request_id},
        )
