"""The SQLite runner: which engines get one, the write queue it shares, and cancellation.

Checked: a SQLite file engine has a runner and in-memory SQLite does not (a twin would open
another, empty database); the memory store and the audit trail queue on the same write lock;
a cancelled write still finishes (and commits) before the lock is let go; `dispose` drops the twin.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import AuditTrail
from app.db.engine import dispose, engine_for_url, session_factory, sqlite_runner
from app.memory.sql import SqlMemoryStore


async def _run_ready_tasks() -> None:
    """Let every task that can run, run (a few loop turns): a task not done after it is blocked.

    Exact where a sleep guessed: an unblocked waiter or a lock let go on cancel happens in these turns."""
    for _ in range(5):
        await asyncio.sleep(0)


def file_engine(tmp_path: Path) -> AsyncEngine:
    return engine_for_url(make_url(f"sqlite+aiosqlite:///{tmp_path / 'runner.db'}"))


async def test_a_file_engine_has_a_runner_and_memory_does_not(tmp_path: Path) -> None:
    engine = file_engine(tmp_path)
    memory = engine_for_url(make_url("sqlite+aiosqlite:///:memory:"))
    try:
        assert sqlite_runner(engine) is not None
        assert sqlite_runner(memory) is None
        assert sqlite_runner(None) is None
    finally:
        await dispose(engine)
        await dispose(memory)
    assert sqlite_runner(engine) is None


async def test_store_and_audit_trail_share_one_write_queue(tmp_path: Path) -> None:
    engine = file_engine(tmp_path)
    try:
        sessions = session_factory(engine)
        runner = sqlite_runner(engine)
        assert runner is not None
        store, trail = SqlMemoryStore(sessions), AuditTrail(sessions, b"k")
        assert store._runner is runner and trail._runner is runner
        async with runner.write_lock:  # held: the store's other writers queue behind it too
            waiting = asyncio.create_task(_enter(store))
            await _run_ready_tasks()
            assert not waiting.done()
        await waiting
    finally:
        await dispose(engine)


async def _enter(store: SqlMemoryStore) -> None:
    async with store._writing():
        pass


async def test_a_cancelled_write_finishes_before_the_lock_is_released(tmp_path: Path) -> None:
    engine = file_engine(tmp_path)
    runner = sqlite_runner(engine)
    assert runner is not None
    started, release = threading.Event(), threading.Event()

    def slow_write(connection: Connection) -> None:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        started.set()
        release.wait(5)

    try:
        task = asyncio.create_task(runner.write(slow_write))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        await _run_ready_tasks()
        assert runner.write_lock.locked()  # the thread still writes: the queue stays closed
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not runner.write_lock.locked()
        count = await runner.read(lambda c: c.execute(text("SELECT count(*) FROM t")).scalar_one())
        assert count == 1
    finally:
        release.set()
        await dispose(engine)
