"""A migrated database (SQLite and PostgreSQL in turn) and a store on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.engine import create_engine, session_factory
from app.db.migrate import upgrade
from app.memory.sql import SqlMemoryStore
from app.settings import Settings


@pytest.fixture
async def sessions(database_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_settings)
    await upgrade(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> SqlMemoryStore:
    return SqlMemoryStore(sessions)
