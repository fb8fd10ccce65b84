"""A migrated database (SQLite and PostgreSQL in turn) and a store on it."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.engine import session_factory
from app.memory.sql import SqlMemoryStore


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> SqlMemoryStore:
    return SqlMemoryStore(sessions)
