"""The durable Zep mirror on SQLite and PostgreSQL: outbox rows written with the turns, one holder per
session (claims race safely), a dead holder's lease taken over, order per session, exactly once on
the Zep side when a delivery is repeated, erasure winning over pending rows, and the backlog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.tables import MirrorLeaseRow, MirrorOutboxRow
from app.memory.outbox import MirrorOutbox
from app.memory.sql import SqlMemoryStore
from app.memory.store import NewTurn
from app.memory.zep import ZepMirror, build_client
from tests.doubles.zep_server import API_KEY, ZepDouble
from tests.integration.helpers import until


@pytest.fixture
async def mirror(zep: ZepDouble, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[ZepMirror]:
    async with httpx.AsyncClient() as http:
        yield ZepMirror(build_client(API_KEY, zep.base_url, 2.0, http), sessions, timeout_s=2.0)


@pytest.fixture
def outbox_store(sessions: async_sessionmaker[AsyncSession]) -> SqlMemoryStore:
    return SqlMemoryStore(sessions, outbox=True)


def worker(
    mirror: ZepMirror, sessions: async_sessionmaker[AsyncSession], holder: str, **kw: float
) -> MirrorOutbox:
    return MirrorOutbox(mirror, sessions, holder=holder, **kw)  # type: ignore[arg-type]


def turn(session: str, n: int, owner: str = "ann") -> NewTurn:
    return NewTurn(
        session_id=session,
        owner_id=owner,
        tenant_id=None,
        role="user" if n % 2 == 0 else "assistant",
        content=f"{session} turn {n}",
        agent_id="elena",
        channel="chat",
        source_event_id=f"{session}:{n}",
    )


async def write_pairs(store: SqlMemoryStore, session: str, pairs: int, owner: str = "ann") -> None:
    for p in range(pairs):
        await store.append_turns([turn(session, 2 * p, owner), turn(session, 2 * p + 1, owner)])


async def outbox_rows(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, list[int]]]:
    async with sessions() as s:
        rows = await s.execute(
            select(MirrorOutboxRow.session_id, MirrorOutboxRow.turn_ids).order_by(MirrorOutboxRow.id)
        )
        return [(r[0], list(r[1])) for r in rows]


def contents(zep: ZepDouble, owner: str = "ann") -> list[str]:
    return [m["content"] for m in zep.thread_for_user(owner)]


async def test_turns_and_their_outbox_row_are_written_together(
    outbox_store: SqlMemoryStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await write_pairs(outbox_store, "s1", 2)
    await outbox_store.append_turns([turn("s1", 2)])  # a repeated source event: no turn, no row
    rows = await outbox_rows(sessions)
    assert [session for session, _ in rows] == ["s1", "s1"]
    assert [len(ids) for _, ids in rows] == [2, 2] and rows[0][1] < rows[1][1]
    plain = SqlMemoryStore(sessions)  # no Zep: no outbox rows
    await plain.append_turns([turn("s2", 0)])
    assert len(await outbox_rows(sessions)) == 2


async def test_a_worker_mirrors_every_session_in_order_and_empties_the_outbox(
    outbox_store: SqlMemoryStore,
    sessions: async_sessionmaker[AsyncSession],
    mirror: ZepMirror,
    zep: ZepDouble,
) -> None:
    await write_pairs(outbox_store, "s1", 3)
    await write_pairs(outbox_store, "s2", 1, owner="bob")
    one = worker(mirror, sessions, "a")
    await one.flush()
    assert contents(zep) == [f"s1 turn {n}" for n in range(6)]
    assert contents(zep, "bob") == ["s2 turn 0", "s2 turn 1"]
    assert await outbox_rows(sessions) == []
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(MirrorLeaseRow))).scalar_one() == 0


async def test_only_one_of_two_racing_claims_wins(
    outbox_store: SqlMemoryStore, sessions: async_sessionmaker[AsyncSession], mirror: ZepMirror
) -> None:
    await write_pairs(outbox_store, "s1", 1)
    now = datetime.now(UTC)
    a, b = worker(mirror, sessions, "a"), worker(mirror, sessions, "b")
    won = await asyncio.gather(*(w._claim("s1", now) for w in (a, b, a, b)))
    assert sorted(won) == [False, False, False, True]
    assert (
        await b._candidates(now, 10, False) == [] or won[1] or won[3]
    )  # the holder's session is not offered


async def test_a_dead_holders_session_is_finished_by_another_after_the_lease(
    outbox_store: SqlMemoryStore,
    sessions: async_sessionmaker[AsyncSession],
    mirror: ZepMirror,
    zep: ZepDouble,
) -> None:
    await write_pairs(outbox_store, "s1", 2)
    dead = worker(mirror, sessions, "dead", lease_s=60)
    assert await dead._claim("s1", datetime.now(UTC))  # it claimed, then died without a word
    other = worker(mirror, sessions, "other", lease_s=60)
    await other.flush()
    assert contents(zep) == [], "a live lease is respected"
    async with sessions.begin() as s:  # the lease runs out
        await s.execute(update(MirrorLeaseRow).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    await other.flush()
    assert contents(zep) == [f"s1 turn {n}" for n in range(4)]


async def test_a_repeated_delivery_reaches_zep_once(
    outbox_store: SqlMemoryStore,
    sessions: async_sessionmaker[AsyncSession],
    mirror: ZepMirror,
    zep: ZepDouble,
) -> None:
    """A replica that sent a batch and died before deleting its row: the next sends the same batch
    with the same idempotency key, and Zep keeps one copy."""
    await write_pairs(outbox_store, "s1", 1)
    dead = worker(mirror, sessions, "dead")
    async with sessions() as s:
        (row_id,) = (await s.execute(select(MirrorOutboxRow.id))).scalars()
        turns = await dead._load(s, row_id, lock=False)
    assert turns is not None and await mirror.mirror_turns(turns)  # delivered; the row never deleted
    await worker(mirror, sessions, "other").flush()
    assert contents(zep) == ["s1 turn 0", "s1 turn 1"]
    assert await outbox_rows(sessions) == []


async def test_a_failed_write_keeps_its_row_and_holds_the_session_back(
    outbox_store: SqlMemoryStore,
    sessions: async_sessionmaker[AsyncSession],
    mirror: ZepMirror,
    zep: ZepDouble,
) -> None:
    await write_pairs(outbox_store, "s1", 2)
    zep.mode = "error"
    a = worker(mirror, sessions, "a", retry_s=60)
    await a.flush()
    assert len(await outbox_rows(sessions)) == 2, "nothing lost"
    async with sessions() as s:
        attempts = (
            (await s.execute(select(MirrorOutboxRow.attempts).order_by(MirrorOutboxRow.id))).scalars().all()
        )
    assert attempts == [1, 0], "stopped at the first failure: order kept"
    zep.mode = "ok"
    await worker(mirror, sessions, "b").flush()
    assert contents(zep) == [], "the backoff lease holds other replicas off"
    await a.flush(retry=True)
    assert contents(zep) == [f"s1 turn {n}" for n in range(4)]


async def test_erasure_removes_pending_rows_and_a_delivery_skips_a_row_gone(
    outbox_store: SqlMemoryStore,
    sessions: async_sessionmaker[AsyncSession],
    mirror: ZepMirror,
    zep: ZepDouble,
) -> None:
    await write_pairs(outbox_store, "s1", 1)
    await write_pairs(outbox_store, "s2", 1, owner="bob")
    a = worker(mirror, sessions, "a")
    async with sessions() as s:
        ann_row = (
            await s.execute(select(MirrorOutboxRow.id).where(MirrorOutboxRow.owner_id == "ann"))
        ).scalar_one()
    await outbox_store.erase_owner("ann")
    assert [session for session, _ in await outbox_rows(sessions)] == ["s2"]
    assert await a._deliver(ann_row, 0, None) is True  # claimed before the erasure: re-checked, skipped
    await a.flush()
    assert contents(zep) == [] and contents(zep, "bob") == ["s2 turn 0", "s2 turn 1"]
    assert "POST /api/v4/users" in zep.state.calls and len(zep.state.users) == 1


async def test_deleting_a_session_and_retention_take_its_rows(
    outbox_store: SqlMemoryStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await write_pairs(outbox_store, "s1", 1)
    await write_pairs(outbox_store, "s2", 1)
    await outbox_store.delete_episode("s1")
    assert [session for session, _ in await outbox_rows(sessions)] == ["s2"]
    await outbox_store.purge_before(datetime.now(UTC) + timedelta(days=1))
    assert await outbox_rows(sessions) == []


async def test_the_backlog_is_measured(
    outbox_store: SqlMemoryStore, sessions: async_sessionmaker[AsyncSession], mirror: ZepMirror
) -> None:
    a = worker(mirror, sessions, "a")
    await a._measure()
    assert (a.backlog.batches, a.backlog.oldest_age_s) == (0, None)
    await write_pairs(outbox_store, "s1", 2)
    await a._measure()
    assert a.backlog.batches == 2 and a.backlog.oldest_age_s is not None and a.backlog.oldest_age_s >= 0


async def test_the_background_loop_delivers_and_shutdown_releases_leases(
    outbox_store: SqlMemoryStore,
    sessions: async_sessionmaker[AsyncSession],
    mirror: ZepMirror,
    zep: ZepDouble,
) -> None:
    a = worker(mirror, sessions, "a", poll_s=0.05)
    a.start()
    await write_pairs(outbox_store, "s1", 1)
    assert a.submit([turn("s1", 0)]) is True  # what chat does after the write: wake the worker
    await until(lambda: _empty(sessions), "the worker never emptied the outbox")
    await a.drain(1.0)
    assert contents(zep) == ["s1 turn 0", "s1 turn 1"]
    assert a.submit([turn("s1", 2)]) is False  # closed


async def _empty(sessions: async_sessionmaker[AsyncSession]) -> bool:
    return not await outbox_rows(sessions)


async def test_a_slow_zep_call_outlasting_the_lease_keeps_the_session_with_its_holder(
    outbox_store: SqlMemoryStore,
    sessions: async_sessionmaker[AsyncSession],
    zep: ZepDouble,
) -> None:
    """The holder renews its lease while it waits on Zep, so a second replica never sends the same
    batch alongside it (the lease is 1.5 s; the write's three Zep calls take 1 s each)."""
    zep.mode, zep.delay_s = "slow", 1.0
    await write_pairs(outbox_store, "s1", 1)
    async with httpx.AsyncClient() as http:
        slow = ZepMirror(build_client(API_KEY, zep.base_url, 5.0, http), sessions, timeout_s=5.0)
        holder = worker(slow, sessions, "holder", lease_s=1.5)
        other = worker(slow, sessions, "other", lease_s=1.5)
        assert await holder._cycle() == 1
        claimed_by_other = 0
        while holder.pending:
            await asyncio.sleep(0.1)
            claimed_by_other += await other._cycle()
        await holder.flush()
    assert claimed_by_other == 0
    assert contents(zep) == ["s1 turn 0", "s1 turn 1"]
    assert [c for c in zep.state.calls if c.endswith("/messages")] == [zep.state.calls[-1]]
