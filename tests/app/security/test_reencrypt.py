"""Re-encryption under the newest key on SQLite and PostgreSQL: old-key and plaintext rows rewritten,
current rows left alone, undecryptable rows reported by id and untouched, dry runs and re-runs write
nothing, the audit trail records a writing run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import AuditTrail
from app.db.engine import session_factory
from app.memory.sql import SqlMemoryStore
from app.memory.store import NewTurn
from app.security.crypto import PREFIX, ContentDecryptionError, FernetCipher
from app.security.reencrypt import reencrypt_turns

OLD, NEW, FOREIGN = (Fernet.generate_key().decode() for _ in range(3))


def turn(session: str, content: str) -> NewTurn:
    return NewTurn(
        session_id=session,
        owner_id="olga",
        tenant_id="t1",
        role="user",
        content=content,
        agent_id="elena",
        channel="chat",
    )


@dataclass
class Seeded:
    engine: AsyncEngine
    contents: dict[int, str]  # turn id -> what was said
    by_key: dict[str, list[int]]  # "old" | "plain" | "new" | "foreign" -> turn ids


async def raw_rows(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        return {row[0]: row[1] for row in await conn.execute(text("SELECT id, content FROM turns"))}


async def seed(engine: AsyncEngine, *, foreign: bool = False) -> Seeded:
    """Turns as a database holds them mid-rotation: plaintext from before encryption, some under
    the old key, some already under the new one (and optionally one under a key nobody has)."""
    sessions = session_factory(engine)
    writers = {"plain": None, "old": FernetCipher([OLD]), "new": FernetCipher([NEW])}
    if foreign:
        writers["foreign"] = FernetCipher([FOREIGN])
    contents: dict[int, str] = {}
    by_key: dict[str, list[int]] = {}
    for label, cipher in writers.items():
        before = set(await raw_rows(engine))
        said = [f"{label} secret {n}: my phone is 555 01{n:02d}" for n in range(3)]
        await SqlMemoryStore(sessions, cipher).append_turns([turn(f"s-{label}", s) for s in said])
        ids = sorted(set(await raw_rows(engine)) - before)
        by_key[label] = ids
        contents.update(zip(ids, said, strict=True))
    return Seeded(engine, contents, by_key)


def test_is_current_tells_the_newest_key_apart() -> None:
    rotating = FernetCipher([NEW, OLD])
    assert rotating.is_current(FernetCipher([NEW]).encrypt("x"))
    assert not rotating.is_current(FernetCipher([OLD]).encrypt("x"))
    assert not rotating.is_current("plain legacy text")
    assert not rotating.is_current(FernetCipher([FOREIGN]).encrypt("x"))


def test_rotate_of_a_value_no_key_decrypts_is_a_decryption_error() -> None:
    with pytest.raises(ContentDecryptionError):
        FernetCipher([NEW, OLD]).rotate(FernetCipher([FOREIGN]).encrypt("x"))


async def test_every_row_ends_under_the_new_key_alone_with_content_unchanged(engine: AsyncEngine) -> None:
    seeded = await seed(engine)
    before = await raw_rows(engine)

    result = await reencrypt_turns(engine, FernetCipher([NEW, OLD]), batch_size=2)  # several batches

    assert (result.scanned, result.rewritten, result.current, result.undecryptable) == (9, 6, 3, [])
    after = await raw_rows(engine)
    only_new = FernetCipher([NEW])
    for turn_id, stored in after.items():
        assert stored.startswith(PREFIX) and "555" not in stored
        assert only_new.decrypt(stored) == seeded.contents[turn_id]
    for turn_id in seeded.by_key["new"]:
        assert after[turn_id] == before[turn_id]  # already current: not rewritten
    # The service, configured with the new key only, reads every transcript back.
    store = SqlMemoryStore(session_factory(engine), only_new)
    recent = await store.recent_turns("s-plain", 10) + await store.recent_turns("s-old", 10)
    assert sorted(t.content for t in recent) == sorted(
        seeded.contents[i] for i in seeded.by_key["plain"] + seeded.by_key["old"]
    )


async def test_a_second_run_rewrites_nothing(engine: AsyncEngine) -> None:
    await seed(engine)
    cipher = FernetCipher([NEW, OLD])
    await reencrypt_turns(engine, cipher)
    done = await raw_rows(engine)

    again = await reencrypt_turns(engine, cipher, batch_size=4)

    assert (again.scanned, again.rewritten, again.current, again.undecryptable) == (9, 0, 9, [])
    assert await raw_rows(engine) == done


async def test_undecryptable_rows_are_reported_by_id_and_left_alone(engine: AsyncEngine) -> None:
    seeded = await seed(engine, foreign=True)
    before = await raw_rows(engine)

    result = await reencrypt_turns(engine, FernetCipher([NEW, OLD]), batch_size=5)

    assert not result.ok
    assert result.undecryptable == seeded.by_key["foreign"]
    assert (result.scanned, result.rewritten, result.current) == (12, 6, 3)
    after = await raw_rows(engine)
    for turn_id in seeded.by_key["foreign"]:
        assert after[turn_id] == before[turn_id]
    for turn_id in seeded.by_key["plain"] + seeded.by_key["old"]:
        assert FernetCipher([NEW]).decrypt(after[turn_id]) == seeded.contents[turn_id]


async def test_a_dry_run_counts_and_writes_nothing(engine: AsyncEngine) -> None:
    await seed(engine, foreign=True)
    before = await raw_rows(engine)
    trail = AuditTrail(session_factory(engine), b"k")

    result = await reencrypt_turns(engine, FernetCipher([NEW, OLD]), dry_run=True, trail=trail)

    assert (result.scanned, result.rewritten, result.current, len(result.undecryptable)) == (12, 6, 3, 3)
    assert await raw_rows(engine) == before
    assert await trail.count() == 0  # a dry run leaves no audit record either


async def test_a_writing_run_leaves_an_audit_record_with_counts_only(engine: AsyncEngine) -> None:
    seeded = await seed(engine)
    trail = AuditTrail(session_factory(engine), b"k")

    await reencrypt_turns(engine, FernetCipher([NEW, OLD]), trail=trail)

    records = await trail.query()
    assert [r.event for r in records] == ["reencrypt"]
    assert records[0].detail == {
        "table": "turns",
        "scanned": 9,
        "rewritten": 6,
        "current": 3,
        "undecryptable": 0,
        "changed": 0,
    }
    assert all(said not in str(records[0]) for said in seeded.contents.values())
    assert (await trail.verify()).ok


async def test_a_row_changed_between_read_and_write_is_left_alone(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compare-and-swap: a row the service deleted after it was read is not re-created or
    counted as rewritten."""
    seeded = await seed(engine)
    victim = seeded.by_key["old"][0]
    from app.security import reencrypt as module

    real_write = module._write_batch

    async def delete_first(engine: AsyncEngine, pending: list[tuple[int, str, str]]) -> int:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM turns WHERE id = :id"), {"id": victim})
        return await real_write(engine, pending)

    monkeypatch.setattr(module, "_write_batch", delete_first)
    result = await reencrypt_turns(engine, FernetCipher([NEW, OLD]))

    assert (result.rewritten, result.changed) == (5, 1)
    assert victim not in await raw_rows(engine)
