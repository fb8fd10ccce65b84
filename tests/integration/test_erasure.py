"""Erasure across channels: after chat and voice turns, `DELETE /api/v1/memory/users/me` leaves nothing
about the user in any table (SQLite and PostgreSQL) and Zep is asked to delete the user. A voice
session open during the erasure ends with close code 4410 and writes nothing afterwards, whether it
runs in the erasing process or (simulated by erasing through the store alone) on another replica.

Zep answers slowly here, so the background mirror writes of the conversation are still in flight
when the erasure arrives: an erasure must not be undone by a write that lands after it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import connect

from app.settings import Settings
from app.voice import protocol
from tests.doubles.voicelive_server import DoubleSession
from tests.integration.helpers import Client, Stack, bearer, dev, stack, table_rows, until

ALICE, BOB = dev("alice", "analyst"), dev("bob")  # analysts may store facts


@pytest.fixture
async def conversation(database_settings: Settings) -> AsyncIterator[Stack]:
    settings = database_settings.model_copy(
        update={"audit_log_enabled": True, "zep_timeout_seconds": 3.0, "zep_read_timeout_seconds": 0.05}
    )
    async with stack(settings) as s:
        s.zep.mode, s.zep.delay_s = "slow", 0.1
        first = await s.chat("Plan the Orion launch", ALICE)
        sid = first["session_id"]
        await s.talk(sid, "Add a rehearsal", "Added it", token=ALICE)
        await s.chat("Summarise it", ALICE, sid)
        fact = {"content": "Alice leads Orion"}
        fact_response = await s.http.post("/api/v1/memory/facts", json=fact, headers=bearer(ALICE))
        assert fact_response.status_code == 201, fact_response.text
        await s.chat("Bob's own question", BOB)  # another user's memory must survive
        yield s


async def test_erasure_removes_chat_and_voice_memory_everywhere(conversation: Stack) -> None:
    s = conversation
    assert s.env.app.state.memory.queue.pending > 0, "the mirror should still be writing"
    response = await s.http.delete("/api/v1/memory/users/me", headers=bearer(ALICE))
    assert response.status_code == 200, response.text
    assert response.json() == {
        # Usage: one chat row and one voice row, kept as anonymous aggregates.
        "removed": {"episodes": 1, "turns": 6, "facts": 1, "tickets": 0, "usage_rows_anonymised": 2},
        "zep": "requested",
        "recordings": "not_configured",  # this stack records nothing (RECORDING_MODE off)
    }
    await s.settle()  # whatever was still queued has run by now

    rows = await table_rows(s.engine)
    for table, content in rows.items():
        if table == "audit_log":
            continue  # keyed pseudonyms only, checked below
        dumped = json.dumps(content, default=str)
        assert '"alice"' not in dumped, f"{table} still holds alice"
        assert "Orion" not in dumped and "rehearsal" not in dumped, table
    assert '"alice"' not in json.dumps(rows["audit_log"], default=str)
    erasures = [r for r in rows["audit_log"] if r["event"] == "erasure"]
    assert len(erasures) == 1 and erasures[0]["detail"]["zep"] == "requested"

    assert s.zep.state.deleted_users, "Zep never received the user delete"
    assert "alice" not in {u["user_id"] for u in s.zep.state.users.values()}
    assert s.zep.thread_for_user("alice") == []
    assert [m["content"] for m in s.zep.thread_for_user("bob")][:1] == ["Bob's own question"]
    assert len(rows["episodes"]) == 1 and rows["episodes"][0]["owner_id"] == "bob"
    alice_ref = s.env.app.state.usage.user_ref("alice")
    assert alice_ref not in json.dumps(rows["usage_daily"], default=str)
    erased = [r for r in rows["usage_daily"] if r["user_ref"] == "erased"]
    assert sorted(r["channel"] for r in erased) == ["chat", "voice"]
    assert next(r for r in erased if r["channel"] == "chat")["requests"] == 2  # her two chats, kept

    again = await s.http.get("/api/v1/memory/episodes", headers=bearer(ALICE))
    assert again.json()["total_count"] == 0


async def test_erasing_twice_removes_nothing_more(conversation: Stack) -> None:
    s = conversation
    first = await s.http.delete("/api/v1/memory/users/me", headers=bearer(ALICE))
    await s.settle()
    second = await s.http.delete("/api/v1/memory/users/me", headers=bearer(ALICE))
    assert first.status_code == second.status_code == 200
    assert second.json()["removed"] == {
        "episodes": 0,
        "turns": 0,
        "facts": 0,
        "tickets": 0,
        "usage_rows_anonymised": 0,
    }


async def rows_mentioning(s: Stack, *needles: str) -> list[str]:
    """Tables (audit trail aside) whose raw rows contain any of `needles`."""
    rows = await table_rows(s.engine)
    return [
        table
        for table, content in rows.items()
        if table != "audit_log" and any(n in json.dumps(content, default=str) for n in needles)
    ]


@pytest.fixture
async def voice_stack(database_settings: Settings) -> AsyncIterator[Stack]:
    async with stack(database_settings.model_copy(update={"audit_log_enabled": True})) as s:
        yield s


@asynccontextmanager
async def alice_says(s: Stack, session_id: str, said: str) -> AsyncIterator[tuple[Client, DoubleSession]]:
    """Alice's voice session `session_id`, open and past her first utterance `said` (item u1)."""
    async with connect(s.env.url(session_id), subprotocols=["engram.v1", f"bearer.{ALICE}"]) as ws:  # type: ignore[list-item]
        client = Client(ws)
        await client.until("agent_switched")
        upstream = await s.voicelive.session(0)
        await upstream.speech_started("u1")
        await upstream.speech_stopped("u1")
        await upstream.transcription("u1", said)
        yield client, upstream


