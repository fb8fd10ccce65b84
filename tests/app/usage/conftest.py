"""A usage store on a migrated database (SQLite and PostgreSQL in turn)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import session_factory
from app.usage.store import UsageStore


@pytest.fixture
def usage_store(engine: AsyncEngine) -> UsageStore:
    return UsageStore(session_factory(engine))
