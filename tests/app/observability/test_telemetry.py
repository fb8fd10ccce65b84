"""Telemetry set-up: server, client and database spans in one trace; redaction; trace ids in logs;
telemetry off costs nothing; the OTLP path really exports.

Apps come from `create_app` (telemetry switched on by the `sink` fixture) plus test-only routes.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import openai
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.main import create_app
from app.observability.logging import configure_logging
from app.observability.telemetry import span_redactor
from tests.app.observability.conftest import Sink
from tests.conftest import make_settings
from tests.doubles.recording_http import chat_completion, recording_server

EMAIL = "jane.doe@example.com"
API_KEY = "sk-" + "a1b2c3d4e5f6a7b8c9d0e1f2"
PHONE = "+44 20 7946 0958"


def _server_span(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matches = [s for s in spans if s.kind == SpanKind.SERVER and s.name == name]
    assert len(matches) == 1, [s.name for s in spans]
    return matches[0]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _everything_said(spans: list[ReadableSpan]) -> str:
    """All text a span exporter would ship: names, attributes, events, status messages."""
    parts: list[str] = []
    for span in spans:
        parts += [span.name, json.dumps(dict(span.attributes or {}), default=str)]
        parts += [span.status.description or ""]
        for event in span.events:
            parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
    return "\n".join(parts)


def _app(tmp_path: Path, **overrides: Any) -> FastAPI:
    return create_app(make_settings(tmp_path, **overrides))


def test_request_produces_server_span_with_route(sink: Sink, tmp_path: Path) -> None:
    with TestClient(_app(tmp_path)) as client:
        assert client.get("/health").status_code == 200
    span = _server_span(sink.finished(), "GET /health")
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/health"
    assert span.attributes["http.status_code"] == 200


def test_database_query_is_a_child_span_of_the_request(sink: Sink, tmp_path: Path) -> None:
    with TestClient(_app(tmp_path)) as client:
        assert client.get("/ready").status_code == 200
    spans = sink.finished()
    server = _server_span(spans, "GET /ready")
    queries = [s for s in _children(spans, server) if (s.attributes or {}).get("db.statement") == "SELECT 1"]
    assert len(queries) == 1
    assert queries[0].kind == SpanKind.CLIENT
    assert queries[0].context.trace_id == server.context.trace_id


def test_outgoing_httpx_call_is_a_child_client_span(sink: Sink, tmp_path: Path) -> None:
    app = _app(tmp_path)
    with recording_server({"/v4/ping": {"ok": True}}) as upstream:

        @app.get("/_test/outbound")
        async def outbound() -> dict[str, Any]:
            async with httpx.AsyncClient() as client:  # as the Zep SDK does
                return (await client.get(f"{upstream.url}/v4/ping")).json()  # type: ignore[no-any-return]

        with TestClient(app) as client:
            assert client.get("/_test/outbound").json() == {"ok": True}
    spans = sink.finished()
    server = _server_span(spans, "GET /_test/outbound")
    calls = [s for s in _children(spans, server) if s.kind == SpanKind.CLIENT]
    assert len(calls) == 1
    assert calls[0].attributes is not None
    assert calls[0].attributes["http.url"] == f"{upstream.url}/v4/ping"
    assert calls[0].attributes["http.status_code"] == 200


def test_gateway_call_through_the_openai_sdk_is_a_child_client_span(sink: Sink, tmp_path: Path) -> None:
    """The openai SDK v3 speaks httpx2, a separate package from httpx: it needs its own instrumentor."""
    app = _app(tmp_path)
    with recording_server({"/openai/v1/chat/completions": chat_completion("hi")}) as gateway:

        @app.post("/_test/gateway")
        async def ask() -> dict[str, str]:
            client = openai.AsyncOpenAI(base_url=f"{gateway.url}/openai/v1", api_key=API_KEY)
            reply = await client.chat.completions.create(
                model="gpt-5-chat", messages=[{"role": "user", "content": f"mail me at {EMAIL}"}]
            )
            await client.close()
            return {"reply": reply.choices[0].message.content or ""}

        with TestClient(app) as client:
            assert client.post("/_test/gateway").json() == {"reply": "hi"}
        assert gateway.requests[0].headers["authorization"] == f"Bearer {API_KEY}"  # the key did travel
    spans = sink.finished()
    server = _server_span(spans, "POST /_test/gateway")
    calls = [s for s in _children(spans, server) if s.kind == SpanKind.CLIENT]
    assert [c.attributes["http.method"] for c in calls if c.attributes] == ["POST"]
    said = _everything_said(spans)
    assert API_KEY not in said and EMAIL not in said


def test_span_attributes_carry_no_personal_data_or_secrets(sink: Sink, tmp_path: Path) -> None:
    app = _app(tmp_path)

    @app.get("/_test/fail/{who}")
    async def fail(who: str) -> None:
        raise RuntimeError(f"could not reach {who} at {PHONE}, key={API_KEY}")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            f"/_test/fail/{EMAIL}",
            params={"token": API_KEY, "email": EMAIL},
            headers={"Authorization": f"Bearer {API_KEY}", "X-Forwarded-For": "203.0.113.7"},
        )
        assert response.status_code == 500
    spans = sink.finished()
    server = _server_span(spans, "GET /_test/fail/{who}")
    said = _everything_said(spans)
    for secret in (EMAIL, API_KEY, PHONE, "token=", "testclient:"):
        assert secret not in said
    attributes = dict(server.attributes or {})
    assert attributes["http.target"] == "/_test/fail/[EMAIL]"  # query string gone, path masked
    assert not {"client.address", "net.peer.ip", "http.client_ip"} & attributes.keys()
    assert any(e.name == "exception" for e in server.events)  # the exception is kept, masked


def test_span_redactor_masks_attributes_events_and_status() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(span_redactor())
    provider.add_span_processor(SimpleSpanProcessor(exported))
    with provider.get_tracer("t").start_as_current_span(f"lookup {EMAIL}") as span:
        span.set_attribute("user.email", EMAIL)
        span.set_attribute("url.full", f"https://gw.example/x?api-key={API_KEY}")
        span.set_attribute("url.query", f"api-key={API_KEY}")
        span.set_attribute("client.address", "203.0.113.7")
        span.set_attribute("tags", [EMAIL, "plain"])
        span.set_attribute("tokens", 12)
        span.add_event("note", {"said": f"call {PHONE}"})
    (span_out,) = exported.get_finished_spans()
    assert span_out.name == "lookup [EMAIL]"
    assert dict(span_out.attributes or {}) == {
        "user.email": "[EMAIL]",
        "url.full": "https://gw.example/x",
        "tags": ("[EMAIL]", "plain"),
        "tokens": 12,
    }
    assert dict(span_out.events[0].attributes or {}) == {"said": "call [PHONE]"}


def test_log_lines_carry_the_trace_and_span_ids_of_their_request(sink: Sink, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = configure_logging(settings, stream)
    try:
        app = create_app(settings)

        @app.get("/_test/log")
        async def log_something() -> dict[str, bool]:
            logging.getLogger("engram.test").info("answering %s", EMAIL)
            return {"ok": True}

        with TestClient(app) as client:
            client.get("/_test/log")
        logging.getLogger("engram.test").info("outside any request")
    finally:
        root.removeHandler(handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    inside = next(line for line in lines if line["message"].startswith("answering"))
    outside = next(line for line in lines if line["message"] == "outside any request")
    server = _server_span(sink.finished(), "GET /_test/log")
    assert inside["trace_id"] == f"{server.context.trace_id:032x}"
    assert inside["span_id"] == f"{server.context.span_id:016x}"
    assert inside["message"] == "answering [EMAIL]"
    assert inside["request_id"] not in ("-", "")
    assert outside["trace_id"] == outside["span_id"] == "-"


def test_shutdown_takes_the_instrumentation_off(sink: Sink, tmp_path: Path) -> None:
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor

    with TestClient(_app(tmp_path)):
        assert HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
        assert HTTPX2ClientInstrumentor().is_instrumented_by_opentelemetry
    assert not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
    assert not HTTPX2ClientInstrumentor().is_instrumented_by_opentelemetry


def _run(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[3]), **env},
    )


def test_telemetry_off_loads_no_sdk_and_adds_no_instrumentation(tmp_path: Path) -> None:
    """In a fresh interpreter: with neither setting, nothing of the SDK is even imported."""
    result = _run(
        f"""
        import sys
        from fastapi.testclient import TestClient
        from app.main import create_app
        from app.settings import Settings
        app = create_app(Settings(data_dir={str(tmp_path)!r}, _env_file=None))
        with TestClient(app) as client:
            assert client.get("/health").status_code == 200
        assert app.state.telemetry.mode == "off"
        loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "azure.monitor",
                        "opentelemetry.instrumentation")))
        print(loaded)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_otlp_endpoint_exports_traces_metrics_and_logs_over_http(tmp_path: Path) -> None:
    """The real OTLP/HTTP exporters, pointed at a loopback collector: the endpoint is the base URL."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    with recording_server() as collector:
        result = _run(
            f"""
            import logging
            from fastapi.testclient import TestClient
            from app.main import create_app
            from app.observability import metrics
            from app.observability.logging import configure_logging
            from app.settings import Settings
            settings = Settings(data_dir={str(tmp_path)!r}, otel_exporter_otlp_endpoint={collector.url!r},
                                _env_file=None)
            configure_logging(settings)
            app = create_app(settings)
            with TestClient(app) as client:
                client.get("/health?email={EMAIL}")
                metrics.auth_failure("invalid_token")
                logging.getLogger("engram.test").warning("a note about {EMAIL}")
            """,
            tmp_path,
        )
        assert result.returncode == 0, result.stderr
        traces = ExportTraceServiceRequest.FromString(collector.wait_for("/v1/traces")[0].body)
        metrics_bodies = [
            ExportMetricsServiceRequest.FromString(r.body) for r in collector.wait_for("/v1/metrics")
        ]
        logs = ExportLogsServiceRequest.FromString(collector.wait_for("/v1/logs")[0].body)
    spans = [s for rs in traces.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert "GET /health" in [s.name for s in spans]
    assert EMAIL not in str(traces)
    names = {
        m.name
        for body in metrics_bodies
        for rm in body.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert "auth_failures" in names
    bodies = [
        r.body.string_value for rl in logs.resource_logs for sl in rl.scope_logs for r in sl.log_records
    ]
    assert "a note about [EMAIL]" in bodies


def test_connection_string_exports_requests_dependencies_logs_and_metrics_to_application_insights(
    tmp_path: Path,
) -> None:
    """The Azure Monitor distro with a connection string whose IngestionEndpoint is a loopback
    recorder: the envelopes App Insights would ingest, in its own track format."""
    ikey = "00000000-0000-0000-0000-0000000000a1"
    track = {"itemsReceived": 0, "itemsAccepted": 0, "errors": []}
    with recording_server({"/v2.1/track": track}) as ingestion:
        connection = f"InstrumentationKey={ikey};IngestionEndpoint={ingestion.url}/"
        result = _run(
            f"""
            import logging
            from fastapi.testclient import TestClient
            from app.main import create_app
            from app.observability import metrics
            from app.observability.logging import configure_logging
            from app.settings import Settings
            settings = Settings(data_dir={str(tmp_path)!r}, _env_file=None,
                                applicationinsights_connection_string={connection!r})
            configure_logging(settings)
            app = create_app(settings)
            with TestClient(app) as client:
                assert client.get("/ready?email={EMAIL}").status_code == 200
                metrics.auth_failure("invalid_token")
                logging.getLogger("engram.test").warning("a note about {EMAIL}")
            """,
            tmp_path,
            # Sample every trace (the distro's default rate limiter may skip a fresh process's first
            # request); no statsbeat (it reports to Microsoft's own endpoint, unreachable here).
            OTEL_TRACES_SAMPLER="microsoft.fixed_percentage",
            OTEL_TRACES_SAMPLER_ARG="1.0",
            APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
        )
        assert result.returncode == 0, result.stderr
        envelopes = [e for r in ingestion.wait_for("/v2.1/track") for e in json.loads(r.body)]
    assert {e["iKey"] for e in envelopes} == {ikey}
    by_type: dict[str, list[dict[str, Any]]] = {}
    for envelope in envelopes:
        by_type.setdefault(envelope["data"]["baseType"], []).append(envelope)

    (request,) = [e for e in by_type["RequestData"] if e["data"]["baseData"]["name"] == "GET /ready"]
    assert request["data"]["baseData"]["responseCode"] == "200"
    assert "?" not in request["data"]["baseData"]["url"]  # the query (and its e-mail) is stripped
    operation = request["tags"]["ai.operation.id"]
    sql = [e for e in by_type["RemoteDependencyData"] if e["data"]["baseData"]["type"] == "SQL"]
    assert any(e["tags"]["ai.operation.id"] == operation for e in sql), "the readiness query is in its trace"
    assert request["tags"]["ai.cloud.role"] == "engram-api"

    messages = [e["data"]["baseData"]["message"] for e in by_type["MessageData"]]
    assert "a note about [EMAIL]" in messages
    assert not [m for m in messages if "Request URL" in m or "Transmission" in m], "exporter chatter exported"
    metric_names = {m["name"] for e in by_type["MetricData"] for m in e["data"]["baseData"]["metrics"]}
    assert "auth_failures" in metric_names
    assert EMAIL not in json.dumps(envelopes)
