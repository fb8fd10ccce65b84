"""The SOP telemetry signals, named once.

The service emits these (through OpenTelemetry) and the infrastructure's alert rules query them by
these names (`components/observability.py` imports this module), so the two cannot drift apart.
This module is pure data: importing it costs nothing and pulls in no telemetry SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "histogram", "updown_counter"]


@dataclass(frozen=True)
class Signal:
    name: str
    kind: Kind
    unit: str
    attributes: tuple[str, ...]
    question: str  # what an operator learns from it


CHAT_LATENCY = Signal(
    "chat_request_latency_ms",
    "histogram",
    "ms",
    ("agent_id", "outcome"),
    "How long do chat requests take, per agent and outcome? (alert: p95 > 3 s)",
)
VOICE_SESSIONS_STARTED = Signal(
    "voice_sessions_started",
    "counter",
    "1",
    ("agent_id",),
    "How many voice sessions began? (denominator of the VoiceLive error rate)",
)
VOICE_SESSION_ERRORS = Signal(
    "voice_session_errors",
    "counter",
    "1",
    ("reason",),
    "How many voice sessions failed, and why? (alert: errors / started > 5%)",
)
VOICE_SESSIONS_ACTIVE = Signal(
    "voice_sessions_active",
    "updown_counter",
    "1",
    (),
    "How many voice sessions are open right now? (alert: > 100)",
)
VOICE_FIRST_AUDIO_LATENCY = Signal(
    "voice_first_audio_latency_ms",
    "histogram",
    "ms",
    ("agent_id",),
    "How long from the end of the user's speech to the first audio of the answer?",
)
AUTH_FAILURES = Signal(
    "auth_failures",
    "counter",
    "1",
    ("reason",),
    "How often is authentication refused, and why? (alert: > 10 per minute)",
)
GATEWAY_THROTTLED = Signal(
    "gateway_throttled",
    "counter",
    "1",
    ("agent_id",),
    "How often does the AI gateway answer 429?",
)
MEMORY_DEGRADED = Signal(
    "memory_degradations",
    "counter",
    "1",
    ("operation", "reason"),
    "How often did a Zep call fail or time out (memory served from SQL only)?",
)
RECORDING_DEGRADED = Signal(
    "recording_degradations",
    "counter",
    "1",
    ("reason",),
    "How often did a consented voice recording lose audio (queue full) or stop (store slow or failing)?",
)

ALL_SIGNALS: tuple[Signal, ...] = (
    CHAT_LATENCY,
    VOICE_SESSIONS_STARTED,
    VOICE_SESSION_ERRORS,
    VOICE_SESSIONS_ACTIVE,
    VOICE_FIRST_AUDIO_LATENCY,
    AUTH_FAILURES,
    GATEWAY_THROTTLED,
    MEMORY_DEGRADED,
    RECORDING_DEGRADED,
)
