"""docs/observability.md matches signals.py and alerts.py; every alert reads something the service emits."""

from __future__ import annotations

import inspect

from app.observability import alerts, catalogue, metrics, signals


def test_observability_doc_is_current() -> None:
    text = catalogue.DOC.read_text(encoding="utf-8")
    assert catalogue.render(text) == text, "run: python -m app.observability.catalogue"


def test_every_alert_query_reads_an_emitted_signal() -> None:
    emitter_source = inspect.getsource(metrics)
    emitted = {s.name for s in signals.ALL_SIGNALS if f"signals.{_const(s)})" in emitter_source}
    assert emitted == {s.name for s in signals.ALL_SIGNALS}
    for alert in alerts.SOP_ALERTS:
        assert alert.reads, alert.id
        for name in alert.reads:
            assert f'"{name}"' in alert.kql, (alert.id, name)
            assert name in emitted or name == alerts.CHAT_REQUEST_SPAN, (alert.id, name)


def test_the_four_sop_alerts_and_thresholds() -> None:
    assert {(a.id, a.threshold) for a in alerts.SOP_ALERTS} == {
        ("voicelive-error-rate", 0.05),
        ("chat-latency-p95", 3000.0),
        ("voice-sessions-active", 100.0),
        ("auth-failures", 10.0),
    }


def _const(signal: signals.Signal) -> str:
    return next(name for name, value in vars(signals).items() if value is signal)
