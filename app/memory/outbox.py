"""`MirrorOutbox`: the durable Zep mirror. Every replica drains the `mirror_outbox` table.

The SQL store writes an outbox row (the ids of the turns it wrote) in the same transaction as the
turns (`SqlMemoryStore(outbox=True)`), so a turn that is stored is also queued for Zep, whatever
happens to the replica afterwards. Each replica polls the table (ZEP_MIRROR_POLL_SECONDS; a local
write wakes it at once) and mirrors sessions whose rows nobody holds:

- **Claiming** is per session, through `mirror_leases`: an upsert that only takes over an expired
  lease (`INSERT .. ON CONFLICT DO UPDATE .. WHERE lease_until <= now RETURNING`), atomic on
  PostgreSQL and SQLite. One holder per session keeps Zep in order; the holder renews its lease every
  third of ZEP_MIRROR_LEASE_SECONDS while it works (however slow Zep is), so only a dead (or
  database-less) holder's lease expires, and then any replica finishes its work.
- **Order**: the holder sends the session's rows in `id` order and stops at the first failure; the
  lease then stays as a backoff (ZEP_MIRROR_RETRY_SECONDS, doubling per attempt).
- **Exactly once on Zep**: a row is the batch of one transaction, so a retry (by this or another
  replica) sends the same turns with the same idempotency key (`ZepMirror.mirror_turns`) and Zep
  keeps one copy. The row is deleted only after Zep accepted it.
- **Erasure wins**: the erasure deletes the user's rows first (`SqlMemoryStore.erase_owner`). On
  PostgreSQL a delivery holds its row `FOR UPDATE` during the Zep call, so the erasure waits for a
  write in flight on any replica and Zep's user deletion comes after it; a delivery re-reads its
  row (and the turns, with their episode) when it starts and skips a row that has gone. On SQLite
  (one process) the erasure settles this process's writes first (`settle_owner`).

Each delivery runs in the trace of the request that wrote its turns (the row keeps its traceparent).
The backlog (rows, oldest age) is measured each poll: `memory_mirror_backlog`,
`memory_mirror_oldest_age_s` and `/health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from opentelemetry import context as otel_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.engine import sqlite_runner
from app.db.tables import EpisodeRow, MirrorLeaseRow, MirrorOutboxRow, TurnRow
from app.memory.store import ContentCipher, NewTurn
from app.memory.zep import ZepMirror
from app.observability import metrics

log = logging.getLogger("engram.memory.outbox")

#: Rows of one session read per round trip while its lease is held.
ROWS_PER_READ = 20
#: The retry delay doubles per failed attempt up to this long.
MAX_RETRY_S = 600.0
#: A row that failed this many times is given up (counted; SQL still holds its turns).
MAX_ATTEMPTS = 50

_PROPAGATOR = TraceContextTextMapPropagator()
_OUTBOX = cast(Table, MirrorOutboxRow.__table__)
_LEASES = cast(Table, MirrorLeaseRow.__table__)
_TURNS = cast(Table, TurnRow.__table__)
_EPISODES = cast(Table, EpisodeRow.__table__)


@dataclass(frozen=True)
class Backlog:
    batches: int
    oldest_age_s: float | None  # None when empty


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class MirrorOutbox:
    """This replica's outbox worker; `start()` in the lifespan, `drain()` at shutdown."""

    def __init__(
        self,
        mirror: ZepMirror,
        sessions: async_sessionmaker[AsyncSession],
        cipher: ContentCipher | None = None,
        *,
        concurrency: int = 4,
        lease_s: float = 30.0,
        poll_s: float = 1.0,
        retry_s: float = 5.0,
        holder: str | None = None,
    ) -> None:
        self._mirror = mirror
        self._sessions = sessions
        self._cipher = cipher
        self._concurrency = concurrency
        self._lease = timedelta(seconds=lease_s)
        self._poll_s = poll_s
        self._retry_s = retry_s
        self.holder = holder or f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        bind = sessions.kw.get("bind")
        self._postgres = bind is not None and bind.dialect.name == "postgresql"
        self._runner = sqlite_runner(bind)
        self._tasks: dict[asyncio.Task[None], str] = {}  # session task -> owner id
        self._active: set[str] = set()  # sessions this replica is mirroring now
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._closed = False
        self._failed: set[str] | None = None  # during `flush`: sessions that failed in it
        self.backlog = Backlog(0, None)

    # --- the interface chat, voice and erasure use --------------------------------------------------

    def submit(self, turns: Sequence[NewTurn]) -> bool:
        """The turns are already in the outbox (written with them): wake the worker. False when closed."""
        if not turns:
            return True
        if self._closed:
            return False
        self._wake.set()
        return True

    @property
    def pending(self) -> int:
        """Sessions this replica is mirroring right now."""
        return len(self._tasks)

    async def settle_owner(self, owner_id: str, timeout_s: float) -> int:
        """Wait up to `timeout_s` for this replica's writes of the owner; cancel the rest (erasure)."""
        tasks = {task for task, owner in self._tasks.items() if owner == owner_id}
        return await _wait_or_cancel(tasks, timeout_s, "erasure")

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._loop_task is None and not self._closed:
            self._loop_task = asyncio.create_task(self._run(), name="zep-outbox")

    async def drain(self, timeout_s: float) -> int:
        """Stop polling, wait up to `timeout_s` for writes in flight, release this replica's leases
        (another replica resumes at once); returns how many sessions were cut. Rows stay in SQL."""
        self._closed = True
        loop_task, self._loop_task = self._loop_task, None
        if loop_task is not None:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        cut = await _wait_or_cancel(set(self._tasks), timeout_s, "shutdown")
        with contextlib.suppress(Exception):
            await self._write(delete(_LEASES).where(_LEASES.c.holder == self.holder))
        return cut

    async def flush(self, timeout_s: float = 10.0, *, retry: bool = False) -> None:
        """Mirror everything claimable in the outbox now and wait for it (tests, tools); with `retry`,
        this replica's retry backoffs too. A session that fails is tried once. Bounded by `timeout_s`."""
        failed: set[str] = set()
        self._failed = failed
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    claimed = await self._cycle(retry_own=retry, skip=failed)
                    if self._tasks:
                        await asyncio.gather(*self._tasks, return_exceptions=True)
                    if not claimed and not self._tasks:
                        break
                await self._measure()
        finally:
            self._failed = None

    # --- polling --------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closed:
            try:
                await self._cycle()
            except Exception as exc:  # the database may be briefly away: try again next poll
                log.warning("mirror outbox poll failed", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()
            self._wake.clear()

    async def _cycle(self, *, retry_own: bool = False, skip: set[str] | None = None) -> int:
        """Measure the backlog, claim free sessions up to the concurrency, start their tasks.

        `retry_own`: also take sessions whose lease this replica holds as a retry backoff.
        """
        await self._measure()
        free = self._concurrency - len(self._tasks)
        if free <= 0 or self._closed:
            return 0
        now = _now()
        candidates = await self._candidates(now, free * 2 + len(skip or ()), retry_own)
        claimed = 0
        for session_id, owner_id in candidates:
            if claimed >= free:
                break
            if session_id in self._active or (skip and session_id in skip):
                continue
            if not await self._claim(session_id, now, retry_own):
                continue
            claimed += 1
            self._active.add(session_id)
            task = asyncio.create_task(self._mirror_session(session_id), name="zep-outbox-session")
            self._tasks[task] = owner_id
            task.add_done_callback(functools.partial(self._done, session_id=session_id))
        return claimed

    def _done(self, task: asyncio.Task[None], *, session_id: str) -> None:
        self._tasks.pop(task, None)
        self._active.discard(session_id)
        if not task.cancelled() and task.exception() is not None:
            log.error("mirror outbox task failed", extra={"error": type(task.exception()).__name__})

    async def _measure(self) -> None:
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(select(func.count(), func.min(_OUTBOX.c.created_at)))
            ).one()
        age = max(0.0, (_now() - _aware(oldest)).total_seconds()) if oldest is not None else None
        self.backlog = Backlog(int(count), age)
        metrics.mirror_backlog(int(count), age or 0.0)

    async def _candidates(self, now: datetime, limit: int, retry_own: bool) -> list[tuple[str, str]]:
        """Sessions with rows and no live lease, oldest first: (session id, owner id)."""
        leased = select(_LEASES.c.session_id).where(
            _LEASES.c.session_id == _OUTBOX.c.session_id, _LEASES.c.lease_until > now
        )
        if retry_own:
            leased = leased.where(_LEASES.c.holder != self.holder)
        statement = (
            select(_OUTBOX.c.session_id, func.min(_OUTBOX.c.owner_id))
            .where(~leased.exists())
            .group_by(_OUTBOX.c.session_id)
            .order_by(func.min(_OUTBOX.c.id))
            .limit(limit)
        )
        async with self._sessions() as session:
            return [(row[0], row[1]) for row in (await session.execute(statement)).all()]

    async def _claim(self, session_id: str, now: datetime, retry_own: bool = False) -> bool:
        """Take the session's lease when nobody holds a live one (atomic on both backends)."""
        insert = postgresql.insert if self._postgres else sqlite.insert
        values = insert(_LEASES).values(
            session_id=session_id, holder=self.holder, lease_until=now + self._lease
        )
        statement = values.on_conflict_do_update(
            index_elements=["session_id"],
            set_={"holder": values.excluded.holder, "lease_until": values.excluded.lease_until},
            where=(_LEASES.c.lease_until <= now) | (_LEASES.c.holder == self.holder)
            if retry_own
            else _LEASES.c.lease_until <= now,
        ).returning(_LEASES.c.session_id)
        return await self._write(statement, returns=True) is not None

    # --- one session ------------------------------------------------------------------------------------

    async def _mirror_session(self, session_id: str) -> None:
        """Send the session's rows in order while the lease is ours (renewed in the background, so a
        slow Zep never lets it lapse under us); keep the lease as backoff on failure."""
        lost = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(session_id, lost), name="zep-outbox-lease")
        backoff: float | None = None
        try:
            backoff = await self._send_rows(session_id, lost)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if lost.is_set():
            return  # another replica holds the session now (we could not renew): it goes on
        if backoff is not None:
            await self._extend(session_id, _now() + timedelta(seconds=backoff))
            return
        await self._write(
            delete(_LEASES).where(_LEASES.c.session_id == session_id, _LEASES.c.holder == self.holder)
        )

    async def _send_rows(self, session_id: str, lost: asyncio.Event) -> float | None:
        """The session's rows in order; the retry delay after a failure, None when all went."""
        while not lost.is_set():
            async with self._sessions() as session:
                rows = (
                    await session.execute(
                        select(_OUTBOX.c.id, _OUTBOX.c.attempts, _OUTBOX.c.trace_parent)
                        .where(_OUTBOX.c.session_id == session_id)
                        .order_by(_OUTBOX.c.id)
                        .limit(ROWS_PER_READ)
                    )
                ).all()
            if not rows:
                return None
            for row_id, attempts, trace_parent in rows:
                if lost.is_set():
                    return None
                if not await self._deliver(row_id, attempts, trace_parent):
                    if self._failed is not None:
                        self._failed.add(session_id)
                    return float(min(self._retry_s * 2 ** min(attempts, 10), MAX_RETRY_S))
        return None

    async def _heartbeat(self, session_id: str, lost: asyncio.Event) -> None:
        """Renew the lease every third of its length while the session is being mirrored."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                renewed = await self._extend(session_id, _now() + self._lease)
            except Exception as exc:  # the database briefly away: try again next beat
                log.warning("mirror lease renewal failed", extra={"error": type(exc).__name__})
                continue
            if not renewed:
                lost.set()
                return

    async def _extend(self, session_id: str, until: datetime) -> bool:
        statement = (
            update(_LEASES)
            .where(_LEASES.c.session_id == session_id, _LEASES.c.holder == self.holder)
            .values(lease_until=until)
            .returning(_LEASES.c.session_id)
        )
        return await self._write(statement, returns=True) is not None

    async def _deliver(self, row_id: int, attempts: int, trace_parent: str | None) -> bool:
        """Mirror one row in the trace of the request that wrote it (the row keeps its traceparent)."""
        token = (
            otel_context.attach(_PROPAGATOR.extract({"traceparent": trace_parent})) if trace_parent else None
        )
        try:
            return await self._deliver_row(row_id, attempts)
        finally:
            if token is not None:
                otel_context.detach(token)

    async def _deliver_row(self, row_id: int, attempts: int) -> bool:
        """Mirror one row: True when Zep has it (or it need not go: erased, gone, given up)."""
        if self._postgres:
            # Held FOR UPDATE across the Zep call: an erasure's DELETE of the row waits for it.
            async with self._sessions.begin() as session:
                turns = await self._load(session, row_id, lock=True)
                if turns is None:
                    return True
                ok = bool(turns) and await self._mirror.mirror_turns(turns)
                if ok or not turns:
                    await session.execute(delete(_OUTBOX).where(_OUTBOX.c.id == row_id))
                    return True
        else:
            async with self._sessions() as session:
                turns = await self._load(session, row_id, lock=False)
            if turns is None:
                return True
            ok = bool(turns) and await self._mirror.mirror_turns(turns)
            if ok or not turns:
                await self._write(delete(_OUTBOX).where(_OUTBOX.c.id == row_id))
                return True
        if attempts + 1 >= MAX_ATTEMPTS:
            log.error("mirror write given up after %d attempts; SQL keeps the turns", MAX_ATTEMPTS)
            metrics.memory_degraded("mirror", "gave_up")
            await self._write(delete(_OUTBOX).where(_OUTBOX.c.id == row_id))
            return True
        await self._write(update(_OUTBOX).where(_OUTBOX.c.id == row_id).values(attempts=attempts + 1))
        return False

    async def _load(self, session: AsyncSession, row_id: int, *, lock: bool) -> list[NewTurn] | None:
        """The row's turns (with their episode; decrypted), [] when they have gone, None when the
        row has gone (erased or delivered meanwhile)."""
        statement = select(_OUTBOX.c.turn_ids).where(_OUTBOX.c.id == row_id)
        if lock:
            statement = statement.with_for_update()
        turn_ids = (await session.execute(statement)).scalar_one_or_none()
        if turn_ids is None:
            return None
        found = (
            await session.execute(
                select(
                    _TURNS.c.episode_id,
                    _EPISODES.c.owner_id,
                    _EPISODES.c.tenant_id,
                    _TURNS.c.role,
                    _TURNS.c.content,
                    _TURNS.c.agent_id,
                    _TURNS.c.channel,
                    _TURNS.c.source_event_id,
                    _TURNS.c.created_at,
                )
                .join(_EPISODES, _EPISODES.c.id == _TURNS.c.episode_id)
                .where(_TURNS.c.id.in_(list(turn_ids)))
                .order_by(_TURNS.c.id)
            )
        ).all()
        return [self._turn(row) for row in found]

    def _turn(self, row: Any) -> NewTurn:
        session_id, owner_id, tenant_id, role, content, agent_id, channel, source, created_at = row
        return NewTurn(
            session_id=session_id,
            owner_id=owner_id,
            tenant_id=tenant_id,
            role=role,
            content=self._cipher.decrypt(content) if self._cipher else content,
            agent_id=agent_id,
            channel=channel,
            source_event_id=source,
            created_at=_aware(created_at),
        )

    async def _write(self, statement: Any, *, returns: bool = False) -> Any:
        """One write statement in its own transaction; on a SQLite file behind the engine's writer lock."""
        lock = self._runner.write_lock if self._runner is not None else contextlib.nullcontext()
        async with lock, self._sessions.begin() as session:
            result = await session.execute(statement)
            return result.scalar_one_or_none() if returns else None


async def _wait_or_cancel(tasks: set[asyncio.Task[None]], timeout_s: float, reason: str) -> int:
    """Wait up to `timeout_s` for `tasks`, cancel the rest (counted under `reason`); how many were cut."""
    if not tasks:
        return 0
    _, still_running = await asyncio.wait(tasks, timeout=timeout_s)
    for task in still_running:
        task.cancel()
    if still_running:
        await asyncio.gather(*still_running, return_exceptions=True)
        metrics.memory_degraded("mirror", reason)
    return len(still_running)