async def test_erasure_ends_the_users_open_voice_session_and_drops_its_unwritten_turns(
    voice_stack: Stack,
) -> None:
    s = voice_stack
    async with alice_says(s, "orion-v", "Plan the Orion launch") as (client, upstream):
        await upstream.reply("a1", "Orion is planned")
        await client.until("transcription", speaker="assistant", status="complete")
        await until(lambda: s.env.store.get_episode("orion-v"), "the first exchange was never written")
        # Still in the conversation: the user's next item is pending, the answer after it waits for it.
        await upstream.speech_started("u2")
        await upstream.speech_stopped("u2")
        await upstream.reply("a2", "Rehearsal booked")
        await client.until("transcription", speaker="assistant", status="complete", text="Rehearsal booked")

        response = await s.http.delete("/api/v1/memory/users/me", headers=bearer(ALICE))
        assert response.status_code == 200, response.text
        code, messages = await client.closed()

    assert code == protocol.CLOSE_ERASED
    assert any(m["type"] == "error" and "erased" in m["message"] for m in messages)
    await s.settle()
    assert await rows_mentioning(s, '"alice"', "Orion", "Rehearsal") == []  # the held answer was dropped
    erasures = [r for r in await s.env.app.state.audit.query() if r.event == "erasure"]
    assert erasures[0].detail["voice_sessions"] == 1


async def test_a_session_on_another_replica_ends_at_its_next_write_after_the_erasure(
    voice_stack: Stack,
) -> None:
    s = voice_stack
    async with alice_says(s, "orion-r", "Plan the Orion launch") as (client, upstream):
        await until(lambda: s.env.store.get_episode("orion-r"), "the first turn was never written")
        # The erasure runs elsewhere: this process's session registry never hears of it.
        await s.env.store.erase_owner("alice")
        await upstream.reply("a1", "Orion is planned")  # its transcript write is refused
        code, messages = await client.closed()

    assert code == protocol.CLOSE_ERASED
    assert any(m["type"] == "error" and "erased" in m["message"] for m in messages)
    await s.settle()
    assert await rows_mentioning(s, '"alice"', "Orion") == []
