"""Run Alembic migrations programmatically against the configured database.

The Alembic environment (`migrations/env.py`) receives an open connection through
`config.attributes`, so the same code migrates SQLite and PostgreSQL from sync or async callers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine
from app.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate to `revision`; running it again at head changes nothing."""

    def _run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def upgrade_sync(settings: Settings, revision: str = "head") -> None:
    async def _go() -> None:
        engine = create_engine(settings)
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(_go())


def current_sync(settings: Settings) -> str | None:
    async def _go() -> str | None:
        engine = create_engine(settings)
        try:
            return await current(engine)
        finally:
            await engine.dispose()

    return asyncio.run(_go())
