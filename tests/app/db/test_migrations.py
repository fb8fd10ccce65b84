"""Migrations run on SQLite and PostgreSQL, idempotently, and create the memory schema."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from app.db.engine import create_engine
from app.db.migrate import current, upgrade
from app.settings import Settings


async def test_upgrade_is_idempotent_and_creates_schema(database_settings: Settings) -> None:
    engine = create_engine(database_settings)
    try:
        await upgrade(engine)
        await upgrade(engine)  # second run at head changes nothing and does not fail
        assert await current(engine) is not None
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"episodes", "turns", "facts", "alembic_version"} <= tables
    finally:
        await engine.dispose()


async def test_turns_cascade_with_their_episode(database_settings: Settings) -> None:
    engine = create_engine(database_settings)
    now = datetime.now(UTC)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO episodes (id, owner_id, channels, agents, started_at, last_activity_at) "
                    "VALUES ('s1', 'u1', '[]', '[]', :now, :now)"
                ),
                {"now": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO turns (episode_id, role, content, agent_id, channel, created_at) "
                    "VALUES ('s1', 'user', 'hi', 'elena', 'chat', :now)"
                ),
                {"now": now},
            )
            await conn.execute(text("DELETE FROM episodes WHERE id = 's1'"))
            remaining = (await conn.execute(text("SELECT count(*) FROM turns"))).scalar_one()
        assert remaining == 0
    finally:
        await engine.dispose()
