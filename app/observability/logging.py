"""Structured JSON logging: one line per record, the request and trace ids on each, everything redacted."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from app.observability.redaction import redact, redact_value
from app.settings import Settings

#: The id of the request being served (set by the request-id middleware, "-" outside requests).
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Correlation ids are 32/16 hex digits: the redaction would take them for API keys.
_CORRELATION = {"request_id", "trace_id", "span_id"}


class _DropColor(logging.Filter):
    """uvicorn adds an ANSI-coloured copy of each message; JSON lines don't want it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


class RequestContextFilter(logging.Filter):
    """Stamps the current request id on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class TraceContextFilter(logging.Filter):
    """Stamps the trace and span ids of the current span (W3C hex, "-" outside any trace).

    They match `operation_Id` / `id` in Application Insights and the trace id Jaeger shows, so a log
    line leads straight to its request's trace. Uses only the OpenTelemetry API: free when telemetry is off.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
        else:
            record.trace_id = record.span_id = "-"
        return True


class RedactionFilter(logging.Filter):
    """Masks PII and credentials in the message, its arguments and any `extra` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and key not in _CORRELATION:
                setattr(record, key, redact_value(value))
        if record.exc_info and record.exc_info[1] is not None:
            # Render now so the traceback text passes through the redaction too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s %(span_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
    )


def context_filters() -> list[logging.Filter]:
    """The filters every handler gets (stdout and telemetry export alike): ids first, redaction last."""
    return [_DropColor(), RequestContextFilter(), TraceContextFilter(), RedactionFilter()]


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    """Route every logger through one JSON handler on stdout (or `stream`)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(json_formatter())
    for log_filter in context_filters():
        handler.addFilter(log_filter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler


#: INFO lines these write per HTTP call (headers included) would be exported as App Insights traces
#: of the exporter's own uploads - a feedback loop of noise. Their warnings and errors still pass.
_CHATTY_LIBRARIES = (
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.monitor.opentelemetry.exporter",
)
