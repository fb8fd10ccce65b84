"""Several `engram serve` processes on one PostgreSQL database and one Redis hold the limits together.

Real services only: three (or two) `engram serve` subprocesses, the local PostgreSQL (a database per
test), the machine's Redis under a key prefix per test, and a private `redis-server` for the test
that stops Redis mid-run. Chat answers come from the OpenAI double; voice from the VoiceLive double.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.db.migrate import upgrade_sync
from tests.conftest import make_settings
from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.voicelive_server import VoiceLiveDouble
from tests.e2e.harness import free_port
from tests.redis_servers import OwnRedis

pytestmark = pytest.mark.postgres

START_TIMEOUT_S = 60.0
VOICELIVE_KEY = "replica-voicelive-key"


@asynccontextmanager
async def doubles() -> AsyncIterator[tuple[OpenAIDouble, VoiceLiveDouble]]:
    async with OpenAIDouble() as gateway, VoiceLiveDouble(api_key=VOICELIVE_KEY) as voicelive:
        yield gateway, voicelive


@contextmanager
def replicas(
    workdir: Path, count: int, gateway: OpenAIDouble, voicelive: VoiceLiveDouble, **settings: str
) -> Iterator[list[str]]:
    """`count` `engram serve` processes with the same settings, started together; their base URLs."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        AZURE_AI_ENDPOINT=gateway.base_url,
        AZURE_AI_KEY="test-gateway-key",
        AZURE_VOICELIVE_ENDPOINT=voicelive.endpoint,
        AZURE_VOICELIVE_KEY=VOICELIVE_KEY,
        LOG_LEVEL="WARNING",
        **settings,
    )
    procs: list[subprocess.Popen[str]] = []
    bases: list[str] = []
    try:
        for i in range(count):
            port = free_port()
            log = (workdir / f"replica-{i}.log").open("w")
            procs.append(
                subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                    [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port)],
                    cwd=workdir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for i, (proc, base) in enumerate(zip(procs, bases, strict=True)):
            _wait_healthy(proc, base, workdir / f"replica-{i}.log")
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)


def _wait_healthy(proc: subprocess.Popen[str], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"engram serve did not start: {log.read_text()[-2000:]}")


def _bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer dev_{user}_user"}


async def _chat(http: httpx.AsyncClient, base: str, user: str) -> httpx.Response:
    return await http.post(f"{base}/api/v1/chat", json={"content": "hello"}, headers=_bearer(user))


@pytest.fixture
def database(postgres_url: str, tmp_path: Path) -> str:
    upgrade_sync(make_settings(tmp_path, database_url=postgres_url))
    return postgres_url


async def test_a_users_chat_limit_holds_across_three_replicas(
    tmp_path: Path, database: str, redis_url: str, redis_prefix: str
) -> None:
    async with doubles() as (gateway, voicelive):
        with replicas(
            tmp_path,
            3,
            gateway,
            voicelive,
            DATABASE_URL=database,
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=redis_prefix,
            RATE_LIMIT_CHAT_PER_MINUTE="4",
        ) as bases:
            async with httpx.AsyncClient(timeout=30) as http:
                allowed = [await _chat(http, bases[i % 3], "alice") for i in range(4)]
                assert [r.status_code for r in allowed] == [200] * 4
                for base in bases:  # the fifth, sixth, seventh: refused whichever replica they reach
                    refused = await _chat(http, base, "alice")
                    assert refused.status_code == 429, refused.text
                    assert int(refused.headers["Retry-After"]) >= 1
                    assert refused.json()["detail"].startswith("too many chat requests; retry in ")
                assert (await _chat(http, bases[2], "bob")).status_code == 200  # another user's own limit
                health = (await http.get(f"{bases[1]}/health")).json()
                assert health["limiter"] == {"backend": "redis", "degraded": False}


async def _open_voice(base: str, user: str, session: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A voice websocket and its first message (ready: `agent_switched`; refused: `error`)."""
    url = base.replace("http://", "ws://") + f"/api/v1/voice/voicelive/{session}"
    ws = await connect(url, subprotocols=["engram.v1", f"bearer.dev_{user}_user"])  # type: ignore[list-item]
    first = json.loads(await asyncio.wait_for(ws.recv(), 15))
    return ws, first


async def _refused(base: str, user: str, session: str) -> str:
    ws, first = await _open_voice(base, user, session)
    assert first["type"] == "error", first
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    message: str = first["message"]
    return message


async def test_voice_session_caps_hold_across_replicas(
    tmp_path: Path, database: str, redis_url: str, redis_prefix: str
) -> None:
    async with doubles() as (gateway, voicelive):
        with replicas(
            tmp_path,
            3,
            gateway,
            voicelive,
            DATABASE_URL=database,
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=redis_prefix,
            VOICE_MAX_SESSIONS_PER_USER="1",
            VOICE_MAX_SESSIONS_DEPLOYMENT="2",
        ) as bases:
            alice, ready = await _open_voice(bases[0], "alice", "alice-1")
            assert ready["type"] == "agent_switched"
            message = await _refused(bases[1], "alice", "alice-2")
            assert message == "you already have 1 voice sessions open (the limit); close one and try again"
            bob, ready = await _open_voice(bases[2], "bob", "bob-1")
            assert ready["type"] == "agent_switched"
            message = await _refused(bases[1], "carol", "carol-1")
            assert message == "voice is at capacity (2 sessions); try again shortly"
            async with httpx.AsyncClient(timeout=10) as http:
                status = (await http.get(f"{bases[1]}/api/v1/voice/status")).json()
            assert (status["active_sessions"], status["deployment_sessions"]) == (0, 2)  # the others' two
            await alice.close()
            await alice.wait_closed()
            # Alice's slot is freed by the replica that held it; Carol gets it on another one.
            deadline = time.monotonic() + 15
            while True:
                carol, first = await _open_voice(bases[2], "carol", "carol-2")
                if first["type"] == "agent_switched" or time.monotonic() > deadline:
                    break
                await carol.close()
                await asyncio.sleep(0.2)
            assert first["type"] == "agent_switched", first
            await carol.close()
            await bob.close()


async def test_redis_stopped_mid_run_chat_goes_on_and_health_shows_it(
    tmp_path: Path, database: str, own_redis: OwnRedis
) -> None:
    async with doubles() as (gateway, voicelive):
        with replicas(
            tmp_path, 2, gateway, voicelive, DATABASE_URL=database, REDIS_URL=own_redis.url
        ) as bases:
            async with httpx.AsyncClient(timeout=30) as http:
                assert (await _chat(http, bases[0], "alice")).status_code == 200
                own_redis.stop()
                for base in bases:
                    assert (await _chat(http, base, "alice")).status_code == 200
                    health = (await http.get(f"{base}/health")).json()
                    assert health["status"] == "degraded"
                    assert health["limiter"] == {"backend": "redis", "degraded": True}
                own_redis.start()
                for base in bases:
                    deadline = time.monotonic() + 15
                    while (await http.get(f"{base}/health")).json()["limiter"]["degraded"]:
                        assert time.monotonic() < deadline, "the limiter did not recover"
                        await asyncio.sleep(0.2)
                    assert (await _chat(http, base, "alice")).status_code == 200
                health = (await http.get(f"{bases[0]}/health")).json()
                assert health["status"] == "ok"
