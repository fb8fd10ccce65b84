"""The shapes the original Engram web client reads: health, episodes, transcript, search, facts, clear.

Each test drives the routes the way that client does (JSON in, the named fields out).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from app.memory.store import NewTurn
from tests.app.chat.helpers import auth, running
from tests.conftest import make_settings
from tests.doubles.openai_server import OpenAIDouble


async def test_health_has_an_iso_timestamp(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path)) as (_, client):
        body = (await client.get("/health")).json()
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None


async def test_episode_list_and_transcript_shapes(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path)) as (app, client):
        store = app.state.memory.store
        await store.append_turn(
            NewTurn("e1", "ann", "dev", "user", "  Plan the launch \nand more", "elena", "chat")
        )
        await store.append_turn(NewTurn("e1", "ann", "dev", "assistant", "Sure.", "elena", "chat"))
        await store.append_turn(NewTurn("e1", "ann", "dev", "user", "Risks?", "marcus", "voice", "i1"))
        page = (await client.get("/api/v1/memory/episodes?limit=10&offset=0", headers=auth("ann"))).json()
        one = (await client.get("/api/v1/memory/episodes/e1", headers=auth("ann"))).json()
    assert page["total_count"] == 1
    (episode,) = page["episodes"]
    assert episode["id"] == "e1"
    assert episode["summary"] == "Plan the launch"
    assert episode["turn_count"] == 3
    assert episode["agent_id"] == "marcus"
    assert episode["topics"] == []
    assert datetime.fromisoformat(episode["started_at"]) <= datetime.fromisoformat(episode["ended_at"])
    assert one["id"] == "e1"
    first = one["transcript"][0]
    assert (first["role"], first["content"]) == ("user", "  Plan the launch \nand more")
    assert set(first["metadata"]) == {"agent_id", "channel", "timestamp"}
    assert [t["metadata"]["channel"] for t in one["transcript"]] == ["chat", "chat", "voice"]


async def test_search_and_fact_shapes(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path)) as (_, client):
        added = await client.post(
            "/api/v1/memory/facts",
            json={"content": "Ann owns the billing migration", "metadata": {"source": "ui"}},
            headers=auth("ann"),
        )
        found = await client.post(
            "/api/v1/memory/search", json={"query": "billing", "limit": 5}, headers=auth("ann")
        )
    assert added.status_code == 201
    assert added.json()["success"] is True and added.json()["node_id"] and added.json()["message"]
    body = found.json()
    assert body["total_count"] == 1 and body["query_time_ms"] >= 0
    (result,) = body["results"]
    assert set(result) == {"id", "content", "node_type", "confidence", "created_at", "metadata"}
    assert result["id"] == added.json()["node_id"]
    assert result["content"] == "Ann owns the billing migration"


async def test_clear_session_deletes_own_episode_and_audits(tmp_path: Path, gateway: OpenAIDouble) -> None:
    settings = make_settings(tmp_path, azure_ai_endpoint=gateway.base_url, azure_ai_key="k")
    async with running(settings) as (app, client):
        await client.post("/api/v1/chat", json={"content": "hello", "session_id": "c1"}, headers=auth("ann"))
        await client.post("/api/v1/chat", json={"content": "keep", "session_id": "c2"}, headers=auth("ann"))
        await app.state.memory.store.add_fact("ann", "from c1", episode_id="c1")
        await app.state.memory.store.add_fact("ann", "free-standing")
        foreign = await client.delete("/api/v1/chat/session/c1", headers=auth("ben"))
        cleared = await client.delete("/api/v1/chat/session/c1", headers=auth("ann"))
        again = await client.delete("/api/v1/chat/session/c1", headers=auth("ann"))
        gone = await client.get("/api/v1/memory/episodes/c1", headers=auth("ann"))
        kept = await client.get("/api/v1/memory/episodes/c2", headers=auth("ann"))
        facts = await app.state.memory.store.search_facts("ann", "", 10)
        await app.state.audit.flush()
        audit = (await client.get("/api/v1/admin/audit", headers=auth("root", "admin"))).json()["items"]
    assert foreign.status_code == 404 and foreign.json()["detail"] == "no such session"
    assert cleared.status_code == 200
    assert cleared.json()["success"] is True and "2 turns" in cleared.json()["message"]
    assert again.status_code == 404 and gone.status_code == 404 and kept.status_code == 200
    assert [f.text for f in facts] == ["free-standing"]
    deletions = [a for a in audit if a["event"] == "session_delete"]
    assert len(deletions) == 1 and deletions[0]["detail"]["turns"] == 2
    assert "ann" not in str(deletions[0])  # the trail holds a pseudonym, not the user id
