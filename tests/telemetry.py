"""In-memory OpenTelemetry for tests that look at spans and metrics (the `sink` fixture).

OpenTelemetry's global meter provider can be set once per process, so one in-memory set of providers
lives for the session and every test area shares it (the fixtures are registered once, in
`tests/conftest.py`). Each test switches it on as "the process's telemetry" (restored afterwards)
and starts from an empty span list and an empty live window; metric points are cumulative over the
session, so tests compare a value before and after (`Sink.value`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.observability import telemetry
from app.observability.live import LIVE


@dataclass
class Sink:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    providers: telemetry.Providers

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
        """Cumulative data points of metric `name`, keyed by their attribute set."""
        found: dict[frozenset[tuple[str, Any]], Any] = {}
        data = self.metrics.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            found[frozenset((point.attributes or {}).items())] = point
        return found

    def value(self, name: str, **attributes: str) -> float:
        """A counter's sum or a histogram's count for exactly these attributes (0 when never recorded)."""
        point = self.points(name).get(frozenset(attributes.items()))
        if point is None:
            return 0.0
        if isinstance(point, HistogramDataPoint):
            return float(point.count)
        assert isinstance(point, NumberDataPoint)
        return float(point.value)


@pytest.fixture(scope="session")
def _session_sink() -> Sink:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    providers = telemetry.build_providers("test", spans, reader, batch=False, owned=False)
    assert providers.meter_provider is not None
    metrics.set_meter_provider(providers.meter_provider)  # the emitters' proxy instruments bind to it
    return Sink(spans, reader, providers)


@pytest.fixture
def sink(_session_sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    """Telemetry on for apps built in this test, with in-memory exporters."""
    monkeypatch.setattr(telemetry, "_process", _session_sink.providers)
    _session_sink.spans.clear()
    LIVE.clear()
    yield _session_sink
    LIVE.clear()
