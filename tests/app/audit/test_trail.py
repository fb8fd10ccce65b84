"""The audit chain on SQLite and PostgreSQL: linear under concurrency, tamper-evident, append-only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import GENESIS, Anchor, AuditEvent, AuditTrail, pseudonymise
from app.db.engine import session_factory
from tests.app.audit.helpers import KEY, http_event, tamper


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
    await tamper(engine, statement)
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
    await tamper(engine, f"UPDATE audit_log SET status = 204, hash = '{new_hash}' WHERE seq = 2")
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


# --- the head and anchors: a deleted tail ------------------------------------------------------------


async def test_head_is_the_newest_record(trail: AuditTrail) -> None:
    assert await trail.head() is None
    for n in range(3):
        last = await trail.append(http_event(n))
    head = await trail.head()
    assert head is not None
    assert (head.seq, head.hash, head.at) == (3, last.hash, last.at)
    assert head.anchor == f"3:{last.hash}"


async def test_anchored_head_passes_while_the_chain_reaches_it(trail: AuditTrail) -> None:
    for n in range(3):
        await trail.append(http_event(n))
    head = await trail.head()
    assert head is not None
    await trail.append(http_event(4))  # newer records after the anchor are fine
    result = await trail.verify([Anchor.parse(head.anchor)])
    assert (result.ok, result.records, result.anchors_matched) == (True, 4, 1)


async def test_deleted_tail_fails_the_anchor_but_not_the_plain_chain(
    trail: AuditTrail, engine: AsyncEngine
) -> None:
    for n in range(5):
        await trail.append(http_event(n))
    head = await trail.head()
    assert head is not None and head.seq == 5
    await tamper(engine, "DELETE FROM audit_log WHERE seq > 3")

    assert (await trail.verify()).ok  # the gap this closes
    result = await trail.verify([Anchor(head.seq, head.hash)])
    assert not result.ok
    assert (result.first_broken, result.records, result.anchor) == (5, 3, Anchor(5, head.hash))
    assert result.reason == (
        "record 5 is missing (the chain ends at record 3): records from 4 on were deleted, "
        "or the anchor comes from another database"
    )


async def test_anchor_with_another_hash_fails(trail: AuditTrail) -> None:
    for n in range(2):
        await trail.append(http_event(n))
    head = await trail.head()
    assert head is not None
    wrong = "a" * 64
    result = await trail.verify([Anchor(1, (await trail.query(limit=1))[0].hash), Anchor(2, wrong)])
    assert not result.ok
    assert (result.first_broken, result.anchor) == (2, Anchor(2, wrong))
    assert result.reason == f"record 2 has hash {head.hash}, the anchor says {wrong}"


async def test_anchor_against_an_emptied_trail_says_so(trail: AuditTrail, engine: AsyncEngine) -> None:
    record = await trail.append(http_event(1))
    await tamper(engine, "DELETE FROM audit_log")
    result = await trail.verify([Anchor(1, record.hash)])
    assert (result.ok, result.first_broken) == (False, 1)
    assert "record 1 is missing (the trail is empty)" in (result.reason or "")


async def test_a_broken_chain_is_reported_before_the_anchors(trail: AuditTrail, engine: AsyncEngine) -> None:
    for n in range(3):
        await trail.append(http_event(n))
    await tamper(engine, "UPDATE audit_log SET status = 500 WHERE seq = 2")
    result = await trail.verify([Anchor(9, "b" * 64)])
    assert (result.first_broken, result.anchor) == (2, None)


@pytest.mark.parametrize(
    ("text", "anchor"),
    [
        (f"42:{'ab' * 32}", Anchor(42, "ab" * 32)),
        (f" 7:{'AB' * 32}\n", Anchor(7, "ab" * 32)),  # pasted with whitespace and upper case
    ],
)
def test_anchor_parses_seq_colon_hash(text: str, anchor: Anchor) -> None:
    assert Anchor.parse(text) == anchor
    assert str(Anchor.parse(text)) == f"{anchor.seq}:{anchor.hash}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "42",
        f"0:{'a' * 64}",
        f"-1:{'a' * 64}",
        f"x:{'a' * 64}",
        "42:abc",
        f"42:{'g' * 64}",
        f"42:{'a' * 65}",
        f"42:{'a' * 64}:extra",
    ],
)
def test_malformed_anchor_names_the_expected_format(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected SEQ:HASH \(a record number >= 1"):
        Anchor.parse(text)
