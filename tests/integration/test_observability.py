"""Observability end to end (issue 10's acceptance), with the in-memory exporters of `tests/telemetry.py`.

A chat request against the OpenAI and Zep doubles is one trace: the server span, its client span to
the gateway (openai over httpx2), the SQL inserts of the memory write and the Zep calls (httpx, in
the background mirror task), with no message text, e-mail or key in any span. One latency point per
request, with agent and outcome. Each failure bumps its SOP signal: a gateway 429, a Zep timeout (and
the admin snapshot says memory is degraded), a failed VoiceLive session (and the active gauge comes
back to zero), a bad token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from app.observability import signals
from app.settings import Settings
from app.voice.params import VoiceParams
from tests.app.chat.helpers import running
from tests.app.voice.harness import voice_env
from tests.conftest import make_settings, settings_with_doubles
from tests.doubles.openai_server import OpenAIDouble, Step
from tests.doubles.voicelive_server import VoiceLiveDouble
from tests.doubles.zep_server import API_KEY as ZEP_KEY
from tests.doubles.zep_server import ZepDouble
from tests.integration.helpers import GATEWAY_KEY, bearer, dev
from tests.telemetry import Sink

EMAIL = "jane.doe@example.com"
SAID = f"Please keep my address {EMAIL} for the Orion launch plan"
ADMIN = bearer(dev("root", "admin"))
ALICE = dev("alice")


def settings_for(tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble, **overrides: object) -> Settings:
    return settings_with_doubles(
        tmp_path,
        gateway=gateway.base_url,
        gateway_key=GATEWAY_KEY,
        zep=zep.base_url,
        zep_key=ZEP_KEY,
        **overrides,
    )


def _descends_from(span: ReadableSpan, ancestor: ReadableSpan, spans: list[ReadableSpan]) -> bool:
    by_id = {s.context.span_id: s for s in spans}
    parent = span.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        found = by_id.get(parent.span_id)
        parent = found.parent if found is not None else None
    return False


def _attr(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(name)


def _everything_said(spans: list[ReadableSpan]) -> str:
    """All text a span exporter would ship: names, attributes, events, status messages."""
    parts: list[str] = []
    for span in spans:
        parts += [span.name, json.dumps(dict(span.attributes or {}), default=str)]
        parts.append(span.status.description or "")
        for event in span.events:
            parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
    return "\n".join(parts)


async def test_a_chat_request_is_one_trace_from_server_to_gateway_sql_and_zep(
    sink: Sink, tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    latency = signals.CHAT_LATENCY.name
    before = sink.value(latency, agent_id="elena", outcome="ok")
    async with running(settings_for(tmp_path, gateway, zep)) as (app, client):
        response = await client.post("/api/v1/chat", json={"content": SAID}, headers=bearer(ALICE))
        assert response.status_code == 200, response.text
        await app.state.memory.queue.flush()
    reply = response.json()["content"]
    assert zep.thread_for_user("alice"), "the Zep mirror never wrote"

    spans = sink.finished()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER and s.name == "POST /api/v1/chat"]
    trace = [s for s in spans if s.context.trace_id == server.context.trace_id]
    children = [s for s in trace if s.parent is not None and s.parent.span_id == server.context.span_id]

    to_gateway = [
        s for s in children if s.kind == SpanKind.CLIENT and "/chat/completions" in str(_attr(s, "http.url"))
    ]
    assert len(to_gateway) == 1, [s.name for s in children]
    assert _attr(to_gateway[0], "http.method") == "POST"
    assert _attr(to_gateway[0], "http.status_code") == 200

    inserts = [s for s in children if str(_attr(s, "db.statement") or "").startswith("INSERT INTO turns")]
    # The question and the answer are written under the request, as one two-row INSERT.
    assert len(inserts) == 1, [_attr(s, "db.statement") for s in inserts]
    assert str(_attr(inserts[0], "db.statement")).count("(?, ?, ?, ?, ?, ?, ?)") == 2
    assert any(str(_attr(s, "db.statement") or "").startswith("INSERT INTO episodes") for s in children)

    to_zep = [s for s in trace if s.kind == SpanKind.CLIENT and "/api/v4/" in str(_attr(s, "http.url"))]
    zep_calls = sorted(str(_attr(s, "http.url")).split("/api/v4/")[1].split("/")[0] for s in to_zep)
    assert zep_calls == ["threads", "threads", "users"]  # create user, create thread, add messages
    assert all(_descends_from(s, server, trace) for s in to_zep)

    said = _everything_said(spans)
    for secret in (SAID, "Orion launch", reply, EMAIL, GATEWAY_KEY, ZEP_KEY, ALICE):
        assert secret not in said, secret

    points = sink.points(latency)
    assert sink.value(latency, agent_id="elena", outcome="ok") == before + 1
    assert all(dict(key).keys() == {"agent_id", "outcome"} for key in points)


async def test_a_gateway_429_bumps_gateway_throttled(
    sink: Sink, tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    throttled = sink.value(signals.GATEWAY_THROTTLED.name, agent_id="elena")
    outcome = sink.value(signals.CHAT_LATENCY.name, agent_id="elena", outcome="throttled")
    gateway.script(Step(status=429, headers={"Retry-After": "0"}))
    settings = settings_for(tmp_path, gateway, zep, chat_throttle_retries=0)
    async with running(settings) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hello"}, headers=bearer(ALICE))
        snapshot = (await client.get("/api/v1/admin/metrics", headers=ADMIN)).json()
    assert response.status_code == 429 and "Retry-After" in response.headers
    assert sink.value(signals.GATEWAY_THROTTLED.name, agent_id="elena") == throttled + 1
    assert sink.value(signals.CHAT_LATENCY.name, agent_id="elena", outcome="throttled") == outcome + 1
    assert snapshot["gateway_throttled"] == 1


async def test_a_zep_timeout_bumps_memory_degradations_and_the_snapshot_says_degraded(
    sink: Sink, tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    degraded = sink.value(signals.MEMORY_DEGRADED.name, operation="create_user", reason="timeout")
    zep.mode, zep.delay_s = "slow", 0.5
    settings = settings_for(tmp_path, gateway, zep, zep_timeout_seconds=0.1)
    async with running(settings) as (app, client):
        healthy = (await client.get("/api/v1/admin/metrics", headers=ADMIN)).json()["memory"]
        response = await client.post("/api/v1/chat", json={"content": "hello"}, headers=bearer(ALICE))
        assert response.status_code == 200, "a slow Zep never delays the reply"
        await app.state.memory.queue.flush()
        memory = (await client.get("/api/v1/admin/metrics", headers=ADMIN)).json()["memory"]
        sid = response.json()["session_id"]
        episode = await client.get(f"/api/v1/memory/episodes/{sid}", headers=bearer(ALICE))
    assert healthy == {"backend": "zep+sql", "degradations": 0, "zep_reachable": None, "degraded": False}
    assert sink.value(signals.MEMORY_DEGRADED.name, operation="create_user", reason="timeout") == degraded + 1
    assert memory == {"backend": "zep+sql", "degradations": 1, "zep_reachable": False, "degraded": True}
    assert len(episode.json()["transcript"]) == 2  # SQL kept the exchange


@pytest.mark.parametrize("failure", ["renewed", "error", "gave_up"])
async def test_a_voicelive_session_counts_as_failed_only_when_renewal_gives_up(
    sink: Sink, tmp_path: Path, failure: str
) -> None:
    """SOP 6.6: a VoiceLive session lost and renewed, or an error event the session survives, is not
    a failed session; only a renewal that gives up is (reason `renewal_failed`)."""
    errors = signals.VOICE_SESSION_ERRORS.name
    active, failed = (
        sink.value(signals.VOICE_SESSIONS_ACTIVE.name),
        sink.value(errors, reason="renewal_failed"),
    )
    renewals = sink.value(signals.VOICE_RENEWALS.name, reason="closed", outcome="renewed")
    async with VoiceLiveDouble() as double:
        settings = make_settings(
            tmp_path, azure_voicelive_endpoint=double.endpoint, azure_voicelive_key=double.api_key
        )
        async with voice_env(settings, double) as env:
            env.app.state.voice.params = VoiceParams(renewal_backoff_s=0.05)
            async with env.client("sess-fail", token=ALICE) as client:
                await client.until("agent_switched")
                assert sink.value(signals.VOICE_SESSIONS_ACTIVE.name) == active + 1
                upstream = await double.session()
                if failure == "error":
                    await upstream.error("server_error", f"the user said {EMAIL}")
                    seen = await client.until("error")
                    assert seen[-1]["message"] == "the voice service reported an error (server_error)"
                elif failure == "renewed":
                    await upstream.disconnect()
                    await client.until("session_renewed")
                else:
                    double.refuse_all = True
                    await upstream.disconnect()
                    code, seen = await client.closed()
                    assert code == 1013  # try again, see docs/voice-protocol.md
                    assert seen[-1]["type"] == "error"
            await env.idle()
            snapshot = await _admin_snapshot(env.port)
    expected = 1 if failure == "gave_up" else 0
    assert sink.value(errors, reason="renewal_failed") == failed + expected
    assert snapshot["voice"]["session_errors"] == expected and snapshot["voice"]["sessions_started"] == 1
    assert sink.value(signals.VOICE_RENEWALS.name, reason="closed", outcome="renewed") == renewals + (
        failure == "renewed"
    )
    assert sink.value(signals.VOICE_SESSIONS_ACTIVE.name) == active
    assert snapshot["voice"]["active_sessions"] == 0


async def _admin_snapshot(port: int) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        response = await http.get("/api/v1/admin/metrics", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_bad_token_bumps_auth_failures(
    sink: Sink, tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    failures = sink.value(signals.AUTH_FAILURES.name, reason="invalid_token")
    async with running(settings_for(tmp_path, gateway, zep)) as (_, client):
        refused = await client.post("/api/v1/chat", json={"content": "hi"}, headers=bearer("not-a-token"))
        snapshot = (await client.get("/api/v1/admin/metrics", headers=ADMIN)).json()
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert sink.value(signals.AUTH_FAILURES.name, reason="invalid_token") == failures + 1
    assert snapshot["auth_failures_last_minute"] == 1
    assert gateway.requests == []  # refused before any work
