"""Shared fixtures: isolated settings (no `.env`, no ambient env), databases on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine, dispose
from app.db.migrate import upgrade
from app.settings import Settings
from tests.azurite.server import Azurite, AzuriteMissing, azurite
from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.zep_server import API_KEY as ZEP_API_KEY
from tests.doubles.zep_server import ZepDouble
from tests.redis_servers import own_redis, redis_prefix, redis_url  # noqa: F401 - shared fixtures
from tests.telemetry import _session_sink, sink  # noqa: F401 - fixtures shared by every test area

# The loopback guard fails any test that reaches off this host; pytester runs the guard's own proof.
pytest_plugins = ("tests.loopback_guard", "pytester")

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
POSTGRES_ADMIN_URL = os.environ.get("ENGRAM_TEST_POSTGRES", f"postgresql://postgres@{POSTGRES_HOST}/test")


_SERVICE_VARIABLES = {
    "ENVIRONMENT",
    "AUTH_REQUIRED",
    "DEBUG",
    "LOG_LEVEL",
    "CORS_ORIGINS",
    "DATABASE_URL",
    "ENCRYPTION_KEY",
    "AUDIT_LOG_ENABLED",
    "AUDIT_ANCHOR_INTERVAL_SECONDS",
    "DATA_RETENTION_DAYS",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "DATA_DIR",
}


@pytest.fixture(autouse=True)
def _no_ambient_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Tests see only the settings they build: no developer `.env`, no inherited SOP variables."""
    for name in list(os.environ):
        if name in _SERVICE_VARIABLES or name.startswith(("AZURE_", "ZEP_", "RECORDING_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # a stray `.env` in the checkout cannot leak in
    yield


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test: embedded SQLite under tmp_path unless overridden."""
    values: dict[str, object] = {"data_dir": tmp_path / "data", "_env_file": None}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def settings_with_doubles(
    tmp_path: Path,
    *,
    gateway: str,
    gateway_key: str = "k",
    deployment: str | None = "gpt-test",
    zep: str | None = None,
    zep_key: str = ZEP_API_KEY,
    **overrides: object,
) -> Settings:
    """`make_settings` pointed at the test's OpenAI double (and Zep double when `zep` is given)."""
    values: dict[str, object] = {"azure_ai_endpoint": gateway, "azure_ai_key": gateway_key}
    if deployment is not None:
        values["azure_ai_deployment"] = deployment
    if zep is not None:
        values.update(zep_api_key=zep_key, zep_api_url=zep)
    values.update(overrides)
    return make_settings(tmp_path, **values)


def postgres_available() -> bool:
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=1):
            return True
    except OSError:
        return False


async def _admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    if not postgres_available():
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_HOST}:{POSTGRES_PORT}")
    name = f"engram_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@{POSTGRES_HOST}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on each backend in turn; the PostgreSQL one gets its own throwaway database."""
    if request.param == "sqlite":
        return make_settings(tmp_path)
    return make_settings(tmp_path, database_url=request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database_settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on each backend in turn (see `database_settings`), disposed afterwards."""
    engine = create_engine(database_settings)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await dispose(engine)


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[Azurite]:
    """Azurite's blob service for the session (tests/azurite); each test uses its own container.
    Not installed: the test skips locally and fails under CI, so a green CI run always ran it."""
    try:
        with azurite() as server:
            yield server
    except AzuriteMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"prerequisite missing in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def recording_container() -> str:
    return f"rec-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def gateway() -> AsyncIterator[OpenAIDouble]:
    """The OpenAI-compatible gateway double on a free loopback port (tests/doubles/openai_server.py)."""
    async with OpenAIDouble() as double:
        yield double


@pytest.fixture
async def zep() -> AsyncIterator[ZepDouble]:
    """The Zep Cloud double on a free loopback port (tests/doubles/zep_server.py)."""
    async with ZepDouble() as double:
        yield double
