"""SOP "unified episode": chat and voice with the same session id are one episode, on SQLite and
PostgreSQL, with content encrypted at rest and every call (HTTP and websocket) in the audit trail.

The episode API lists both channels and the turns in the order they happened; the raw `turns`
table holds only ciphertext; the audit trail has a record for the chat call and for the websocket's
start and end, carries no message content or raw user id, and `engram audit verify` passes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from typer.testing import CliRunner

from app.audit.trail import AuditRecord
from app.cli import cli
from app.settings import Settings, get_settings
from tests.integration.helpers import Stack, bearer, dev, stack, table_rows

SESSION = "launch-review-7"
ALICE = dev("alice")
SAID = {
    "chat-1": "Draft the Orion launch checklist",
    "voice-user": "Add a rollback rehearsal to the Orion checklist",
    "voice-agent": "Added the rollback rehearsal as step four",
    "chat-2": "Now summarise the Orion checklist for the steering group",
}
WS_ROUTE = "/api/v1/voice/voicelive/{session_id}"


@pytest.fixture
async def unified(database_settings: Settings) -> AsyncIterator[Stack]:
    settings = database_settings.model_copy(
        update={"encryption_key": SecretStr(Fernet.generate_key().decode()), "audit_log_enabled": True}
    )
    async with stack(settings) as running:
        yield running


async def _conversation(s: Stack) -> list[dict[str, Any]]:
    """chat, then voice, then chat again, all on SESSION; returns the chat replies."""
    first = await s.chat(SAID["chat-1"], ALICE, SESSION)
    await s.talk(SESSION, SAID["voice-user"], SAID["voice-agent"], token=ALICE)
    second = await s.chat(SAID["chat-2"], ALICE, SESSION)
    await s.settle()
    return [first, second]


async def test_chat_and_voice_share_one_episode_in_order(unified: Stack) -> None:
    replies = await _conversation(unified)
    response = await unified.http.get(f"/api/v1/memory/episodes/{SESSION}", headers=bearer(ALICE))
    assert response.status_code == 200, response.text
    episode = response.json()
    assert sorted(episode["channels"]) == ["chat", "voice"]
    assert [(t["metadata"]["channel"], t["role"], t["content"]) for t in episode["transcript"]] == [
        ("chat", "user", SAID["chat-1"]),
        ("chat", "assistant", replies[0]["content"]),
        ("voice", "user", SAID["voice-user"]),
        ("voice", "assistant", SAID["voice-agent"]),
        ("chat", "user", SAID["chat-2"]),
        ("chat", "assistant", replies[1]["content"]),
    ]
    # The second chat saw the voice exchange as history: one memory, whatever the channel.
    history = unified.gateway.requests[-1].messages
    assert {"role": "user", "content": SAID["voice-user"]} in history
    # And the Zep mirror holds the same session as one thread, in the same order.
    assert [m["content"] for m in unified.zep.thread_for_user("alice")] == [
        t["content"] for t in episode["transcript"]
    ]
    assert len(unified.zep.state.threads) == 1


async def test_turns_are_ciphertext_at_rest(unified: Stack) -> None:
    await _conversation(unified)
    turns = (await table_rows(unified.engine))["turns"]
    assert len(turns) == 6
    stored = json.dumps(turns, default=str)
    assert all(str(t["content"]).startswith("fernet:") for t in turns)
    for text in SAID.values():
        assert text not in stored
    assert "Orion" not in stored


async def test_the_audit_trail_records_the_chat_and_the_websocket_without_content(unified: Stack) -> None:
    await _conversation(unified)
    trail = unified.env.app.state.audit
    records: list[AuditRecord] = await trail.query(limit=1000)
    calls = [(r.event, r.method, r.route, r.status) for r in records]
    assert calls.count(("http", "POST", "/api/v1/chat", 200)) == 2
    assert ("ws.start", "WS", WS_ROUTE, 101) in calls
    assert ("ws.end", "WS", WS_ROUTE, 1000) in calls
    alice = trail.user_ref("alice")
    assert {r.user_ref for r in records if r.route in ("/api/v1/chat", WS_ROUTE)} == {alice}

    raw = json.dumps((await table_rows(unified.engine))["audit_log"], default=str)
    for text in SAID.values():
        assert text not in raw
    assert "Orion" not in raw and SESSION not in raw  # route templates, never raw paths
    assert '"alice"' not in raw  # user ids are keyed hashes

    assert (await trail.verify()).ok
    verified = await asyncio.to_thread(_cli_audit_verify, unified.env.settings)
    assert verified.exit_code == 0, verified.output
    assert f"audit chain intact: {len(records)} records" in verified.output


def _cli_audit_verify(settings: Settings) -> Any:
    """`engram audit verify` against this test's database, configured as an operator would: env vars."""
    env = {"DATA_DIR": str(settings.data_dir)}
    if settings.database_url is not None:
        env["DATABASE_URL"] = settings.database_url.get_secret_value()
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, ["audit", "verify"], env=env)
    finally:
        get_settings.cache_clear()
