"""`UsageStore`: the per-day usage rows in SQL (the system of record), on SQLite or PostgreSQL.

Writes are upsert-increments (`INSERT .. ON CONFLICT (key) DO UPDATE SET n = n + excluded.n`), which
both backends run atomically, so any number of replicas add to the same row without losing a count.
On a SQLite file the writes queue behind the engine's single writer (`SqliteRunner.write_lock`), like
the memory store's and the audit trail's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Table, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.db.engine import sqlite_runner
from app.db.tables import UsageDailyRow
from app.usage.prices import Tokens

T = TypeVar("T")

#: Where an erased user's usage goes: tenant totals stay right, the person is gone.
ERASED_USER_REF = "erased"
#: The tenant column for callers without a tenant (a NULL key would never merge into one row).
NO_TENANT = ""

_USAGE = cast(Table, UsageDailyRow.__table__)
_KEY = ("day", "tenant_id", "user_ref", "agent_id", "model", "channel")


@dataclass(frozen=True, slots=True)
class UsageKey:
    day: date
    tenant_id: str
    user_ref: str
    agent_id: str
    model: str
    channel: str  # chat | voice


@dataclass(slots=True)
class UsageCounts:
    requests: int = 0
    requests_without_usage: int = 0
    text_input_tokens: int = 0
    text_output_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    voice_seconds: float = 0.0

    def add(self, other: UsageCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def tokens(self) -> Tokens:
        return Tokens(
            self.text_input_tokens, self.text_output_tokens, self.audio_input_tokens, self.audio_output_tokens
        )


_COUNTS = tuple(f.name for f in fields(UsageCounts))


@dataclass(frozen=True)
class UsageLine:
    """A summed row: `group` holds the grouping columns asked for (day, agent_id, model, ...)."""

    group: dict[str, Any]
    counts: UsageCounts


class UsageStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._runner = sqlite_runner(sessions.kw.get("bind"))

    async def _run(self, operation: Callable[[Connection], T], *, write: bool) -> T:
        if self._runner is not None:
            return await (self._runner.write(operation) if write else self._runner.read(operation))
        context = self._sessions.begin() if write else self._sessions()
        async with context as session:
            return cast(T, await session.run_sync(_on_connection, operation))

    # --- writing -----------------------------------------------------------------------------------

    async def add(self, batch: Sequence[tuple[UsageKey, UsageCounts]]) -> None:
        """Add each row's counts to the stored row of its key (created at zero), in one transaction."""
        if batch:
            await self._run(functools.partial(_add, list(batch)), write=True)

    async def erase(self, user_ref: str) -> int:
        """Erasure: fold the user's rows into `ERASED_USER_REF` rows (same day, tenant, agent, model,
        channel), then delete theirs. Returns how many of the user's rows went."""
        return await self._run(functools.partial(_erase, user_ref), write=True)

    # --- reading -----------------------------------------------------------------------------------

    async def tokens_on(self, user_ref: str, day: date) -> int:
        """All tokens the user used on `day` (every tenant, agent, model and channel)."""
        return await self._run(functools.partial(_tokens_on, user_ref, day), write=False)

    async def lines(
        self,
        group_by: Sequence[str],
        *,
        since: date,
        until: date,
        user_ref: str | None = None,
        tenant_id: str | None = None,
        keys: Sequence[tuple[Any, ...]] | None = None,
        key_columns: Sequence[str] = (),
    ) -> list[UsageLine]:
        """Counts summed by `group_by` over [since, until], newest day first, optionally filtered."""
        window = _Window(since, until, user_ref, tenant_id)
        return await self._run(functools.partial(_lines, group_by, window, keys, key_columns), write=False)

    async def groups(
        self,
        group_by: Sequence[str],
        *,
        since: date,
        until: date,
        tenant_id: str | None,
        user_ref: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[tuple[Any, ...]], int]:
        """One page of distinct `group_by` values (newest day first) and how many there are in all."""
        window = _Window(since, until, user_ref, tenant_id)
        return await self._run(functools.partial(_groups, group_by, window, limit, offset), write=False)


def _on_connection(session: Session, operation: Callable[[Connection], T]) -> T:
    return operation(session.connection())


