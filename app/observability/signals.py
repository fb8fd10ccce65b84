"""The SOP telemetry signals, named once.

The service emits these (through OpenTelemetry) and the infrastructure's alert rules query them by
these names (`components/observability.py` imports this module), so the two cannot drift apart.
This module is pure data: importing it costs nothing and pulls in no telemetry SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "histogram", "updown_counter", "gauge"]


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
    "How many voice sessions failed, and why? (alert: errors / started > 5%; a lost VoiceLive session "
    "counts only when its renewal gave up)",
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
VOICE_RENEWALS = Signal(
    "voice_upstream_renewals",
    "counter",
    "1",
    ("reason", "outcome"),
    "How often was a VoiceLive session replaced under a live browser (expired, closed, network, stalled, "
    "proactive), and did it work (renewed, gave_up)?",
)
VOICE_RENEWAL_GAP = Signal(
    "voice_renewal_gap_ms",
    "histogram",
    "ms",
    ("reason",),
    "How long was the user without a VoiceLive session while it was replaced?",
)
VOICE_GAP_FRAMES = Signal(
    "voice_gap_frames",
    "counter",
    "1",
    ("outcome",),
    "How many microphone frames arrived while no VoiceLive session was open (buffered, dropped)?",
)
VOICE_RESUMES = Signal(
    "voice_sessions_resumed",
    "counter",
    "1",
    (),
    "How many browser reconnects resumed a recent conversation (its turns restored)?",
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
MIRROR_BACKLOG = Signal(
    "memory_mirror_backlog",
    "gauge",
    "1",
    (),
    "How many turn batches wait in the outbox for Zep (all replicas; measured by each replica)?",
)
MIRROR_OLDEST_AGE = Signal(
    "memory_mirror_oldest_age_s",
    "gauge",
    "s",
    (),
    "How long has the oldest outbox batch waited for Zep?",
)
USAGE_DROPPED = Signal(
    "usage_records_dropped",
    "counter",
    "1",
    ("reason",),
    "How often was usage not stored (writer backlog full) or held for a retry (flush failed)?",
)

LIMITER_FALLBACKS = Signal(
    "limiter_fallbacks",
    "counter",
    "1",
    ("operation", "reason"),
    "How often did a limit fall back to this replica's own counters because Redis did not answer?",
)
LIMITER_REFUSALS = Signal(
    "limiter_refusals",
    "counter",
    "1",
    ("limit",),
    "How often was a caller refused by a rate limit, a session cap or the token budget, and which?",
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
    VOICE_RENEWALS,
    VOICE_RENEWAL_GAP,
    VOICE_GAP_FRAMES,
    VOICE_RESUMES,
    AUTH_FAILURES,
    GATEWAY_THROTTLED,
    MEMORY_DEGRADED,
    MIRROR_BACKLOG,
    MIRROR_OLDEST_AGE,
    USAGE_DROPPED,
    LIMITER_FALLBACKS,
    LIMITER_REFUSALS,
    RECORDING_DEGRADED,
)
