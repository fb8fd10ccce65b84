"""`POST /api/v1/chat` and `/chat/stream` through the real `openai` SDK to a local gateway double.

Covers: multi-turn history, agent switching, streaming, 429 + Retry-After, timeout, 5xx, validation,
ownership, persistence on SQLite and PostgreSQL, credentials (api-key header; bearer tokens), and a
stream the client stops (under uvicorn: the model call ends and nothing is stored).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.db.migrate import upgrade
from app.main import create_app
from app.settings import Settings
from tests.app.chat.helpers import auth, running, sse_events
from tests.app.voice.harness import eventually, served
from tests.conftest import make_settings
from tests.doubles.openai_server import OpenAIDouble, Step


def chat_settings(tmp_path: Path, gateway: OpenAIDouble, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "azure_ai_endpoint": gateway.base_url,
        "azure_ai_key": "gw-key",
        "azure_ai_deployment": "gpt-test",
        "chat_throttle_max_wait_seconds": 1.0,
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


async def test_not_configured_is_503_naming_the_setting(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hello"})
    assert response.status_code == 503
    assert "AZURE_AI_ENDPOINT" in response.json()["detail"]


async def test_reply_carries_metadata_and_uses_the_key_header(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "What is a user story?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agent_id"] == "elena" and body["agent_name"] == "Elena"
    assert body["content"] == "reply 1 to: What is a user story?"
    assert body["tokens_used"] == 18
    assert body["session_id"] and body["message_id"] and body["latency_ms"] >= 0
    sent = gateway.requests[0]
    assert sent.body["model"] == "gpt-test"
    assert sent.headers["api-key"] == "gw-key"
    assert "Authorization" not in sent.headers
    assert sent.messages[0]["role"] == "system" and "Elena" in sent.messages[0]["content"]
    assert sent.messages[-1] == {"role": "user", "content": "What is a user story?"}


async def test_multi_turn_history_and_agent_switch(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        first = (await client.post("/api/v1/chat", json={"content": "We need a login page"})).json()
        sid = first["session_id"]
        second = await client.post(
            "/api/v1/chat", json={"content": "Plan it", "agent_id": "marcus", "session_id": sid}
        )
        assert second.status_code == 200
        assert second.json()["agent_name"] == "Marcus"
        episode = (await client.get(f"/api/v1/memory/episodes/{sid}")).json()
    messages = gateway.requests[1].messages
    assert "Marcus" in messages[0]["content"]
    assert messages[1:] == [
        {"role": "user", "content": "We need a login page"},
        {"role": "assistant", "content": "[Elena] reply 1 to: We need a login page"},
        {"role": "user", "content": "Plan it"},
    ]
    assert episode["agents"] == ["elena", "marcus"]
    assert [(t["role"], t["metadata"]["agent_id"]) for t in episode["transcript"]] == [
        ("user", "elena"),
        ("assistant", "elena"),
        ("user", "marcus"),
        ("assistant", "marcus"),
    ]


async def test_long_sessions_are_trimmed_to_the_budget(tmp_path: Path, gateway: OpenAIDouble) -> None:
    settings = chat_settings(tmp_path, gateway, chat_context_budget_tokens=1000)
    async with running(settings) as (_, client):
        sid = None
        for i in range(6):
            body = {"content": f"message {i} " + "x" * 1200, **({"session_id": sid} if sid else {})}
            response = await client.post("/api/v1/chat", json=body)
            assert response.status_code == 200
            sid = response.json()["session_id"]
    last = gateway.requests[-1].messages
    assert last[-1]["content"].startswith("message 5")
    assert sum(len(m["content"]) for m in last) < 1000 * 4  # within the budget's character estimate
    assert len(last) < 12  # older turns were dropped, the request still went out


async def test_stream_forwards_deltas_and_ends_with_metadata(tmp_path: Path, gateway: OpenAIDouble) -> None:
    gateway.script(Step(reply="Here is a plan with three milestones."))
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        response = await client.post("/api/v1/chat/stream", json={"content": "plan", "agent_id": "marcus"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.text)
        sid = events[-1][1]["session_id"]
        episode = (await client.get(f"/api/v1/memory/episodes/{sid}")).json()
    deltas = [data["content"] for name, data in events if name == "delta"]
    assert len(deltas) > 1
    assert "".join(deltas) == "Here is a plan with three milestones."
    name, done = events[-1]
    assert name == "done"
    assert done["tokens_used"] == 18 and done["agent_id"] == "marcus"
    assert done["content"] == "Here is a plan with three milestones."
    assert gateway.requests[0].body["stream_options"] == {"include_usage": True}
    assert [t["content"] for t in episode["transcript"]] == ["plan", "Here is a plan with three milestones."]


async def test_stream_failing_midway_ends_with_an_error_event(tmp_path: Path, gateway: OpenAIDouble) -> None:
    gateway.script(Step(reply="a long answer that will be cut", fail_after_chunks=2))
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        response = await client.post("/api/v1/chat/stream", json={"content": "go", "session_id": "cut-1"})
        events = sse_events(response.text)
        episode = await client.get("/api/v1/memory/episodes/cut-1")
    assert events[-1][0] == "error" and events[-1][1]["status"] == 502
    assert episode.status_code == 404  # nothing half-written


async def test_throttling_is_retried_within_the_budget(tmp_path: Path, gateway: OpenAIDouble) -> None:
    gateway.script(Step(status=429, headers={"retry-after-ms": "10"}))
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"})
    assert response.status_code == 200
    assert len(gateway.requests) == 2


async def test_persistent_throttling_is_429_with_retry_after(tmp_path: Path, gateway: OpenAIDouble) -> None:
    gateway.script(*[Step(status=429, headers={"retry-after": "7"})] * 3)
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi", "session_id": "thr-1"})
        stream = await client.post("/api/v1/chat/stream", json={"content": "hi"})
        episode = await client.get("/api/v1/memory/episodes/thr-1")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert "throttling" in response.json()["detail"]
    assert stream.status_code == 429
    assert episode.status_code == 404
    assert len(gateway.requests) == 2  # 7 s exceeds the 1 s wait budget: no retry


async def test_timeout_is_504(tmp_path: Path, gateway: OpenAIDouble) -> None:
    gateway.script(Step(delay_s=3))
    async with running(chat_settings(tmp_path, gateway, chat_timeout_seconds=0.3)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"})
    assert response.status_code == 504
    assert "CHAT_TIMEOUT_SECONDS" in response.json()["detail"]


@pytest.mark.parametrize("status", [500, 503, 400])
async def test_upstream_errors_are_502_never_200(tmp_path: Path, gateway: OpenAIDouble, status: int) -> None:
    gateway.script(Step(status=status))
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"})
    assert response.status_code == 502
    assert str(status) in response.json()["detail"]


async def test_empty_model_reply_is_502(tmp_path: Path, gateway: OpenAIDouble) -> None:
    gateway.script(Step(reply=""))
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"})
    assert response.status_code == 502


async def test_validation_and_unknown_agent(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(chat_settings(tmp_path, gateway, chat_max_content_chars=20)) as (_, client):
        empty = await client.post("/api/v1/chat", json={"content": "   "})
        huge = await client.post("/api/v1/chat", json={"content": "a secret word " * 5})
        agent = await client.post("/api/v1/chat", json={"content": "hi", "agent_id": "zed"})
        bad_sid = await client.post("/api/v1/chat", json={"content": "hi", "session_id": "../etc"})
    assert empty.status_code == 422 and "empty" in empty.text
    assert huge.status_code == 422 and "CHAT_MAX_CONTENT_CHARS" in huge.text
    assert "secret" not in huge.text
    assert agent.status_code == 404 and "elena, marcus" in agent.json()["detail"]
    assert bad_sid.status_code == 422
    assert gateway.requests == []


async def test_someone_elses_session_is_404(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        ok = await client.post(
            "/api/v1/chat", json={"content": "hi", "session_id": "s-a"}, headers=auth("alice")
        )
        assert ok.status_code == 200
        other = await client.post(
            "/api/v1/chat", json={"content": "hi", "session_id": "s-a"}, headers=auth("bob")
        )
    assert other.status_code == 404
    assert len(gateway.requests) == 1


async def test_viewer_may_not_chat(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"}, headers=auth("v", "viewer"))
    assert response.status_code == 403


async def test_chat_persists_on_each_database(database_settings: Settings, gateway: OpenAIDouble) -> None:
    settings = database_settings.model_copy(
        update={"azure_ai_endpoint": gateway.base_url, "azure_ai_key": SecretStr("k")}
    )
    async with running(settings) as (_, client):
        first = (await client.post("/api/v1/chat", json={"content": "one"}, headers=auth("alice"))).json()
        sid = first["session_id"]
        await client.post("/api/v1/chat", json={"content": "two", "session_id": sid}, headers=auth("alice"))
    async with running(settings) as (_, client):  # a fresh process reads the same episode
        episode = (await client.get(f"/api/v1/memory/episodes/{sid}", headers=auth("alice"))).json()
    assert [t["content"] for t in episode["transcript"]] == [
        "one",
        "reply 1 to: one",
        "two",
        "reply 2 to: two",
    ]
    assert episode["channels"] == ["chat"]


async def test_keyless_gateway_sends_entra_bearer_tokens(tmp_path: Path, gateway: OpenAIDouble) -> None:
    from azure.core.credentials import AccessToken

    from app.chat.endpoint import COGNITIVE_SERVICES_SCOPE
    from app.chat.gateway import Gateway

    class Credential:
        scopes: list[tuple[str, ...]] = []

        async def get_token(self, *scopes: str, **_: object) -> AccessToken:
            self.scopes.append(scopes)
            return AccessToken("entra-token", 2**31)

        async def close(self) -> None:
            return None

    credential = Credential()
    settings = make_settings(tmp_path, azure_ai_endpoint=gateway.base_url)
    client = Gateway.from_settings(settings, credential=credential)  # type: ignore[arg-type]
    assert client is not None
    try:
        completion = await client.complete([{"role": "user", "content": "hi"}])
    finally:
        await client.aclose()
    assert completion.content == "reply 1 to: hi"
    assert gateway.requests[0].headers["Authorization"] == "Bearer entra-token"
    assert "api-key" not in gateway.requests[0].headers
    assert credential.scopes == [(COGNITIVE_SERVICES_SCOPE,)]


async def test_a_fact_added_between_chats_reaches_the_next_prompt(
    tmp_path: Path, gateway: OpenAIDouble
) -> None:
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        first = await client.post(
            "/api/v1/chat", json={"content": "billing status?", "session_id": "s-f"}, headers=auth("ann")
        )
        added = await client.post(
            "/api/v1/memory/facts", json={"content": "Ann leads the billing migration"}, headers=auth("ann")
        )
        second = await client.post(
            "/api/v1/chat", json={"content": "billing status?", "session_id": "s-f"}, headers=auth("ann")
        )
    assert (first.status_code, added.status_code, second.status_code) == (200, 201, 200)
    assert "billing migration" not in gateway.requests[0].messages[0]["content"]
    assert "Ann leads the billing migration" in gateway.requests[1].messages[0]["content"]


async def test_ownership_holds_for_streams_and_after_erasure(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(chat_settings(tmp_path, gateway)) as (_, client):
        mine = await client.post(
            "/api/v1/chat", json={"content": "alice's secret", "session_id": "s-o"}, headers=auth("alice")
        )
        streamed = await client.post(
            "/api/v1/chat/stream", json={"content": "hi", "session_id": "s-o"}, headers=auth("bob")
        )
        erased = await client.delete("/api/v1/memory/users/me", headers=auth("alice"))
        reopened = await client.post(
            "/api/v1/chat", json={"content": "bob here", "session_id": "s-o"}, headers=auth("bob")
        )
        alice_back = await client.post(
            "/api/v1/chat", json={"content": "mine?", "session_id": "s-o"}, headers=auth("alice")
        )
    assert mine.status_code == 200
    assert streamed.status_code == 404
    assert erased.status_code == 200
    assert reopened.status_code == 200 and alice_back.status_code == 404
    assert len(gateway.requests) == 2  # refused callers never reach the model
    assert all("alice's secret" not in m["content"] for m in gateway.requests[1].messages)


async def test_a_stopped_stream_stops_the_model_call_and_stores_nothing(
    tmp_path: Path, gateway: OpenAIDouble
) -> None:
    """The UI's Stop closes the request mid-answer: the service closes its call to the model and
    keeps no half exchange (neither the question nor the partial answer)."""
    gateway.script(Step(reply="word " * 40, chunk_delay_s=0.05))
    app = create_app(chat_settings(tmp_path, gateway))
    await upgrade(app.state.engine)
    async with served(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        body = {"content": "a long question", "session_id": "stopped-1"}
        async with client.stream("POST", "/api/v1/chat/stream", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("event: delta"):
                    break  # one word arrived: the user presses Stop
        await eventually(lambda: gateway.streams_aborted == 1)
        episode = await client.get("/api/v1/memory/episodes/stopped-1")
        assert episode.status_code == 404, episode.text  # nothing stored
        # The session still works: the next message is answered and stored as a whole exchange.
        gateway.script(Step(reply="A short answer."))
        again = await client.post(
            "/api/v1/chat", json={"content": "short, please", "session_id": "stopped-1"}
        )
        assert again.status_code == 200
        turns = (await client.get("/api/v1/memory/episodes/stopped-1")).json()["transcript"]
    assert [t["content"] for t in turns] == ["short, please", "A short answer."]


async def test_spent_token_budget_is_429_before_the_gateway(tmp_path: Path, gateway: OpenAIDouble) -> None:
    settings = chat_settings(tmp_path, gateway, chat_tokens_per_minute=1000)
    async with running(settings) as (app, client):
        app.state.limits.spend_tokens(982)
        first = await client.post("/api/v1/chat", json={"content": "hello"})
        assert first.status_code == 200 and first.json()["tokens_used"] == 18  # 982 + 18: the budget
        refused = await client.post("/api/v1/chat", json={"content": "hello again"})
        streamed = await client.post("/api/v1/chat/stream", json={"content": "and again"})
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith(
        "the deployment's chat token budget (1000 tokens a minute) is spent; retry in "
    )
    assert int(refused.headers["Retry-After"]) >= 1
    assert streamed.status_code == 429
    assert len(gateway.requests) == 1  # the refused ones never reached the gateway
