"""`engram serve` starts a real server with embedded defaults; the SOP guard stops unsafe settings."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ENGRAM = [sys.executable, "-c", "from app.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(extra)
    return env


async def _websocket_extensions(url: str) -> str | None:
    from websockets.asyncio.client import connect

    async with connect(url, subprotocols=["engram.v1"], compression="deflate") as ws:  # type: ignore[list-item]
        return ws.response.headers.get("Sec-WebSocket-Extensions")


def test_serve_answers_health_with_embedded_defaults(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*ENGRAM, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert body is not None, "service did not answer /health"
        assert body["status"] == "ok"
        assert body["chat_configured"] is False
        assert (tmp_path / ".engram" / "engram.db").exists()
        # An idle keep-alive connection outlives uvicorn's default 5 s (an ingress proxy reuses them).
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/health")
        assert connection.getresponse().read()
        time.sleep(6)
        connection.request("GET", "/health")  # on the same socket: http.client never reconnects
        assert connection.getresponse().status == 200
        connection.close()
        # A browser-like websocket handshake offers permessage-deflate; the server declines it.
        extensions = asyncio.run(_websocket_extensions(f"ws://127.0.0.1:{port}/api/v1/voice/voicelive/s1"))
        assert extensions is None
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    startup = [line for line in out.splitlines() if '"engram configured"' in line]
    assert len(startup) == 1
    assert '"database": "sqlite"' in startup[0]


def test_serve_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [*ENGRAM, "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(ENVIRONMENT="production", AZURE_AI_KEY="do-not-print-me"),
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
            env=_clean_env(),
        )
        assert result.returncode == 0, result.stderr
        assert "database at revision" in result.stdout
