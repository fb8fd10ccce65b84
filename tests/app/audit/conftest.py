"""A migrated database on each backend (SQLite, PostgreSQL) and a trail on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import AuditTrail
from app.db.engine import create_engine, session_factory
from app.db.migrate import upgrade
from app.settings import Settings
from tests.app.audit.helpers import KEY


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
