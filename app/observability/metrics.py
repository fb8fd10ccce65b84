"""Emitters for the SOP signals, called by the code that knows them.

Instruments come from the OpenTelemetry API: they cost next to nothing until `telemetry.py` installs
an SDK, and their names come from `signals.py`. Each emitter also feeds the in-process window in
`live.py`, so the operator snapshot shows exactly what was emitted.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics

from app.observability import signals
from app.observability.live import LIVE, Event

_meter = metrics.get_meter("engram")


def _instrument(signal: signals.Signal) -> Any:
    """The instrument of the kind, unit and description `signals.py` declares for `signal`."""
    if signal.kind == "counter":
        return _meter.create_counter(signal.name, unit=signal.unit, description=signal.question)
    if signal.kind == "histogram":
        return _meter.create_histogram(signal.name, unit=signal.unit, description=signal.question)
    if signal.kind == "gauge":
        return _meter.create_gauge(signal.name, unit=signal.unit, description=signal.question)
    return _meter.create_up_down_counter(signal.name, unit=signal.unit, description=signal.question)


_chat_latency = _instrument(signals.CHAT_LATENCY)
_voice_started = _instrument(signals.VOICE_SESSIONS_STARTED)
_voice_errors = _instrument(signals.VOICE_SESSION_ERRORS)
_voice_active = _instrument(signals.VOICE_SESSIONS_ACTIVE)
_first_audio = _instrument(signals.VOICE_FIRST_AUDIO_LATENCY)
_renewals = _instrument(signals.VOICE_RENEWALS)
_renewal_gap = _instrument(signals.VOICE_RENEWAL_GAP)
_gap_frames = _instrument(signals.VOICE_GAP_FRAMES)
_resumes = _instrument(signals.VOICE_RESUMES)
_auth_failures = _instrument(signals.AUTH_FAILURES)
_throttled = _instrument(signals.GATEWAY_THROTTLED)
_memory_degraded = _instrument(signals.MEMORY_DEGRADED)
_mirror_backlog = _instrument(signals.MIRROR_BACKLOG)
_mirror_oldest_age = _instrument(signals.MIRROR_OLDEST_AGE)
_usage_dropped = _instrument(signals.USAGE_DROPPED)
_limiter_fallbacks = _instrument(signals.LIMITER_FALLBACKS)
_limiter_refusals = _instrument(signals.LIMITER_REFUSALS)
_recording_degraded = _instrument(signals.RECORDING_DEGRADED)


def chat_latency(ms: float, agent_id: str, outcome: str) -> None:
    _chat_latency.record(ms, {"agent_id": agent_id, "outcome": outcome})
    LIVE.chat_latency(ms, outcome)


def voice_session_started(agent_id: str) -> None:
    _voice_started.add(1, {"agent_id": agent_id})
    LIVE.mark(Event.VOICE_STARTED)


def voice_session_error(reason: str) -> None:
    _voice_errors.add(1, {"reason": reason})
    LIVE.mark(Event.VOICE_ERROR)


def voice_sessions_active(delta: int) -> None:
    _voice_active.add(delta)
    LIVE.voice_active(delta)


def voice_first_audio_latency(ms: float, agent_id: str) -> None:
    _first_audio.record(ms, {"agent_id": agent_id})
    LIVE.voice_first_audio(ms)


def voice_renewal(reason: str, outcome: str, gap_ms: float | None = None) -> None:
    """One replacement of a VoiceLive session; the gap is recorded when it worked."""
    _renewals.add(1, {"reason": reason, "outcome": outcome})
    if gap_ms is not None:
        _renewal_gap.record(gap_ms, {"reason": reason})


def voice_gap_frames(buffered: int, dropped: int) -> None:
    """Microphone frames that arrived during one renewal gap."""
    if buffered:
        _gap_frames.add(buffered, {"outcome": "buffered"})
    if dropped:
        _gap_frames.add(dropped, {"outcome": "dropped"})


def voice_session_resumed() -> None:
    _resumes.add(1)


def auth_failure(reason: str) -> None:
    _auth_failures.add(1, {"reason": reason})
    LIVE.mark(Event.AUTH_FAILURE)


def gateway_throttled(agent_id: str) -> None:
    _throttled.add(1, {"agent_id": agent_id})
    LIVE.mark(Event.GATEWAY_THROTTLED)


def memory_degraded(operation: str, reason: str) -> None:
    _memory_degraded.add(1, {"operation": operation, "reason": reason})
    LIVE.mark(Event.MEMORY_DEGRADED)


def mirror_backlog(batches: int, oldest_age_s: float) -> None:
    _mirror_backlog.set(batches)
    _mirror_oldest_age.set(oldest_age_s)


def usage_dropped(reason: str) -> None:
    _usage_dropped.add(1, {"reason": reason})


def limiter_fallback(operation: str, reason: str) -> None:
    _limiter_fallbacks.add(1, {"operation": operation, "reason": reason})


def limiter_refusal(limit: str) -> None:
    _limiter_refusals.add(1, {"limit": limit})


def recording_degraded(reason: str) -> None:
    """A recording dropped frames (`queue_full`) or stopped (`store_error`, `store_timeout`, ...)."""
    _recording_degraded.add(1, {"reason": reason})
    LIVE.mark(Event.RECORDING_DEGRADED)
