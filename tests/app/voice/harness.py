"""The voice test harness: the app served by uvicorn on a free port, the VoiceLive double, a client.

Every wait is on an event (a message, a connection, a counter) bounded by `WAIT_S` so a broken
behaviour fails the test instead of hanging it; nothing sleeps for a fixed time to let work happen.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.db.migrate import upgrade
from app.main import create_app
from app.memory.sql import SqlMemoryStore
from app.settings import Settings
from tests.conftest import make_settings
from tests.doubles.voicelive_server import DoubleSession, VoiceLiveDouble

WAIT_S = 5.0
PCM_40MS = b"\x10\x00" * 960  # 24 kHz mono PCM16, 40 ms


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[int]:
    """Run `app` under uvicorn on 127.0.0.1 and a free port; yields the port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done())
    if task.done():
        task.result()
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S * 2)


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds (checked on every loop turn), at most WAIT_S."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.005)


@dataclass
class VoiceEnv:
    app: FastAPI
    port: int
    double: VoiceLiveDouble
    store: SqlMemoryStore
    settings: Settings

    def url(self, session_id: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/voice/voicelive/{session_id}{query}"

    @asynccontextmanager
    async def client(
        self, session_id: str = "sess-1", *, query: str = "", token: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Client]:
        protocols = ["engram.v1"] + ([f"bearer.{token}"] if token else [])
        async with connect(self.url(session_id, query), subprotocols=protocols, **kwargs) as ws:  # type: ignore[arg-type]
            yield Client(ws)

    @asynccontextmanager
    async def talking(
        self, session_id: str = "sess-1", *, upstream: int = 0
    ) -> AsyncIterator[tuple[Client, DoubleSession]]:
        """A browser whose session is ready (`agent_switched` read) and the `upstream`-th VoiceLive
        session of the double, the one serving it."""
        async with self.client(session_id) as client:
            await client.until("agent_switched")
            yield client, await self.double.session(upstream)

    async def episode(self, session_id: str, token: str | None = None) -> dict[str, Any]:
        """`GET /api/v1/memory/episodes/{id}` over HTTP, as the UI reads it."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as http:
            response = await http.get(f"/api/v1/memory/episodes/{session_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def idle(self) -> None:
        """Every voice session has torn down (its transcripts are written)."""
        async with asyncio.timeout(WAIT_S):
            await self.app.state.voice.wait_idle()


@asynccontextmanager
async def voice_env(settings: Settings, double: VoiceLiveDouble | None = None) -> AsyncIterator[VoiceEnv]:
    app = create_app(settings)
    await upgrade(app.state.engine)
    async with served(app) as port:
        assert double is not None or not settings.voicelive_configured
        yield VoiceEnv(app, port, double or VoiceLiveDouble(), app.state.memory.store, settings)


@asynccontextmanager
async def double_env(tmp_path: Path, **overrides: object) -> AsyncIterator[VoiceEnv]:
    """A `voice_env` served by a fresh VoiceLive double: the settings point at its endpoint and key
    (`overrides` on top, a wrong key included)."""
    async with VoiceLiveDouble() as double:
        wiring: dict[str, object] = {
            "azure_voicelive_endpoint": double.endpoint,
            "azure_voicelive_key": double.api_key,
        }
        async with voice_env(make_settings(tmp_path, **(wiring | overrides)), double) as env:
            yield env


class Client:
    """A browser stand-in: sends SOP 10.2 messages and reads the replies in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def audio(self, pcm: bytes = PCM_40MS) -> None:
        await self.send(type="audio", data=b64(pcm))

    async def recv(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S):
            message: dict[str, Any] = orjson.loads(await self.ws.recv())
        self.seen.append(message)
        return message

    async def until(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        """Messages up to and including the first of `kind` whose fields match."""
        got: list[dict[str, Any]] = []
        while True:
            message = await self.recv()
            got.append(message)
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return got

    async def closed(self) -> tuple[int | None, list[dict[str, Any]]]:
        """Read until the server closes; the close code and the messages before it."""
        got: list[dict[str, Any]] = []
        try:
            while True:
                got.append(await self.recv())
        except ConnectionClosed as exc:
            return (exc.rcvd.code if exc.rcvd else None), got


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    """Message types, with transcription messages as `transcription:<speaker>:<status>`."""
    out = []
    for m in messages:
        if m["type"] == "transcription":
            out.append(f"transcription:{m['speaker']}:{m['status']}")
        else:
            out.append(m["type"])
    return out
