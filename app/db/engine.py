"""The process-wide async engine and session factory."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from app.db.url import async_url
from app.settings import Settings

#: SQLite: connections kept open, and how many more may be opened briefly under a burst.
SQLITE_POOL_SIZE = 10
SQLITE_POOL_OVERFLOW = 5


def create_engine(settings: Settings) -> AsyncEngine:
    url = async_url(
        settings.database_url.get_secret_value() if settings.database_url else None, settings.data_dir
    )
    return engine_for_url(url)


def engine_for_url(url: URL) -> AsyncEngine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        pool: dict[str, int] = {}
        if url.database and url.database != ":memory:":
            # A small pool of persistent connections (each is a thread in aiosqlite): the default
            # 5 + 10 overflow opened and closed a connection, its thread and its PRAGMAs on every
            # checkout past five under concurrent chats.
            pool = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_OVERFLOW}
        engine = create_async_engine(url, connect_args={"timeout": 15}, **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if url.database and url.database != ":memory:":
            _RUNNERS[engine.sync_engine] = SqliteRunner(url)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20)
    event.listen(engine.sync_engine, "checkin", _mark_checkin)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    return engine


#: A pooled PostgreSQL connection idle for longer than this is pinged before use. SQLAlchemy's
#: `pool_pre_ping` pings on every checkout, and asyncpg's ping is three round trips (BEGIN, `;`,
#: ROLLBACK): on a chat request with three checkouts that was nine round trips of nothing. A
#: connection just checked in was alive a moment ago; one the server or a failover may have dropped
#: while idle is still checked.
PING_AFTER_IDLE_S = 10.0


def _mark_checkin(_dbapi_connection: object, record: ConnectionPoolEntry) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object) -> None:
    """Pessimistic disconnect handling for idle connections: the pool retries with a fresh one."""
    checked_in = record.info.get("checked_in_at")
    if checked_in is None or time.monotonic() - checked_in < PING_AFTER_IDLE_S:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:  # any failure: the connection is not usable
        raise DisconnectionError("an idle pooled connection did not answer its ping") from exc


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets readers run beside the single writer; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # WAL + NORMAL: commits skip the fsync (the WAL is synced at checkpoints); no corruption risk,
    # only the last transactions may be lost on power failure. Halves chat write latency.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


T = TypeVar("T")


class SqliteRunner:
    """Runs one whole store operation (several statements) on a SQLite file in ONE thread hop.

    aiosqlite hops to its connection thread and back for every cursor call (cursor, execute,
    fetch, close: 3-4 per statement), and each hop waits for the event loop and the GIL. This
    runner drives a synchronous twin engine on the same file (same PRAGMAs, WAL) from the loop's
    default executor, so a read or a write transaction costs one hop whatever its statement count.

    It also holds the engine's single SQLite write queue: every writer of this database in the
    process (memory store, audit trail) takes `write_lock`, so they queue here instead of in
    SQLite's polling busy handler.
    """

    def __init__(self, url: URL) -> None:
        self.engine: Engine = create_sync_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": 15},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_OVERFLOW,
        )
        event.listen(self.engine, "connect", _sqlite_pragmas)
        self._write_lock: asyncio.Lock | None = None

    @property
    def write_lock(self) -> asyncio.Lock:
        if self._write_lock is None:  # created lazily: an asyncio.Lock belongs to the running loop
            self._write_lock = asyncio.Lock()
        return self._write_lock

    async def read(self, operation: Callable[[Connection], T]) -> T:
        """`operation(connection)` in a worker thread; the connection rolls back when returned."""
        return await _in_thread(self._read, operation)

    async def write(self, operation: Callable[[Connection], T]) -> T:
        """`operation(connection)` in one transaction in a worker thread, queued behind the
        other writers of this database (`write_lock`)."""
        async with self.write_lock:
            return await _in_thread(self._write, operation)

    def _read(self, operation: Callable[[Connection], T]) -> T:
        with self.engine.connect() as connection:
            return operation(connection)

    def _write(self, operation: Callable[[Connection], T]) -> T:
        with self.engine.begin() as connection:
            return operation(connection)


async def _in_thread(
    function: Callable[[Callable[[Connection], T]], T], operation: Callable[[Connection], T]
) -> T:
    """Run in the loop's default executor, in a copy of the caller's context (trace span, log
    ids). If the caller is cancelled, wait for the thread to finish before letting go (a write
    lock must not be released while the write still runs)."""
    context = contextvars.copy_context()
    future = asyncio.get_running_loop().run_in_executor(None, context.run, function, operation)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await asyncio.wait({future})
        raise


_RUNNERS: weakref.WeakKeyDictionary[Engine, SqliteRunner] = weakref.WeakKeyDictionary()


def sqlite_runner(engine: AsyncEngine | None) -> SqliteRunner | None:
    """The engine's `SqliteRunner`: None for PostgreSQL and in-memory SQLite (one connection's
    database that a twin engine would not see)."""
    return _RUNNERS.get(engine.sync_engine) if engine is not None else None


async def dispose(engine: AsyncEngine) -> None:
    """Close the engine's pool and its SQLite twin's."""
    runner = _RUNNERS.pop(engine.sync_engine, None)
    if runner is not None:
        runner.engine.dispose()
    await engine.dispose()


def session_factory(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
