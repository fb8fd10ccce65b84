"""`create_app(settings)`: the one place that wires services, routers and middleware. Nothing runs at import.

Services are built once into `app.api.deps.Services`, installed as `app.state`; routers get them
through the typed dependencies in `app.api.deps` and `app.security.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.api import (
    admin,
    admin_metrics,
    admin_recordings,
    agents,
    chat,
    health,
    memory,
    privacy,
    usage,
    voice,
    voice_ticket,
)
from app.api.contract import API_DESCRIPTION, install_openapi
from app.api.deps import Services
from app.api.errors import RequestIdMiddleware, install_error_handlers
from app.api.web import mount_web
from app.audit.anchor import head_anchor_task
from app.audit.middleware import AuditMiddleware
from app.audit.trail import AuditTrail, pseudonym_key
from app.chat.gateway import Gateway
from app.chat.service import ChatService
from app.db.engine import create_engine, dispose, session_factory
from app.memory.runtime import MemoryRuntime
from app.observability.telemetry import configure_telemetry
from app.recordings.store import BlobRecordingStore
from app.security.crypto import cipher_from_settings
from app.security.entra import authenticator_for
from app.security.limiter import Limiter
from app.security.limits import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from app.security.privacy import RETENTION_INTERVAL_SECONDS, retention_task
from app.security.recordings import recording_retention_task
from app.security.tickets import TicketStore
from app.settings import Settings
from app.usage.meter import UsageMeter
from app.usage.store import UsageStore
from app.voice.recording import Recordings
from app.voice.service import VoiceService


def create_app(settings: Settings) -> FastAPI:
    """The service: every service, router and middleware, and the order they start and stop in."""
    engine = create_engine(settings)
    sessions = session_factory(engine)
    memory_runtime = MemoryRuntime.build(settings, sessions, cipher_from_settings(settings))
    gateway = Gateway.from_settings(settings)
    meter = (
        UsageMeter(
            UsageStore(sessions),
            pseudonym_key(settings),  # users as the audit trail's pseudonyms
            flush_s=settings.usage_flush_seconds,
            max_pending=settings.usage_max_pending,
            daily_token_budget=settings.usage_daily_token_budget,
        )
        if settings.usage_metering_enabled
        else None
    )
    # The store exists whenever one is configured, even with RECORDING_MODE=off: erasure and retention
    # still reach recordings made before recording was switched off.
    recordings = Recordings(settings, BlobRecordingStore.from_settings(settings), pseudonym_key(settings))
    services = Services(
        settings=settings,
        authenticator=authenticator_for(settings),
        engine=engine,
        tickets=TicketStore(sessions),
        sessions=sessions,
        limits=Limiter.from_settings(settings),
        memory=memory_runtime,
        audit=AuditTrail(sessions, pseudonym_key(settings)),
        usage=meter,
        chat=ChatService(
            settings, memory_runtime.store, memory_runtime.context, gateway, memory_runtime.queue, meter
        ),
        recordings=recordings,
        voice=VoiceService(settings, recordings),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        memory_runtime.start()  # the Zep outbox worker
        if meter is not None:
            meter.start()  # the usage writer
        try:
            await services.audit.start()  # the audit writer
            try:
                # The limiter's flush and lease renewal, the retention purges and the audit head anchor.
                async with (
                    services.limits.running(),
                    retention_task(
                        memory_runtime.store,
                        services.audit,
                        settings.data_retention_days,
                        zep=memory_runtime.mirror,
                    ),
                    head_anchor_task(services.audit, settings.audit_anchor_interval_seconds),
                    recording_retention_task(
                        recordings.store,
                        services.audit,
                        settings.recording_retention_days,
                        RETENTION_INTERVAL_SECONDS,
                    ),
                ):
                    yield
            finally:
                await services.audit.stop()
        finally:
            await services.voice.aclose()
            if meter is not None:
                await meter.aclose()  # store the last collected usage
            await memory_runtime.aclose()  # drain Zep writes before the pool goes
            if gateway is not None:
                await gateway.aclose()
            services.telemetry.shutdown()
            await dispose(engine)

    app = FastAPI(
        title="Engram API",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.environment != "production" else None,
        redoc_url=None,
    )
    app.state = services  # routers reach these through app.api.deps, typed

    for area in (
        health,
        agents,
        chat,
        memory,
        voice,
        admin_metrics,
        usage,
        admin_recordings,
        voice_ticket,
        privacy,
        admin,
    ):
        app.include_router(area.router)
    mount_web(app)  # the built UI at / when app/web/dist exists; API routes always win
    install_error_handlers(app)

    # Middleware, outermost first: request id -> CORS -> security headers -> audit -> body cap
    # (each `add_middleware` wraps the ones added before it).
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    if settings.audit_log_enabled:
        app.add_middleware(AuditMiddleware, trail=services.audit)
    app.add_middleware(SecurityHeadersMiddleware, production=settings.environment == "production")
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials="*" not in settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        # WWW-Authenticate: the UI reads the MFA claims challenge from a cross-origin 401.
        expose_headers=["X-Request-ID", "Retry-After", "WWW-Authenticate"],
    )
    app.add_middleware(RequestIdMiddleware)
    services.telemetry = configure_telemetry(settings, app, engine)  # last: it wraps the whole stack
    install_openapi(app, settings)
    return app
