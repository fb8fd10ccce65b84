"""A small in-process window over the SOP signals, for the operator snapshot (`GET /api/v1/admin/metrics`).

The emitters in `metrics.py` feed it with the very values they hand to OpenTelemetry, so the snapshot
works with telemetry export off and never shows a number that was not recorded. It is per process
(one replica): App Insights or the OTLP backend hold the fleet-wide view.

Memory is bounded: samples older than `HORIZON_S` are dropped as new ones arrive, and each series keeps
at most `MAX_SAMPLES` (the oldest go first), so a flood cannot grow the process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

#: The longest window a snapshot may ask for (seconds); older samples are pruned.
HORIZON_S = 3600.0
#: The most samples one series keeps (a chat latency sample is a few dozen bytes).
MAX_SAMPLES = 50_000

_T = TypeVar("_T")


class Event(StrEnum):
    """Countable occurrences the snapshot reports (timestamps only)."""

    VOICE_STARTED = "voice_started"
    VOICE_ERROR = "voice_error"
    AUTH_FAILURE = "auth_failure"
    GATEWAY_THROTTLED = "gateway_throttled"
    MEMORY_DEGRADED = "memory_degraded"
    RECORDING_DEGRADED = "recording_degraded"


@dataclass(frozen=True)
class LatencyWindow:
    """Percentiles (nearest rank) of the samples in a window; None when there were none."""

    samples: int
    p50_ms: float | None
    p95_ms: float | None
    by_outcome: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveSnapshot:
    window_s: float
    voice_sessions_active: int
    voice_sessions_started: int
    voice_session_errors: int
    voice_error_rate: float | None  # None when no session started in the window
    voice_first_audio: LatencyWindow
    chat_latency: LatencyWindow
    auth_failures_last_minute: int
    gateway_throttled: int
    memory_degradations: int
    recording_degradations: int = 0


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: always a value that was really recorded."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


class LiveRecorder:
    """Thread-safe rolling record of recent signal values; `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._chat: deque[tuple[float, float, str]] = deque(maxlen=MAX_SAMPLES)
        self._first_audio: deque[tuple[float, float, str]] = deque(maxlen=MAX_SAMPLES)
        self._events: dict[Event, deque[float]] = {e: deque(maxlen=MAX_SAMPLES) for e in Event}
        self._active = 0

    def chat_latency(self, ms: float, outcome: str) -> None:
        self._sample(self._chat, ms, outcome)

    def voice_first_audio(self, ms: float) -> None:
        self._sample(self._first_audio, ms, "")

    def mark(self, event: Event) -> None:
        now = self._clock()
        with self._lock:
            series = self._events[event]
            series.append(now)
            _prune(series, now, key=lambda t: t)

    def voice_active(self, delta: int) -> None:
        with self._lock:
            self._active += delta

    def clear(self) -> None:
        with self._lock:
            self._chat.clear()
            self._first_audio.clear()
            for series in self._events.values():
                series.clear()
            self._active = 0

    def snapshot(self, window_s: float) -> LiveSnapshot:
        window_s = min(window_s, HORIZON_S)
        now = self._clock()
        since = now - window_s
        with self._lock:
            chat = [(ms, outcome) for t, ms, outcome in self._chat if t >= since]
            first_audio = [(ms, "") for t, ms, _ in self._first_audio if t >= since]
            counts = {e: sum(1 for t in series if t >= since) for e, series in self._events.items()}
            auth_minute = sum(1 for t in self._events[Event.AUTH_FAILURE] if t >= now - 60.0)
            active = self._active
        started, errors = counts[Event.VOICE_STARTED], counts[Event.VOICE_ERROR]
        return LiveSnapshot(
            window_s=window_s,
            voice_sessions_active=active,
            voice_sessions_started=started,
            voice_session_errors=errors,
            voice_error_rate=errors / started if started else None,
            voice_first_audio=_latency(first_audio, by_outcome=False),
            chat_latency=_latency(chat, by_outcome=True),
            auth_failures_last_minute=auth_minute,
            gateway_throttled=counts[Event.GATEWAY_THROTTLED],
            memory_degradations=counts[Event.MEMORY_DEGRADED],
            recording_degradations=counts[Event.RECORDING_DEGRADED],
        )

    def _sample(self, series: deque[tuple[float, float, str]], ms: float, label: str) -> None:
        if not math.isfinite(ms):
            return  # a NaN would poison every percentile after it
        now = self._clock()
        with self._lock:
            series.append((now, float(ms), label))
            _prune(series, now, key=lambda item: item[0])


def _prune(series: deque[_T], now: float, key: Callable[[_T], float]) -> None:
    while series and key(series[0]) < now - HORIZON_S:
        series.popleft()


def _latency(samples: list[tuple[float, str]], *, by_outcome: bool) -> LatencyWindow:
    values = sorted(ms for ms, _ in samples)
    outcomes: dict[str, int] = {}
    if by_outcome:
        for _, outcome in samples:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return LatencyWindow(
        samples=len(values),
        p50_ms=percentile(values, 0.50),
        p95_ms=percentile(values, 0.95),
        by_outcome=outcomes,
    )


#: The process-wide recorder the emitters feed.
LIVE = LiveRecorder()
