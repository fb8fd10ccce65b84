"""The PostgreSQL pool pings only connections that sat idle, and replaces one that died while idle."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from app.db import engine as engine_module
from app.db.engine import create_engine, dispose
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


async def _backend_pid(engine: object) -> int:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_killed_while_idle_is_replaced(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(make_settings(tmp_path, database_url=postgres_url))
    try:
        first = await _backend_pid(engine)
        admin = await asyncpg.connect(postgres_url)  # outside the pool: end the pooled connection's backend
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection is "idle"
        pids = {await _backend_pid(engine) for _ in range(3)}
        assert first not in pids  # the dead one was pinged, found dead and replaced; no error surfaced
    finally:
        await dispose(engine)


async def test_a_recently_used_connection_is_not_pinged(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(make_settings(tmp_path, database_url=postgres_url))
    pings: list[object] = []
    real_ping = AsyncAdapt_asyncpg_connection.ping

    def counting_ping(self: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(self)
        real_ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counting_ping)
    try:
        for _ in range(5):
            await _backend_pid(engine)
        assert pings == []  # just checked in: no round trips before use
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)
        await _backend_pid(engine)
        assert len(pings) == 1
    finally:
        await dispose(engine)
