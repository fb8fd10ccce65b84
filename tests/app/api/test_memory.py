"""`/api/v1/memory` and `/api/v1/agents`: read-back, ownership, admins, pagination, facts in prompts."""

from __future__ import annotations

from pathlib import Path

from app.memory.store import NewTurn
from tests.app.chat.helpers import auth, running
from tests.conftest import make_settings
from tests.doubles.openai_server import OpenAIDouble


async def test_agents_catalogue_endpoints(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path)) as (_, client):
        listing = (await client.get("/api/v1/agents")).json()
        one = await client.get("/api/v1/agents/marcus")
        missing = await client.get("/api/v1/agents/zed")
    assert [a["id"] for a in listing] == ["elena", "marcus"]
    assert listing[0]["voice"] == "en-US-Ava:DragonHDLatestNeural"
    assert one.json()["title"] == "Project Manager"
    assert missing.status_code == 404 and "elena, marcus" in missing.json()["detail"]


async def test_chat_and_voice_turns_land_in_one_episode(tmp_path: Path, gateway: OpenAIDouble) -> None:
    settings = make_settings(tmp_path, azure_ai_endpoint=gateway.base_url, azure_ai_key="k")
    async with running(settings) as (app, client):
        await client.post("/api/v1/chat", json={"content": "typed", "session_id": "u1"}, headers=auth("ann"))
        await app.state.memory.store.append_turn(  # what the voice bridge writes
            NewTurn("u1", "ann", "dev", "user", "spoken", "marcus", "voice", source_event_id="item-1")
        )
        episode = (await client.get("/api/v1/memory/episodes/u1", headers=auth("ann"))).json()
    assert episode["id"] == "u1"
    assert episode["channels"] == ["chat", "voice"]
    assert episode["agents"] == ["elena", "marcus"]
    assert [(t["content"], t["metadata"]["channel"]) for t in episode["transcript"]] == [
        ("typed", "chat"),
        ("reply 1 to: typed", "chat"),
        ("spoken", "voice"),
    ]


async def test_episodes_are_private_except_to_admins(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path)) as (app, client):
        store = app.state.memory.store
        for i in range(3):
            await store.append_turn(NewTurn(f"a{i}", "ann", "dev", "user", "x", "elena", "chat"))
        await store.append_turn(NewTurn("b0", "ben", "dev", "user", "y", "elena", "chat"))
        own = await client.get("/api/v1/memory/episodes/a0", headers=auth("ann"))
        foreign = await client.get("/api/v1/memory/episodes/a0", headers=auth("ben"))
        absent = await client.get("/api/v1/memory/episodes/none", headers=auth("ben"))
        admin = await client.get("/api/v1/memory/episodes/a0", headers=auth("root", "admin"))
        page = (await client.get("/api/v1/memory/episodes?limit=2", headers=auth("ann"))).json()
        page2 = (await client.get("/api/v1/memory/episodes?limit=2&offset=2", headers=auth("ann"))).json()
        everyone = (
            await client.get("/api/v1/memory/episodes?all=true", headers=auth("root", "admin"))
        ).json()
        not_admin = await client.get("/api/v1/memory/episodes?all=true", headers=auth("ann"))
    assert own.status_code == 200
    assert foreign.status_code == absent.status_code == 404
    assert foreign.json()["detail"] == absent.json()["detail"]  # indistinguishable from absent
    assert admin.status_code == 200
    assert page["total_count"] == 3 and len(page["episodes"]) == 2
    assert len(page2["episodes"]) == 1
    assert {e["id"] for e in page["episodes"] + page2["episodes"]} == {"a0", "a1", "a2"}
    assert everyone["total_count"] == 4
    assert not_admin.status_code == 403


async def test_facts_are_added_searched_and_reach_the_prompt(tmp_path: Path, gateway: OpenAIDouble) -> None:
    settings = make_settings(tmp_path, azure_ai_endpoint=gateway.base_url, azure_ai_key="k")
    async with running(settings) as (_, client):
        added = await client.post(
            "/api/v1/memory/facts", json={"content": "Ann leads the billing migration"}, headers=auth("ann")
        )
        assert added.status_code == 201
        await client.post("/api/v1/memory/facts", json={"content": "Ben likes billing"}, headers=auth("ben"))
        found = (
            await client.post(
                "/api/v1/memory/search", json={"query": "billing", "limit": 5}, headers=auth("ann")
            )
        ).json()
        blank = await client.post("/api/v1/memory/facts", json={"content": "  "}, headers=auth("ann"))
        viewer = await client.post(
            "/api/v1/memory/search", json={"query": "billing"}, headers=auth("vic", "viewer")
        )
        await client.post("/api/v1/chat", json={"content": "status of billing?"}, headers=auth("ann"))
    assert [f["content"] for f in found["results"]] == ["Ann leads the billing migration"]
    assert found["total_count"] == 1 and found["results"][0]["node_type"] == "fact"
    assert blank.status_code == 422
    assert viewer.status_code == 403
    system = gateway.requests[0].messages[0]["content"]
    assert "Ann leads the billing migration" in system
    assert "Ben likes billing" not in system
