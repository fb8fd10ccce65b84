"""`/health` flags and `/ready` against a live and a dead database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.db.migrate import upgrade
from app.main import create_app
from app.settings import Settings
from tests.conftest import make_settings


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    await upgrade(app.state.engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(make_settings(tmp_path)):
        yield c


async def test_health_reports_embedded_defaults(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["environment"] == "development"
    assert body["chat_configured"] is False
    assert body["voicelive_configured"] is False
    assert body["database_ok"] is True
    assert body["memory"] == {
        "backend": "sql",
        "zep_configured": False,
        "zep_reachable": None,
        "degraded": False,
        "mirror_backlog": None,  # no Zep: no outbox
        "mirror_oldest_age_s": None,
    }
    assert response.headers["x-request-id"]


async def test_health_flags_follow_configuration(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        azure_ai_endpoint="https://gateway.example.invalid/engram/openai/v1",
        azure_voicelive_endpoint="https://voice.example.invalid",
    )
    async for client in _client(settings):
        body = (await client.get("/health")).json()
        assert body["chat_configured"] is True
        assert body["voicelive_configured"] is True


async def test_ready_is_200_when_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "database_ok": True}


async def test_ready_is_503_when_database_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: the pool cannot connect.
    settings = make_settings(tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["database_ok"] is False
            health = await client.get("/health")
            assert health.status_code == 200
            assert health.json()["status"] == "degraded"


async def test_incoming_request_id_is_kept_when_sane(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    response = await client.get("/health", headers={"X-Request-ID": "bad id\nwith newline"})
    assert response.headers["x-request-id"] != "bad id\nwith newline"
