"""`create_app(settings)`: wires the engine, stores, clients and routers. Nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.api import admin_metrics, admin_recordings, agents, chat, health, memory, usage, voice
from app.api.contract import API_DESCRIPTION, install_openapi
from app.api.errors import RequestIdMiddleware, install_error_handlers
from app.api.web import mount_web
from app.audit.trail import pseudonym_key
from app.chat.gateway import Gateway
from app.chat.service import ChatService
from app.db.engine import create_engine, dispose, session_factory
from app.memory.runtime import MemoryRuntime
from app.observability.telemetry import configure_telemetry
from app.recordings.store import BlobRecordingStore
from app.security import setup as security
from app.security.crypto import cipher_from_settings
from app.settings import Settings
from app.usage.meter import UsageMeter
from app.usage.store import UsageStore
from app.voice.recording import Recordings
from app.voice.service import VoiceService


def create_app(settings: Settings) -> FastAPI:
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        memory_runtime.start()  # the Zep outbox worker
        if meter is not None:
            meter.start()  # the usage writer
        try:
            async with security.lifespan(app):
                yield
        finally:
            await app.state.voice.aclose()
            if meter is not None:
                await meter.aclose()  # store the last collected usage
            await memory_runtime.aclose()  # drain Zep writes before the pool goes
            if gateway is not None:
                await gateway.aclose()
            app.state.telemetry.shutdown()
            await dispose(engine)

    app = FastAPI(
        title="Engram API",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.environment != "production" else None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.memory = memory_runtime
    app.state.memory_health = memory_runtime.mirror.health if memory_runtime.mirror else None
    app.state.usage = meter
    app.state.chat = ChatService(
        settings, memory_runtime.store, memory_runtime.context, gateway, memory_runtime.queue, meter
    )
    # The store exists whenever one is configured, even with RECORDING_MODE=off: erasure and retention
    # still reach recordings made before recording was switched off.
    app.state.recordings = Recordings(
        settings, BlobRecordingStore.from_settings(settings), pseudonym_key(settings)
    )
    app.state.voice = VoiceService(settings, app.state.recordings)

    app.include_router(health.router)
    app.include_router(agents.router)
    app.include_router(chat.router)
    app.include_router(memory.router)
    app.include_router(voice.router)
    app.include_router(admin_metrics.router)
    app.include_router(usage.router)
    app.include_router(admin_recordings.router)
    security.install(app, settings)

    mount_web(app)  # the built UI at / when app/web/dist exists; API routes always win
    install_error_handlers(app)
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
    app.state.telemetry = configure_telemetry(settings, app, engine)
    install_openapi(app, settings)
    return app
