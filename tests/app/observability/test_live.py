"""The in-process window: percentiles of recorded values only, nulls without data, bounded by time."""

from __future__ import annotations

from app.observability.live import HORIZON_S, Event, LiveRecorder, percentile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_nothing_recorded_gives_nulls_not_zeros() -> None:
    snap = LiveRecorder(Clock()).snapshot(300)
    assert snap.chat_latency.samples == 0
    assert snap.chat_latency.p50_ms is None and snap.chat_latency.p95_ms is None
    assert snap.voice_error_rate is None
    assert snap.voice_sessions_active == 0


def test_percentiles_are_nearest_rank_of_recorded_values() -> None:
    live = LiveRecorder(Clock())
    for ms in range(1, 101):  # 1..100 ms
        live.chat_latency(float(ms), "ok" if ms <= 90 else "error")
    snap = live.snapshot(300).chat_latency
    assert (snap.samples, snap.p50_ms, snap.p95_ms) == (100, 50.0, 95.0)
    assert snap.by_outcome == {"ok": 90, "error": 10}
    assert percentile([7.0], 0.95) == 7.0


def test_window_excludes_older_samples_and_horizon_prunes_them() -> None:
    clock = Clock()
    live = LiveRecorder(clock)
    live.chat_latency(5000.0, "ok")
    clock.now += 400  # older than a 5-minute window
    live.chat_latency(10.0, "ok")
    assert live.snapshot(300).chat_latency.p95_ms == 10.0
    assert live.snapshot(600).chat_latency.p95_ms == 5000.0
    clock.now += HORIZON_S + 1
    live.chat_latency(20.0, "ok")
    assert live.snapshot(HORIZON_S).chat_latency.samples == 1


def test_voice_error_rate_and_active_sessions() -> None:
    live = LiveRecorder(Clock())
    for _ in range(4):
        live.mark(Event.VOICE_STARTED)
        live.voice_active(+1)
    live.mark(Event.VOICE_ERROR)
    live.voice_active(-1)
    snap = live.snapshot(300)
    assert (snap.voice_sessions_started, snap.voice_session_errors) == (4, 1)
    assert snap.voice_error_rate == 0.25
    assert snap.voice_sessions_active == 3


def test_auth_failures_count_the_last_minute_only() -> None:
    clock = Clock()
    live = LiveRecorder(clock)
    live.mark(Event.AUTH_FAILURE)
    clock.now += 61
    live.mark(Event.AUTH_FAILURE)
    live.mark(Event.AUTH_FAILURE)
    assert live.snapshot(300).auth_failures_last_minute == 2


def test_non_finite_latency_is_ignored() -> None:
    live = LiveRecorder(Clock())
    live.chat_latency(float("nan"), "ok")
    assert live.snapshot(300).chat_latency.samples == 0
