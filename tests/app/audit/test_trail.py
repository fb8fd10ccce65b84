"""The audit chain on SQLite and PostgreSQL: linear under concurrency, tamper-evident, append-only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import GENESIS, AuditEvent, AuditTrail, pseudonymise
from app.db.engine import create_engine, session_factory
from app.db.migrate import upgrade
from app.settings import Settings

KEY = b"test-pseudonym-key"


@pytest.fixture
async def engine(database_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_settings)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def trail(engine: AsyncEngine) -> AuditTrail:
    return AuditTrail(session_factory(engine), KEY)


def http_event(n: int, user: str = "alice") -> AuditEvent:
    return AuditEvent(
        event="http",
        user_id=user,
        tenant_id="t1",
        roles=["user"],
        request_id=f"r{n}",
        method="GET",
        route="/api/v1/things/{thing_id}",
        status=200,
        latency_ms=1.2345 + n,
        client_ip="203.0.113.7",
    )


async def _tamper(engine: AsyncEngine, statement: str) -> None:
    """A DBA with full rights: lift the append-only guard, change the data."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            await conn.execute(text("DROP TRIGGER audit_log_no_update"))
            await conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        await conn.execute(text(statement))


async def test_chain_links_each_record_to_the_previous(trail: AuditTrail) -> None:
    first = await trail.append(http_event(1))
    second = await trail.append(http_event(2))
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert (await trail.verify()).ok


async def test_user_ids_are_keyed_pseudonyms(trail: AuditTrail) -> None:
    record = await trail.append(http_event(1, user="alice@example.com"))
    assert record.user_ref == pseudonymise(KEY, "alice@example.com")
    assert record.user_ref != pseudonymise(b"another-key", "alice@example.com")
    assert "alice" not in str(record)


async def test_concurrent_appends_stay_linear(trail: AuditTrail, engine: AsyncEngine) -> None:
    # Two trails = two writers that share only the database (as two replicas would).
    other = AuditTrail(session_factory(engine), KEY)
    await asyncio.gather(*(t.append(http_event(n)) for n in range(20) for t in (trail, other)))
    result = await trail.verify()
    assert result.ok, result
    assert result.records == 40


async def test_background_writer_flushes_submitted_records(trail: AuditTrail) -> None:
    await trail.start()
    for n in range(10):
        trail.submit(http_event(n))
    await trail.stop()
    assert await trail.count() == 10
    assert (await trail.verify()).ok


async def test_table_refuses_update_and_delete(trail: AuditTrail, engine: AsyncEngine) -> None:
    await trail.append(http_event(1))
    for statement in ("UPDATE audit_log SET status = 500", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "broken", "reason"),
    [
        ("UPDATE audit_log SET status = 403 WHERE seq = 3", 3, "content does not match"),
        ("UPDATE audit_log SET route = '/x', hash = 'f' WHERE seq = 2", 2, "content does not match"),
        ("DELETE FROM audit_log WHERE seq = 4", 4, "missing"),
        ("DELETE FROM audit_log WHERE seq = 1", 1, "missing"),
    ],
)
async def test_tampering_names_the_first_broken_record(
    trail: AuditTrail, engine: AsyncEngine, statement: str, broken: int, reason: str
) -> None:
    for n in range(5):
        await trail.append(http_event(n))
    await _tamper(engine, statement)
    result = await trail.verify()
    assert not result.ok
    assert result.first_broken == broken
    assert reason in (result.reason or "")


async def test_recomputed_hash_still_breaks_the_next_link(trail: AuditTrail, engine: AsyncEngine) -> None:
    from app.audit.trail import record_hash

    for n in range(3):
        await trail.append(http_event(n))
    (victim,) = await trail.query(after_seq=1, limit=1)
    forged = {**victim.__dict__, "status": 204}
    new_hash = record_hash(forged)
    await _tamper(engine, f"UPDATE audit_log SET status = 204, hash = '{new_hash}' WHERE seq = 2")
    result = await trail.verify()
    assert (result.first_broken, result.reason) == (3, "prev_hash does not match the previous record")


async def test_query_filters_by_user_and_time_and_pages(trail: AuditTrail) -> None:
    base = datetime(2030, 1, 1, tzinfo=UTC)
    for n in range(6):
        event = http_event(n, user="alice" if n % 2 else "bob")
        await trail.append(AuditEvent(**{**event.__dict__, "at": base + timedelta(minutes=n)}))
    alice = await trail.query(user_id="alice")
    assert [r.seq for r in alice] == [2, 4, 6]
    window = await trail.query(since=base + timedelta(minutes=2), until=base + timedelta(minutes=4))
    assert [r.seq for r in window] == [3, 4]
    first, second = await trail.query(limit=4), await trail.query(after_seq=4, limit=4)
    assert [r.seq for r in first + second] == [1, 2, 3, 4, 5, 6]
