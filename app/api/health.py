"""`/health` (always open, SOP 10.1) and `/ready` (for probes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from app import __version__
from app.api.deps import EngineDep, ServicesDep
from app.db.engine import ping
from app.memory.runtime import MemoryRuntime
from app.settings import Settings
from app.voice.recording import Recordings

router = APIRouter(tags=["health"])


class MemoryHealth(BaseModel):
    backend: Literal["sql", "zep+sql"]
    zep_configured: bool
    zep_reachable: bool | None  # None when Zep is not configured
    degraded: bool
    mirror_backlog: int | None = Field(
        None, description="Turn batches waiting in the outbox for Zep (all replicas); null without Zep."
    )
    mirror_oldest_age_s: float | None = Field(
        None, description="How long the oldest waiting batch has waited; null when none waits."
    )


class LimiterHealth(BaseModel):
    backend: Literal["in-process", "redis"] = Field(description="Where the limits count (REDIS_URL).")
    degraded: bool = Field(description="Redis does not answer: each replica counts on its own meanwhile.")


class RecordingsHealth(BaseModel):
    mode: Literal["off", "consent"]
    store_configured: bool
    degraded: bool  # frames dropped or a store failure in the last few minutes; calls go on regardless
    dropped_frames: int
    store_failures: int


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    timestamp: datetime = Field(description="When this answer was made (ISO 8601, UTC).")
    version: str
    environment: str
    voicelive_configured: bool
    chat_configured: bool
    database_ok: bool
    memory: MemoryHealth
    limiter: LimiterHealth
    recordings: RecordingsHealth


class ReadyResponse(BaseModel):
    ready: bool
    database_ok: bool


@router.get("/health", response_model=HealthResponse, operation_id="health-get")
async def health(services: ServicesDep) -> HealthResponse:
    """Service status and the SOP troubleshooting flags."""
    settings = services.settings
    database_ok = await ping(services.engine)
    zep_reachable: bool | None = None
    degraded = False
    if services.memory.mirror is not None:
        zep_reachable, degraded = await services.memory.mirror.health()
    backlog = _mirror_backlog(services.memory)
    limits = await services.limits.health()
    recordings = _recordings(services.recordings, settings)
    return HealthResponse(
        status=(
            "ok"
            if database_ok and not degraded and not limits.degraded and not recordings.degraded
            else "degraded"
        ),
        timestamp=datetime.now(UTC),
        version=__version__,
        environment=settings.environment,
        voicelive_configured=settings.voicelive_configured,
        chat_configured=settings.chat_configured,
        database_ok=database_ok,
        memory=MemoryHealth(
            backend="zep+sql" if settings.zep_configured else "sql",
            zep_configured=settings.zep_configured,
            zep_reachable=zep_reachable,
            degraded=degraded,
            mirror_backlog=backlog[0],
            mirror_oldest_age_s=backlog[1],
        ),
        limiter=LimiterHealth(backend=limits.backend, degraded=limits.degraded),
        recordings=recordings,
    )


def _recordings(recordings: Recordings | None, settings: Settings) -> RecordingsHealth:
    health = recordings.health if recordings is not None else None
    return RecordingsHealth(
        mode=settings.recording_mode,
        store_configured=settings.recording_store_configured,
        degraded=bool(health and health.degraded),
        dropped_frames=health.dropped_frames if health else 0,
        store_failures=health.store_failures if health else 0,
    )


def _mirror_backlog(memory: MemoryRuntime) -> tuple[int | None, float | None]:
    """The outbox backlog as this replica's worker last measured it (each poll); nulls without Zep."""
    queue = memory.queue
    if queue is None:
        return None, None
    backlog = queue.backlog
    age = round(backlog.oldest_age_s, 3) if backlog.oldest_age_s is not None else None
    return backlog.batches, age


@router.get(
    "/ready",
    response_model=ReadyResponse,
    operation_id="health-ready",
    responses={503: {"model": ReadyResponse, "description": "The database does not answer."}},
)
async def ready(engine: EngineDep, response: Response) -> ReadyResponse:
    """200 when the database answers, 503 otherwise."""
    database_ok = await ping(engine)
    if not database_ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadyResponse(ready=database_ok, database_ok=database_ok)