def _upsert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    insert = sqlite.insert if connection.dialect.name == "sqlite" else postgresql.insert
    statement = insert(_USAGE)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={
            **{name: _USAGE.c[name] + statement.excluded[name] for name in _COUNTS},
            "updated_at": statement.excluded.updated_at,
        },
    )
    for row in rows:  # one statement per row: a multi-row upsert may not touch one key twice
        connection.execute(statement, row)


def _add(batch: list[tuple[UsageKey, UsageCounts]], connection: Connection) -> None:
    now = datetime.now(UTC)
    rows = [
        {**{k: getattr(key, k) for k in _KEY}, **{c: getattr(counts, c) for c in _COUNTS}, "updated_at": now}
        for key, counts in batch
    ]
    _upsert(connection, rows)


def _erase(user_ref: str, connection: Connection) -> int:
    mine = connection.execute(select(_USAGE).where(_USAGE.c.user_ref == user_ref)).mappings().all()
    if not mine:
        return 0
    now = datetime.now(UTC)
    _upsert(connection, [{**row, "user_ref": ERASED_USER_REF, "updated_at": now} for row in mine])
    connection.execute(delete(_USAGE).where(_USAGE.c.user_ref == user_ref))
    return len(mine)


def _tokens_on(user_ref: str, day: date, connection: Connection) -> int:
    total = (
        _USAGE.c.text_input_tokens
        + _USAGE.c.text_output_tokens
        + _USAGE.c.audio_input_tokens
        + _USAGE.c.audio_output_tokens
    )
    found = connection.execute(
        select(func.coalesce(func.sum(total), 0)).where(_USAGE.c.user_ref == user_ref, _USAGE.c.day == day)
    ).scalar_one()
    return int(found)


@dataclass(frozen=True, slots=True)
class _Window:
    """The rows a read covers: days since..until (inclusive), optionally one user's or one tenant's."""

    since: date
    until: date
    user_ref: str | None
    tenant_id: str | None


def _filtered(statement: Any, window: _Window) -> Any:
    statement = statement.where(_USAGE.c.day >= window.since, _USAGE.c.day <= window.until)
    if window.user_ref is not None:
        statement = statement.where(_USAGE.c.user_ref == window.user_ref)
    if window.tenant_id is not None:
        statement = statement.where(_USAGE.c.tenant_id == window.tenant_id)
    return statement


def _order(group_by: Sequence[str]) -> list[Any]:
    return [_USAGE.c[c].desc() if c == "day" else _USAGE.c[c] for c in group_by]


def _lines(
    group_by: Sequence[str],
    window: _Window,
    keys: Sequence[tuple[Any, ...]] | None,
    key_columns: Sequence[str],
    connection: Connection,
) -> list[UsageLine]:
    columns = [_USAGE.c[c] for c in group_by]
    sums = [func.sum(_USAGE.c[c]).label(c) for c in _COUNTS]
    statement = _filtered(select(*columns, *sums), window)
    if keys is not None:
        if not keys:
            return []
        statement = statement.where(tuple_(*(_USAGE.c[c] for c in key_columns)).in_(list(keys)))
    statement = statement.group_by(*columns).order_by(*_order(group_by))
    lines = []
    for row in connection.execute(statement).mappings():
        # PostgreSQL sums BIGINTs as NUMERIC (Decimal): back to int, and float for the seconds.
        counts = UsageCounts(**{c: int(row[c] or 0) for c in _COUNTS if c != "voice_seconds"})
        counts.voice_seconds = float(row["voice_seconds"] or 0.0)
        lines.append(
            UsageLine(group={c: _day(row[c]) if c == "day" else row[c] for c in group_by}, counts=counts)
        )
    return lines


def _groups(
    group_by: Sequence[str], window: _Window, limit: int, offset: int, connection: Connection
) -> tuple[list[tuple[Any, ...]], int]:
    columns = [_USAGE.c[c] for c in group_by]
    distinct = _filtered(select(*columns), window).group_by(*columns)
    total = connection.execute(select(func.count()).select_from(distinct.subquery())).scalar_one()
    page = connection.execute(distinct.order_by(*_order(group_by)).limit(limit).offset(offset)).all()
    return [tuple(row) for row in page], int(total)


def _day(value: Any) -> date:
    """SQLite may hand a Date column back as text from an aggregate query."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
