"""Wires the security area into the app: authenticator, tickets, limits, audit, middlewares, routes.

`create_app` calls `install(app, settings)` once, after the memory runtime is on `app.state` and
before CORS (so CORS stays the outer of these), and enters `lifespan(app)`. The memory runtime
gets its `ContentCipher` from `app.security.crypto.cipher_from_settings` in `create_app`.
Middleware order, outermost first: request id -> CORS -> security headers -> audit -> body cap.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from app.api import admin, privacy, voice_ticket
from app.audit.anchor import head_anchor_task
from app.audit.middleware import AuditMiddleware
from app.audit.trail import AuditTrail, pseudonym_key
from app.security.entra import authenticator_for
from app.security.limiter import Limiter
from app.security.limits import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from app.security.privacy import RETENTION_INTERVAL_SECONDS, retention_task
from app.security.recordings import recording_retention_task
from app.security.tickets import TicketStore
from app.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    state = app.state
    state.authenticator = authenticator_for(settings)
    state.tickets = TicketStore(state.sessions)
    state.limits = Limiter.from_settings(settings)
    state.audit = AuditTrail(state.sessions, pseudonym_key(settings))

    app.include_router(voice_ticket.router)
    app.include_router(privacy.router)
    app.include_router(admin.router)

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    if settings.audit_log_enabled:
        app.add_middleware(AuditMiddleware, trail=state.audit)
    app.add_middleware(SecurityHeadersMiddleware, production=settings.environment == "production")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The audit writer, the audit head anchor, the retention purge and the limiter's flush and lease
    renewal run for the life of the service."""
    settings: Settings = app.state.settings
    trail: AuditTrail = app.state.audit
    limiter: Limiter = app.state.limits
    await trail.start()
    try:
        memory = app.state.memory
        async with (
            limiter.running(),
            retention_task(memory.store, trail, settings.data_retention_days, zep=memory.mirror),
            head_anchor_task(trail, settings.audit_anchor_interval_seconds),
            recording_retention_task(
                app.state.recordings.store,
                trail,
                settings.recording_retention_days,
                RETENTION_INTERVAL_SECONDS,
            ),
        ):
            yield
    finally:
        await trail.stop()
