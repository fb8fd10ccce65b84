"""OpenTelemetry for the service: where traces, metrics and logs go, and what gets instrumented.

Three modes, chosen by settings (SOP 3.2/3.6):
- APPLICATIONINSIGHTS_CONNECTION_STRING set: the Azure Monitor distro (`configure_azure_monitor`) exports
  traces, metrics and logs to Application Insights.
- OTEL_EXPORTER_OTLP_ENDPOINT set (e.g. `http://localhost:4318`, the collector's OTLP/HTTP base URL):
  OTLP over HTTP/protobuf to `<endpoint>/v1/traces`, `/v1/metrics` and `/v1/logs`. The standard
  OTEL_METRICS_EXPORTER=none / OTEL_LOGS_EXPORTER=none switch a signal off (Jaeger takes traces only).
- neither: nothing is imported or installed; the OpenTelemetry API stays a no-op.

When on, the FastAPI app, outgoing HTTP (httpx for Zep, httpx2 for the openai SDK) and the SQLAlchemy
engine are instrumented, and `SpanRedactor` masks personal data and secrets in every span before any
exporter sees it. Providers are process-wide (OpenTelemetry sets them once); one app per process owns them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from app import __version__
from app.observability.logging import context_filters
from app.observability.redaction import redact
from app.settings import Settings, telemetry_mode

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("engram.telemetry")

SERVICE_NAME = "engram-api"

# Span attributes that identify the caller's device: dropped outright (GDPR treats IPs as personal data).
_DROPPED_ATTRIBUTES = frozenset({"client.address", "client.port", "http.client_ip", "net.peer.ip"})
# Attributes holding a URL or target: the query string goes (tokens and tickets ride there), then the
# rest is redacted like any string.
_URL_ATTRIBUTES = frozenset({"http.url", "url.full", "http.target"})
_QUERY_ATTRIBUTES = frozenset({"url.query"})


def _strip_query(value: str) -> str:
    parts = urlsplit(value)
    if not parts.query and not parts.fragment:
        return value
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def clean_attributes(attributes: Any) -> dict[str, Any]:
    """Span/event attributes with PII and secrets masked, query strings and client addresses removed."""
    cleaned: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key in _DROPPED_ATTRIBUTES or key in _QUERY_ATTRIBUTES:
            continue
        if isinstance(value, str):
            cleaned[key] = redact(_strip_query(value) if key in _URL_ATTRIBUTES else value)
        elif isinstance(value, tuple | list) and value and all(isinstance(v, str) for v in value):
            cleaned[key] = tuple(redact(v) for v in value)
        else:
            cleaned[key] = value
    return cleaned


def _span_redactor_class() -> type[SpanProcessor]:
    """Built lazily so the SDK is imported only when telemetry is on."""
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.trace import Event, SpanProcessor
    from opentelemetry.trace import Status

    class SpanRedactor(SpanProcessor):
        """Masks PII and secrets in an ended span before the exporting processors see it.

        Must be registered before them: the SDK hands the same ended span to each processor in order,
        and the SDK ends a span before `on_end` runs, so the public setters no longer apply; this
        replaces the span's attribute, event and status fields in place (tested against the SDK).
        """

        def on_end(self, span: ReadableSpan) -> None:
            try:
                span._name = redact(span.name)
                span._attributes = BoundedAttributes(
                    attributes=clean_attributes(span.attributes), immutable=True, max_value_len=None
                )
                span._events = [
                    Event(event.name, clean_attributes(event.attributes), event.timestamp)
                    for event in span.events
                ]
                if span.status.description:
                    span._status = Status(span.status.status_code, redact(span.status.description))
            except Exception:  # noqa: BLE001 - a span we cannot clean must not leave with its data
                span._attributes = BoundedAttributes(attributes={}, immutable=True)
                span._events = []
                log.warning("span attributes dropped: redaction failed", exc_info=False)

    return SpanRedactor


def span_redactor() -> SpanProcessor:
    return _span_redactor_class()()


@dataclass
class Providers:
    """The SDK providers this process exports through; `owned` ones are shut down with the app."""

    mode: str
    tracer_provider: TracerProvider
    meter_provider: MeterProvider | None = None
    logger_provider: LoggerProvider | None = None
    owned: bool = True


#: The providers installed in this process (OpenTelemetry's globals can be set only once).
_process: Providers | None = None


def build_providers(
    mode: str,
    span_exporter: Any = None,
    metric_reader: Any = None,
    log_exporter: Any = None,
    *,
    batch: bool = True,
    owned: bool = True,
) -> Providers:
    """SDK providers around the given exporters, the span redactor first in line.

    Used for OTLP and by the tests (in-memory exporters, `batch=False`); does not touch the globals.
    """
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = _resource()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(span_redactor())
    if span_exporter is not None:
        span_processor = BatchSpanProcessor if batch else SimpleSpanProcessor
        tracer_provider.add_span_processor(span_processor(span_exporter))
    meter_provider = None
    if metric_reader is not None:
        meter_provider = MeterProvider(resource=resource, metric_readers=[metric_reader])
    logger_provider = None
    if log_exporter is not None:
        logger_provider = LoggerProvider(resource=resource)
        log_processor = BatchLogRecordProcessor if batch else SimpleLogRecordProcessor
        logger_provider.add_log_record_processor(log_processor(log_exporter))
    return Providers(mode, tracer_provider, meter_provider, logger_provider, owned=owned)


def _otlp_providers(endpoint: str) -> Providers:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    base = endpoint.rstrip("/")
    metrics_on = os.environ.get("OTEL_METRICS_EXPORTER", "otlp").lower() != "none"
    logs_on = os.environ.get("OTEL_LOGS_EXPORTER", "otlp").lower() != "none"
    metric_reader = None
    if metrics_on:  # the reader starts its export thread on construction
        metric_reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics"))
    return build_providers(
        "otlp",
        OTLPSpanExporter(endpoint=f"{base}/v1/traces"),
        metric_reader,
        OTLPLogExporter(endpoint=f"{base}/v1/logs") if logs_on else None,
    )


def _install_globals(providers: Providers) -> None:
    from opentelemetry import metrics, trace
    from opentelemetry._logs import set_logger_provider

    trace.set_tracer_provider(providers.tracer_provider)
    if providers.meter_provider is not None:
        metrics.set_meter_provider(providers.meter_provider)
    if providers.logger_provider is not None:
        set_logger_provider(providers.logger_provider)


def _azure_monitor_providers(connection_string: str) -> Providers:
    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry import metrics, trace
    from opentelemetry._logs import get_logger_provider

    configure_azure_monitor(
        connection_string=connection_string,
        span_processors=[span_redactor()],  # the distro adds its exporter after these
        logger_name="",  # the root logger: everything our JSON logging sees
        # We instrument the app object ourselves (the distro's FastAPI hook patches the class, so it
        # would only catch apps built later); httpx/sqlalchemy are ours too, see `_instrument`.
        instrumentation_options={"fastapi": {"enabled": False}},
        resource=_resource(),
    )
    return Providers(
        "azure-monitor",
        trace.get_tracer_provider(),  # type: ignore[arg-type]
        metrics.get_meter_provider(),  # type: ignore[arg-type]
        get_logger_provider(),  # type: ignore[arg-type]
    )


def _resource() -> Any:
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.name": SERVICE_NAME, "service.version": __version__})


def install(providers: Providers) -> Providers:
    """Make `providers` the process's telemetry (used by `configure_telemetry` and by tests)."""
    global _process
    _process = providers
    return providers


