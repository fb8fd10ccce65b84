"""A migrated database on each backend (SQLite, PostgreSQL) and a trail on it."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import AuditTrail
from app.db.engine import session_factory
from tests.app.audit.helpers import KEY


@pytest.fixture
def trail(engine: AsyncEngine) -> AuditTrail:
    return AuditTrail(session_factory(engine), KEY)
