"""`GET /api/v1/admin/metrics`: a live snapshot of this replica's SOP signals (runbook, `engram verify`).

Every number was recorded by the emitters in `app/observability/metrics.py` within the window; where
nothing was recorded the value is null, never a made-up zero latency. Fleet-wide figures live in
Application Insights (see docs/observability.md).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.api.deps import MemoryDep
from app.observability.live import LIVE, LatencyWindow
from app.security.deps import MetricsReader, SettingsDep

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class Latency(BaseModel):
    samples: int = Field(description="How many values were recorded in the window.")
    p50_ms: float | None = Field(description="Median (nearest rank); null with no samples.")
    p95_ms: float | None = Field(description="95th percentile (nearest rank); null with no samples.")


class ChatLatency(Latency):
    by_outcome: dict[str, int] = Field(description="Sample count per outcome label.")


class VoiceSnapshot(BaseModel):
    active_sessions: int = Field(description="Voice sessions open on this replica now.")
    sessions_started: int
    session_errors: int
    error_rate: float | None = Field(description="errors / started in the window; null when none started.")
    first_audio: Latency


class MemorySnapshot(BaseModel):
    backend: Literal["sql", "zep+sql"]
    degradations: int = Field(description="Zep calls that failed or timed out in the window.")
    zep_reachable: bool | None = Field(description="Zep's answer to a probe now; null when not configured.")
    degraded: bool = Field(description="True when Zep is unreachable or any degradation was recorded.")


class MetricsSnapshot(BaseModel):
    generated_at: datetime
    instance: str = Field(description="The replica that answered; each replica keeps its own window.")
    window_minutes: int
    voice: VoiceSnapshot
    chat_latency: ChatLatency
    auth_failures_last_minute: int
    gateway_throttled: int = Field(description="429 answers from the AI gateway in the window.")
    memory: MemorySnapshot


def _latency(window: LatencyWindow) -> Latency:
    return Latency(samples=window.samples, p50_ms=window.p50_ms, p95_ms=window.p95_ms)


@router.get("/metrics", response_model=MetricsSnapshot, operation_id="admin-metrics")
async def metrics_snapshot(
    settings: SettingsDep,
    _: MetricsReader,
    memory: MemoryDep,
    minutes: Annotated[int, Query(ge=1, le=60, description="Window length in minutes.")] = 5,
) -> MetricsSnapshot:
    """Live SOP signals of this replica over the last `minutes` (admin)."""
    live = LIVE.snapshot(minutes * 60.0)
    zep_reachable: bool | None = None
    probe_degraded = False
    if memory.mirror is not None:
        zep_reachable, probe_degraded = await memory.mirror.health()
    return MetricsSnapshot(
        generated_at=datetime.now(UTC),
        instance=socket.gethostname(),
        window_minutes=minutes,
        voice=VoiceSnapshot(
            active_sessions=live.voice_sessions_active,
            sessions_started=live.voice_sessions_started,
            session_errors=live.voice_session_errors,
            error_rate=live.voice_error_rate,
            first_audio=_latency(live.voice_first_audio),
        ),
        chat_latency=ChatLatency(
            samples=live.chat_latency.samples,
            p50_ms=live.chat_latency.p50_ms,
            p95_ms=live.chat_latency.p95_ms,
            by_outcome=live.chat_latency.by_outcome,
        ),
        auth_failures_last_minute=live.auth_failures_last_minute,
        gateway_throttled=live.gateway_throttled,
        memory=MemorySnapshot(
            backend="zep+sql" if settings.zep_configured else "sql",
            degradations=live.memory_degradations,
            zep_reachable=zep_reachable,
            degraded=probe_degraded or live.memory_degradations > 0,
        ),
    )