@dataclass
class Telemetry:
    """What `configure_telemetry` set up for one app; `shutdown()` undoes it (idempotent)."""

    mode: str
    providers: Providers | None = None
    _undo: list[Any] = field(default_factory=list)

    def shutdown(self) -> None:
        global _process
        while self._undo:
            try:
                self._undo.pop()()
            except Exception:  # noqa: BLE001 - shutting down: report and carry on with the rest
                log.warning("telemetry instrumentation did not come off cleanly", exc_info=True)
        providers, self.providers = self.providers, None
        if providers is None:
            return
        for provider in (providers.tracer_provider, providers.meter_provider, providers.logger_provider):
            if provider is None:
                continue
            if providers.owned:
                provider.shutdown()  # flushes what is still batched
            else:
                provider.force_flush()
        if providers.owned and _process is providers:
            _process = None


def configure_telemetry(settings: Settings, app: FastAPI, engine: AsyncEngine) -> Telemetry:
    """Install exporters per settings (once per process) and instrument this app, its engine and httpx."""
    if _process is None:
        mode = telemetry_mode(settings)
        if mode == "off":
            return Telemetry("off")
        if mode == "azure-monitor":
            secret = settings.applicationinsights_connection_string
            assert secret is not None  # telemetry_mode said so
            install(_azure_monitor_providers(secret.get_secret_value()))
        else:
            assert settings.otel_exporter_otlp_endpoint is not None
            providers = install(_otlp_providers(settings.otel_exporter_otlp_endpoint))
            _install_globals(providers)
        log.info("telemetry on", extra={"telemetry": mode})
    assert _process is not None
    telemetry = Telemetry(_process.mode, _process)
    _instrument(telemetry, _process, app, engine)
    return telemetry


def _instrument(telemetry: Telemetry, providers: Providers, app: FastAPI, engine: AsyncEngine) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    from app.db.engine import sqlite_runner

    tracer_provider, meter_provider = providers.tracer_provider, providers.meter_provider
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        exclude_spans=["receive", "send"],  # one server span per request, not one per ASGI message
    )
    telemetry._undo.append(lambda: FastAPIInstrumentor.uninstrument_app(app))

    # Zep's SDK speaks httpx; the openai SDK (v3) speaks httpx2. Both instrumentors wrap the transport
    # classes, so clients built before this still produce client spans.
    for instrumentor in (HTTPXClientInstrumentor(), HTTPX2ClientInstrumentor(), SQLAlchemyInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()  # a previous app in this process left it on
    HTTPXClientInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    HTTPX2ClientInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    runner = sqlite_runner(engine)  # on a SQLite file, the chat path's statements run on its twin
    engines = [engine.sync_engine] + ([runner.engine] if runner is not None else [])
    SQLAlchemyInstrumentor().instrument(
        engines=engines, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    telemetry._undo.append(HTTPXClientInstrumentor().uninstrument)
    telemetry._undo.append(HTTPX2ClientInstrumentor().uninstrument)
    telemetry._undo.append(SQLAlchemyInstrumentor().uninstrument)

    # Exported log records get the same ids and redaction as the JSON lines on stdout.
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, LoggingHandler):  # the Azure distro adds its own
            _add_filters(handler)
    if providers.logger_provider is not None and providers.mode != "azure-monitor":
        handler = LoggingHandler(logger_provider=providers.logger_provider)
        _add_filters(handler)
        root.addHandler(handler)
        telemetry._undo.append(lambda: root.removeHandler(handler))


def _add_filters(handler: logging.Handler) -> None:
    if not any(type(f).__name__ == "RedactionFilter" for f in handler.filters):
        for log_filter in context_filters():
            handler.addFilter(log_filter)
