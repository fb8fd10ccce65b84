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
    return _meter.create_up_down_counter(signal.name, unit=signal.unit, description=signal.question)


_chat_latency = _instrument(signals.CHAT_LATENCY)
_voice_started = _instrument(signals.VOICE_SESSIONS_STARTED)
_voice_errors = _instrument(signals.VOICE_SESSION_ERRORS)
_voice_active = _instrument(signals.VOICE_SESSIONS_ACTIVE)
_first_audio = _instrument(signals.VOICE_FIRST_AUDIO_LATENCY)
_auth_failures = _instrument(signals.AUTH_FAILURES)
_throttled = _instrument(signals.GATEWAY_THROTTLED)
_memory_degraded = _instrument(signals.MEMORY_DEGRADED)
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


def auth_failure(reason: str) -> None:
    _auth_failures.add(1, {"reason": reason})
    LIVE.mark(Event.AUTH_FAILURE)


def gateway_throttled(agent_id: str) -> None:
    _throttled.add(1, {"agent_id": agent_id})
    LIVE.mark(Event.GATEWAY_THROTTLED)


def memory_degraded(operation: str, reason: str) -> None:
    _memory_degraded.add(1, {"operation": operation, "reason": reason})
    LIVE.mark(Event.MEMORY_DEGRADED)


def recording_degraded(reason: str) -> None:
    """A recording dropped frames (`queue_full`) or stopped (`store_error`, `store_timeout`, ...)."""
    _recording_degraded.add(1, {"reason": reason})
    LIVE.mark(Event.RECORDING_DEGRADED)
