"""The built UI at `/` with the SPA fallback: deep links load, files are served, the API always wins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.api.web import SpaFallback, mount_web
from app.db.migrate import upgrade
from app.main import create_app
from tests.conftest import make_settings

INDEX = "<!doctype html><title>Engram</title><div id=main></div>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log('engram')")
    (root / "staticwebapp.config.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("outside the build")
    return root


@pytest.fixture
async def app(tmp_path: Path, dist: Path) -> FastAPI:
    app = create_app(make_settings(tmp_path))
    assert mount_web(app, dist)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    await upgrade(app.state.engine)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    # The lifespan disposes the engine before the loop closes.
    async with app.router.lifespan_context(app), http as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/voice", "/chat", "/voice/", "/some/deep/link"])
async def test_page_routes_get_the_app(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_built_files_are_served_with_long_cache(client: httpx.AsyncClient) -> None:
    response = await client.get("/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.text == "console.log('engram')"
    assert "immutable" in response.headers["cache-control"]
    head = await client.head("/assets/index-abc123.js")
    assert head.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize("path", ["/assets/missing.js", "/favicon.ico", "/robots.txt"])
async def test_missing_files_are_404_not_the_app(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert INDEX not in response.text


async def test_api_routes_win_over_the_fallback(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["database_ok"] in (True, False)
    unknown = await client.get("/api/v1/no-such-route")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not Found"}
    assert (await client.get("/api")).status_code == 404


async def test_routes_added_after_mounting_still_win(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.get("/api/v1/late")
    async def late() -> dict[str, str]:
        return {"late": "yes"}

    @app.get("/late-page")
    async def late_page() -> dict[str, str]:
        return {"page": "api"}

    assert (await client.get("/api/v1/late")).json() == {"late": "yes"}
    assert (await client.get("/late-page")).json() == {"page": "api"}


async def test_only_get_and_head_fall_back(client: httpx.AsyncClient) -> None:
    response = await client.post("/voice", json={})
    assert response.status_code == 404
    assert INDEX not in response.text


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"])
async def test_nothing_outside_the_build_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert "outside the build" not in response.text


def test_not_mounted_without_a_build(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    before = app.router.default
    assert not mount_web(app, tmp_path / "no-dist")
    assert app.router.default is before


def test_mounting_twice_replaces_the_build(tmp_path: Path, dist: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("other")
    app = create_app(make_settings(tmp_path))
    mount_web(app, dist)
    mount_web(app, other)
    handler = app.router.default
    assert isinstance(handler, SpaFallback)
    assert handler.dist == other.resolve()
    assert not isinstance(handler.fallback, SpaFallback)
