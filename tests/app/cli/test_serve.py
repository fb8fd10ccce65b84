"""`engram serve` starts a real server with embedded defaults; the SOP guard stops unsafe settings."""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import time
from pathlib import Path

import httpx
import typer
import uvicorn

from app.cli import cli
from app.cli.serve import DEFAULT_KEEP_ALIVE_SECONDS, server_options
from tests.processes import ENGRAM, clean_env, free_port, spawn_engram


async def _websocket_extensions(url: str) -> str | None:
    from websockets.asyncio.client import connect

    async with connect(url, subprotocols=["engram.v1"], compression="deflate") as ws:  # type: ignore[list-item]
        return ws.response.headers.get("Sec-WebSocket-Extensions")


UVICORN_DEFAULT_KEEP_ALIVE_SECONDS = 5


def test_serve_keeps_idle_connections_longer_than_uvicorns_default() -> None:
    # An ingress proxy reuses idle keep-alive connections; uvicorn's default 5 s would close them under it.
    (serve,) = [c for c in typer.main.get_command(cli).commands.values() if c.name == "serve"]  # type: ignore[attr-defined]
    (keep_alive,) = [p for p in serve.params if p.name == "keep_alive"]
    assert keep_alive.default == DEFAULT_KEEP_ALIVE_SECONDS > UVICORN_DEFAULT_KEEP_ALIVE_SECONDS
    config = uvicorn.Config("app.main:create_app", **server_options())  # type: ignore[arg-type]
    assert config.timeout_keep_alive == DEFAULT_KEEP_ALIVE_SECONDS


def _idle_seconds_until_closed(base: str) -> float:
    """Send one request on a keep-alive connection, then time how long the server leaves it idle."""
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
    connection.request("GET", "/health")
    assert connection.getresponse().read()
    assert connection.sock is not None
    idle_since = time.monotonic()
    assert connection.sock.recv(1) == b""  # blocks until the server closes its end
    connection.close()
    return time.monotonic() - idle_since


def test_serve_answers_health_with_embedded_defaults(tmp_path: Path) -> None:
    served = spawn_engram(tmp_path, clean_env(), free_port(), "engram.log", "--keep-alive", "1")
    try:
        served.wait_healthy(timeout=30)
        body = httpx.get(f"{served.base}/health", timeout=1).json()
        assert body["status"] == "ok"
        assert body["chat_configured"] is False
        assert (tmp_path / ".engram" / "engram.db").exists()
        # The served uvicorn applies --keep-alive (its default is checked above): 1 s here, not uvicorn's 5 s.
        assert 0.5 < _idle_seconds_until_closed(served.base) < UVICORN_DEFAULT_KEEP_ALIVE_SECONDS - 1
        # A browser-like websocket handshake offers permessage-deflate; the server declines it.
        ws_base = served.base.replace("http://", "ws://")
        extensions = asyncio.run(_websocket_extensions(f"{ws_base}/api/v1/voice/voicelive/s1"))
        assert extensions is None
    finally:
        served.stop()
    startup = [line for line in served.log.read_text().splitlines() if '"engram configured"' in line]
    assert len(startup) == 1
    assert '"database": "sqlite"' in startup[0]


def test_serve_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [*ENGRAM, "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(ENVIRONMENT="production", AZURE_AI_KEY="do-not-print-me"),
    )
    assert result.returncode != 0
    assert "AUTH_REQUIRED must be true" in result.stderr
    assert "ENCRYPTION_KEY must be set" in result.stderr
    assert "do-not-print-me" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_db_upgrade_twice(tmp_path: Path) -> None:
    for _ in range(2):
        result = subprocess.run(
            [*ENGRAM, "db", "upgrade"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
        )
        assert result.returncode == 0, result.stderr
        assert "database at revision" in result.stdout
