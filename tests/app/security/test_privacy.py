"""Erasure, retention and encryption at rest on SQLite and PostgreSQL, with Zep as a loopback double."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text

from app.audit.trail import AuditTrail
from app.db.migrate import upgrade
from app.main import create_app
from app.memory.store import NewTurn
from app.security.crypto import PREFIX, ContentDecryptionError, FernetCipher
from app.security.privacy import purge_expired
from app.settings import Settings
from tests.app.security.conftest import bearer
from tests.conftest import make_settings
from tests.doubles.zep_server import API_KEY as ZEP_KEY
from tests.doubles.zep_server import ZepDouble
from tests.telemetry import Sink


def turn(owner: str, session: str, content: str, at: datetime | None = None) -> NewTurn:
    return NewTurn(
        session_id=session,
        owner_id=owner,
        tenant_id="t1",
        role="user",
        content=content,
        agent_id="elena",
        channel="chat",
        created_at=at,
    )


@pytest.fixture
async def app(database_settings: Settings, zep: ZepDouble) -> AsyncIterator[FastAPI]:
    settings = database_settings.model_copy(
        update={"auth_required": True, "zep_api_key": SecretStr(ZEP_KEY), "zep_api_url": zep.base_url}
    )
    application = create_app(settings)
    await upgrade(application.state.engine)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def seed(app: FastAPI, owner: str) -> None:
    memory = app.state.memory
    for session in (f"{owner}-s1", f"{owner}-s2"):
        turns = [turn(owner, session, f"hello from {owner}"), turn(owner, session, "second")]
        await memory.store.append_turns(turns)  # and its outbox row: the mirror's one way in
    await memory.queue.flush()
    await memory.store.add_fact(owner, f"{owner} likes tea", tenant_id="t1", episode_id=f"{owner}-s1")


async def rows_of(app: FastAPI, owner: str) -> dict[str, int]:
    async with app.state.engine.connect() as conn:
        episodes = await conn.execute(text("SELECT count(*) FROM episodes WHERE owner_id = :o"), {"o": owner})
        facts = await conn.execute(text("SELECT count(*) FROM facts WHERE owner_id = :o"), {"o": owner})
        turns = await conn.execute(
            text("SELECT count(*) FROM turns WHERE episode_id IN (:a, :b)"),
            {"a": f"{owner}-s1", "b": f"{owner}-s2"},
        )
        return {"episodes": episodes.scalar_one(), "turns": turns.scalar_one(), "facts": facts.scalar_one()}


async def test_user_erases_themselves_and_zep_is_asked(
    app: FastAPI, client: httpx.AsyncClient, zep: ZepDouble
) -> None:
    await seed(app, "alice")
    await seed(app, "bob")
    assert len(zep.state.users) == 2
    response = await client.delete("/api/v1/memory/users/me", headers=bearer("dev_alice_user"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "removed": {"episodes": 2, "turns": 4, "facts": 1, "tickets": 0, "usage_rows_anonymised": 0},
        "zep": "requested",
        "recordings": "not_configured",  # no recordings store here (tests/app/voice/test_recording.py)
    }
    assert await rows_of(app, "alice") == {"episodes": 0, "turns": 0, "facts": 0}
    assert await rows_of(app, "bob") == {"episodes": 2, "turns": 4, "facts": 1}
    assert len(zep.state.deleted_users) == 1
    assert {u["user_id"] for u in zep.state.users.values()} == {"bob"}
    trail: AuditTrail = app.state.audit
    (record,) = [r for r in await trail.query() if r.event == "erasure"]
    assert record.detail["subject"] == trail.user_ref("alice")
    assert "alice" not in str(record)
    # Idempotent: a second erasure removes nothing and still succeeds.
    again = await client.delete("/api/v1/memory/users/me", headers=bearer("dev_alice_user"))
    assert again.json()["removed"] == {
        "episodes": 0,
        "turns": 0,
        "facts": 0,
        "tickets": 0,
        "usage_rows_anonymised": 0,
    }


async def test_admin_erases_any_user(app: FastAPI, client: httpx.AsyncClient, zep: ZepDouble) -> None:
    await seed(app, "bob")
    refused = await client.delete("/api/v1/admin/users/bob", headers=bearer("dev_eve_analyst"))
    assert refused.status_code == 403
    response = await client.delete("/api/v1/admin/users/bob", headers=bearer("dev_root_admin"))
    assert response.status_code == 200
    assert response.json()["zep"] == "requested"
    assert await rows_of(app, "bob") == {"episodes": 0, "turns": 0, "facts": 0}
    erasure = [r for r in await app.state.audit.query() if r.event == "erasure"][0]
    assert erasure.user_ref == app.state.audit.user_ref("root")  # the actor, pseudonymised


async def test_zep_failure_is_reported_not_hidden(
    app: FastAPI, client: httpx.AsyncClient, zep: ZepDouble
) -> None:
    await seed(app, "carol")
    zep.mode = "error"
    response = await client.delete("/api/v1/memory/users/me", headers=bearer("dev_carol_user"))
    assert response.json()["zep"] == "failed"
    assert await rows_of(app, "carol") == {"episodes": 0, "turns": 0, "facts": 0}


async def test_retention_purges_old_episodes_idempotently(app: FastAPI) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    await app.state.memory.store.append_turns([turn("dan", "dan-old", "long ago", at=old)])
    await app.state.memory.store.append_turns([turn("dan", "dan-new", "today")])
    trail = app.state.audit
    assert (await purge_expired(app.state.memory.store, trail, retention_days=30)).episodes == 1
    assert (await purge_expired(app.state.memory.store, trail, retention_days=30)).episodes == 0
    assert await app.state.memory.store.get_episode("dan-old") is None
    assert await app.state.memory.store.get_episode("dan-new") is not None
    runs = [r.detail["episodes"] for r in await trail.query() if r.event == "retention"]
    assert runs == [1, 0]


async def test_erasure_revokes_unredeemed_tickets(app: FastAPI, client: httpx.AsyncClient) -> None:
    issued = await client.post("/api/v1/voice/ticket", headers=bearer("dev_alice_user"))
    kept = await client.post("/api/v1/voice/ticket", headers=bearer("dev_bob_user"))
    assert issued.status_code == kept.status_code == 200, issued.text
    response = await client.delete("/api/v1/memory/users/me", headers=bearer("dev_alice_user"))
    assert response.json()["removed"]["tickets"] == 1
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT user_id, identity FROM ws_tickets"))).all()
    assert len(rows) == 1 and "alice" not in str(rows) and rows[0][0] == "bob"
    tickets = app.state.tickets
    assert await tickets.redeem(issued.json()["ticket"]) is None  # issued before, useless after
    redeemed = await tickets.redeem(kept.json()["ticket"])
    assert redeemed is not None and redeemed.user_id == "bob"


async def old_mirrored_episode(app: FastAPI, owner: str, session: str) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    turns = [turn(owner, session, "long ago", at=old)]
    await app.state.memory.store.append_turns(turns)
    await app.state.memory.queue.flush()  # mirrored once, by the outbox (as the running service does)


async def test_retention_asks_zep_to_delete_the_purged_threads(app: FastAPI, zep: ZepDouble) -> None:
    await old_mirrored_episode(app, "dan", "dan-old")
    await seed(app, "erin")  # recent: stays, in SQL and in Zep
    (old_thread,) = [t for t, messages in zep.state.messages.items() if messages[0]["content"] == "long ago"]
    result = await purge_expired(app.state.memory.store, app.state.audit, 30, zep=app.state.memory.mirror)
    assert (result.episodes, result.zep, result.zep_threads_requested, result.zep_threads_failed) == (
        1,
        "requested",
        1,
        0,
    )
    assert zep.state.deleted_threads == [old_thread] and old_thread not in zep.state.threads
    assert len(zep.thread_for_user("erin")) == 4
    (record,) = [r for r in await app.state.audit.query() if r.event == "retention"]
    assert record.detail["zep_threads"] == {"requested": 1, "failed": 0}


async def test_retention_purges_sql_even_when_zep_fails(app: FastAPI, zep: ZepDouble, sink: Sink) -> None:
    await old_mirrored_episode(app, "fay", "fay-old")
    before = sink.value("memory_degradations", operation="delete_thread", reason="http_500")
    zep.mode = "error"
    result = await purge_expired(app.state.memory.store, app.state.audit, 30, zep=app.state.memory.mirror)
    assert (result.episodes, result.zep, result.zep_threads_failed) == (1, "failed", 1)
    assert await app.state.memory.store.get_episode("fay-old") is None
    assert sink.value("memory_degradations", operation="delete_thread", reason="http_500") == before + 1
    (record,) = [r for r in await app.state.audit.query() if r.event == "retention"]
    assert record.detail["zep"] == "failed" and record.detail["zep_threads"]["failed"] == 1


async def test_chat_is_rate_limited_per_user(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth_required=True, rate_limit_chat_per_minute=1)
    application = create_app(settings)
    await upgrade(application.state.engine)
    body = {"agent_id": "elena", "message": "hi", "session_id": "s-rl"}
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as c,
    ):
        first = await c.post("/api/v1/chat", json=body, headers=bearer("dev_alice_user"))
        second = await c.post("/api/v1/chat", json=body, headers=bearer("dev_alice_user"))
    assert first.status_code != 429  # 503 here: no gateway configured
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) >= 1


def test_retention_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    engram = [sys.executable, "-c", "from app.cli import main; main()"]
    subprocess.run([*engram, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    unset = subprocess.run(
        [*engram, "retention", "purge"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert unset.returncode == 2 and "DATA_RETENTION_DAYS" in unset.stderr
    ran = subprocess.run(
        [*engram, "retention", "purge"],
        env={**env, "DATA_RETENTION_DAYS": "30"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "purged 0 episodes" in ran.stdout


# --- encryption at rest ---------------------------------------------------------------------------------


def test_cipher_round_trip_and_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = FernetCipher([old])
    stored = before.encrypt("my phone is 555 0100")
    assert stored.startswith(PREFIX) and "555" not in stored
    rotated = FernetCipher.from_setting(f"{new},{old}")
    assert rotated.decrypt(stored) == "my phone is 555 0100"  # old key still decrypts
    reencrypted = rotated.rotate(stored)
    assert FernetCipher([new]).decrypt(reencrypted) == "my phone is 555 0100"  # newest key encrypts
    with pytest.raises(ContentDecryptionError):
        FernetCipher([new]).decrypt(stored)  # the old key was dropped too early
    assert rotated.decrypt("written before encryption") == "written before encryption"


async def test_turn_content_is_encrypted_in_the_database(database_settings: Settings) -> None:
    settings = database_settings.model_copy(
        update={"encryption_key": SecretStr(Fernet.generate_key().decode())}
    )
    application = create_app(settings)
    await upgrade(application.state.engine)
    try:
        store = application.state.memory.store
        await store.append_turns([turn("erin", "erin-s", "my secret plan")])
        async with application.state.engine.connect() as conn:
            raw = (await conn.execute(text("SELECT content FROM turns"))).scalar_one()
        assert raw.startswith(PREFIX) and "secret" not in raw
        assert (await store.recent_turns("erin-s", 5))[0].content == "my secret plan"
    finally:
        await application.state.engine.dispose()
