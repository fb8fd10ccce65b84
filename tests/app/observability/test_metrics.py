"""The emitters produce OpenTelemetry data points with the signal names, kinds and attributes of
`signals.py`, and feed the live window with the same values."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics.export import HistogramDataPoint, NumberDataPoint

from app.main import create_app
from app.observability import metrics, signals
from app.observability.live import LIVE
from tests.app.observability.conftest import Sink
from tests.conftest import make_settings


def _value(sink: Sink, signal: signals.Signal, **attributes: str) -> float:
    point = sink.points(signal.name).get(frozenset(attributes.items()))
    if point is None:
        return 0.0
    if isinstance(point, HistogramDataPoint):
        return float(point.count)
    assert isinstance(point, NumberDataPoint)
    return float(point.value)


def test_every_emitter_produces_its_signal_with_its_attributes(sink: Sink) -> None:
    calls = {
        signals.CHAT_LATENCY: (
            lambda: metrics.chat_latency(120.0, "pm", "ok"),
            {"agent_id": "pm", "outcome": "ok"},
        ),
        signals.VOICE_SESSIONS_STARTED: (lambda: metrics.voice_session_started("pm"), {"agent_id": "pm"}),
        signals.VOICE_SESSION_ERRORS: (
            lambda: metrics.voice_session_error("upstream"),
            {"reason": "upstream"},
        ),
        signals.VOICE_SESSIONS_ACTIVE: (lambda: metrics.voice_sessions_active(+1), {}),
        signals.VOICE_FIRST_AUDIO_LATENCY: (
            lambda: metrics.voice_first_audio_latency(80.0, "pm"),
            {"agent_id": "pm"},
        ),
        signals.VOICE_RENEWALS: (
            lambda: metrics.voice_renewal("closed", "renewed", 120.0),
            {"reason": "closed", "outcome": "renewed"},
        ),
        signals.VOICE_RENEWAL_GAP: (
            lambda: metrics.voice_renewal("stalled", "renewed", 80.0),
            {"reason": "stalled"},
        ),
        signals.VOICE_GAP_FRAMES: (lambda: metrics.voice_gap_frames(0, 1), {"outcome": "dropped"}),
        signals.VOICE_RESUMES: (metrics.voice_session_resumed, {}),
        signals.AUTH_FAILURES: (lambda: metrics.auth_failure("expired"), {"reason": "expired"}),
        signals.GATEWAY_THROTTLED: (lambda: metrics.gateway_throttled("pm"), {"agent_id": "pm"}),
        signals.MEMORY_DEGRADED: (
            lambda: metrics.memory_degraded("add", "timeout"),
            {"operation": "add", "reason": "timeout"},
        ),
        # Gauges: each emit sets both outbox figures one above what they were.
        signals.MIRROR_BACKLOG: (lambda: _bump_backlog(sink), {}),
        signals.MIRROR_OLDEST_AGE: (lambda: _bump_backlog(sink), {}),
        signals.USAGE_DROPPED: (lambda: metrics.usage_dropped("backlog_full"), {"reason": "backlog_full"}),
        signals.LIMITER_FALLBACKS: (
            lambda: metrics.limiter_fallback("admit", "ConnectionError"),
            {"operation": "admit", "reason": "ConnectionError"},
        ),
        signals.LIMITER_REFUSALS: (lambda: metrics.limiter_refusal("rate"), {"limit": "rate"}),
        signals.RECORDING_DEGRADED: (
            lambda: metrics.recording_degraded("store_error"),
            {"reason": "store_error"},
        ),
    }
    assert set(calls) == set(signals.ALL_SIGNALS)
    for signal, (emit, attributes) in calls.items():
        assert set(attributes) == set(signal.attributes), signal.name
        before = _value(sink, signal, **attributes)
        emit()
        assert _value(sink, signal, **attributes) == before + 1, signal.name
    metrics.voice_sessions_active(-1)


def _bump_backlog(sink: Sink) -> None:
    backlog = _value(sink, signals.MIRROR_BACKLOG)
    metrics.mirror_backlog(int(backlog) + 1, _value(sink, signals.MIRROR_OLDEST_AGE) + 1)


def test_instrument_kinds_and_units_follow_signals(sink: Sink) -> None:
    metrics.chat_latency(1.0, "a", "ok")
    data = sink.metrics.get_metrics_data()
    assert data is not None
    found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    for signal in signals.ALL_SIGNALS:
        if signal.name not in found:
            continue  # not emitted yet in this process
        metric = found[signal.name]
        assert metric.unit == signal.unit
        kind = type(metric.data).__name__
        kinds = {"counter": "Sum", "updown_counter": "Sum", "histogram": "Histogram", "gauge": "Gauge"}
        assert kind == kinds[signal.kind]
        if signal.kind in ("counter", "updown_counter"):
            assert metric.data.is_monotonic == (signal.kind == "counter")


def test_emitters_feed_the_live_window(sink: Sink) -> None:
    metrics.chat_latency(250.0, "pm", "ok")
    metrics.voice_session_started("pm")
    metrics.voice_session_error("timeout")
    metrics.auth_failure("invalid_token")
    metrics.memory_degraded("search", "timeout")
    snap = LIVE.snapshot(300)
    assert snap.chat_latency.p95_ms == 250.0
    assert snap.voice_error_rate == 1.0
    assert snap.auth_failures_last_minute == 1
    assert snap.memory_degradations == 1


def test_a_bad_token_bumps_auth_failures(sink: Sink, tmp_path: Path) -> None:
    before = _value(sink, signals.AUTH_FAILURES, reason="invalid_token")
    with TestClient(create_app(make_settings(tmp_path))) as client:
        assert (
            client.get("/api/v1/admin/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
    assert _value(sink, signals.AUTH_FAILURES, reason="invalid_token") == before + 1
