"""Fixtures of the replica tests: a migrated PostgreSQL database and `engram serve` replicas on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from app.db.migrate import upgrade_sync
from tests.conftest import make_settings
from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.voicelive_server import VoiceLiveDouble
from tests.processes import Served, engram_env, spawn_engram

REPLICA_VOICELIVE_KEY = "replica-voicelive-key"
Replicas = Callable[..., list[str]]  # what the `replicas` fixture gives: start(count, **settings) -> URLs


@pytest.fixture
def database(postgres_url: str, tmp_path: Path) -> str:
    """This test's PostgreSQL database, migrated (replicas started together must not race to migrate)."""
    upgrade_sync(make_settings(tmp_path, database_url=postgres_url))
    return postgres_url


@pytest.fixture
async def voicelive() -> AsyncIterator[VoiceLiveDouble]:
    """The VoiceLive double the replicas talk to, on this test's event loop."""
    async with VoiceLiveDouble(api_key=REPLICA_VOICELIVE_KEY) as double:
        yield double


@pytest.fixture
def replicas(
    tmp_path: Path, database: str, gateway: OpenAIDouble, voicelive: VoiceLiveDouble
) -> Iterator[Replicas]:
    """`replicas(count, **settings)`: that many `engram serve` processes on the test's database, chat and
    voice on the doubles, started together; returns their base URLs. All stop when the test ends."""
    started: list[Served] = []

    def start(count: int, **settings: str) -> list[str]:
        env = engram_env(gateway, voicelive, DATABASE_URL=database, **settings)
        batch = [spawn_engram(tmp_path, env, log=f"replica-{len(started) + i}.log") for i in range(count)]
        started.extend(batch)
        for served in batch:
            served.wait_healthy()
        return [served.base for served in batch]

    try:
        yield start
    finally:
        for served in started:
            served.proc.terminate()
        for served in started:
            served.stop(15)
