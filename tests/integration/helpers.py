"""The whole service against every double at once: the OpenAI gateway, Zep and VoiceLive.

`stack(settings)` serves `create_app` under uvicorn (the voice harness) with chat, memory and voice
all pointed at loopback doubles, so one test can chat over HTTP, talk over the voice websocket with
the same session id, and then look at the database, the doubles and the audit trail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect

from app.settings import Settings
from tests.app.voice.harness import WAIT_S, Client, VoiceEnv, voice_env
from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.voicelive_server import VoiceLiveDouble
from tests.doubles.zep_server import API_KEY as ZEP_KEY
from tests.doubles.zep_server import ZepDouble

GATEWAY_KEY = "gw-integration-key-0123456789abcdef"


def dev(user: str, role: str = "user") -> str:
    """A development token (`dev_<user>_<role>`), honoured only in ENVIRONMENT=development."""
    return f"dev_{user}_{role}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wired(settings: Settings, gateway: OpenAIDouble, zep: ZepDouble, voicelive: VoiceLiveDouble) -> Settings:
    """`settings` with chat, Zep and VoiceLive pointed at the doubles."""
    return settings.model_copy(
        update={
            "azure_ai_endpoint": gateway.base_url,
            "azure_ai_key": SecretStr(GATEWAY_KEY),
            "azure_ai_deployment": "gpt-test",
            "zep_api_key": SecretStr(ZEP_KEY),
            "zep_api_url": zep.base_url,
            "azure_voicelive_endpoint": voicelive.endpoint,
            "azure_voicelive_key": SecretStr(voicelive.api_key),
        }
    )


@dataclass
class Stack:
    env: VoiceEnv
    http: httpx.AsyncClient
    gateway: OpenAIDouble
    zep: ZepDouble

    @property
    def voicelive(self) -> VoiceLiveDouble:
        return self.env.double

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.env.app.state.engine
        return engine

    async def chat(self, content: str, token: str, session_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"content": content}
        if session_id is not None:
            body["session_id"] = session_id
        response = await self.http.post("/api/v1/chat", json=body, headers=bearer(token))
        assert response.status_code == 200, response.text
        reply: dict[str, Any] = response.json()
        return reply

    async def talk(
        self,
        session_id: str,
        said: str,
        answer: str,
        *,
        token: str | None = None,
        ticket: str | None = None,
        origin: str | None = None,
        connection: int = 0,
    ) -> None:
        """One voice exchange on `session_id`: the user says `said`, the agent answers `answer`.

        The browser authenticates with a bearer token or a ticket in the subprotocol list.
        `connection` is the index of this websocket among those the VoiceLive double has seen.
        Returns once the session has torn down and written its transcripts.
        """
        protocols = ["engram.v1"] + [f"bearer.{token}"] * bool(token) + [f"ticket.{ticket}"] * bool(ticket)
        async with connect(
            self.env.url(session_id),
            subprotocols=protocols,  # type: ignore[arg-type]
            origin=origin,  # type: ignore[arg-type]
        ) as ws:
            client = Client(ws)
            assert ws.subprotocol == "engram.v1"  # never a credential echoed back
            await client.until("agent_switched")
            upstream = await self.voicelive.session(connection)
            await upstream.speech_started("u1")
            await upstream.speech_stopped("u1")
            await upstream.transcription("u1", said)
            await upstream.reply("a1", answer)
            await client.until("transcription", speaker="assistant", status="complete")
        await self.env.idle()

    async def settle(self) -> None:
        """Background work done: voice sessions over, Zep writes sent, audit records stored."""
        state = self.env.app.state
        await self.env.idle()
        if state.memory.queue is not None:
            await state.memory.queue.flush()
        await state.audit.flush()


@asynccontextmanager
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    """The app under uvicorn with every external service a loopback double."""
    async with OpenAIDouble() as gateway, ZepDouble() as zep, VoiceLiveDouble() as voicelive:  # noqa: SIM117
        async with voice_env(wired(settings, gateway, zep, voicelive), voicelive) as env:
            base = f"http://127.0.0.1:{env.port}"
            async with httpx.AsyncClient(base_url=base, timeout=WAIT_S * 2) as http:
                yield Stack(env, http, gateway, zep)


async def until(condition: Callable[[], Any], what: str) -> None:
    """Wait (bounded) for an async or sync condition that other tasks will make true."""
    async with asyncio.timeout(WAIT_S):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


async def table_rows(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, raw from the database (what a database reader sees)."""
    metadata = MetaData()
    async with engine.connect() as conn:
        await conn.run_sync(metadata.reflect)
        rows: dict[str, list[dict[str, Any]]] = {}
        for name, table in metadata.tables.items():
            if name.startswith("facts_fts") or name == "alembic_version":
                continue  # FTS5 shadow tables mirror `facts`; checked through `facts`
            result = await conn.execute(select(table))
            rows[name] = [dict(row._mapping) for row in result]
    return rows


__all__ = ["Client", "Stack", "bearer", "dev", "stack", "table_rows", "until", "wired"]
