"""Several `engram serve` processes on one PostgreSQL database and one Redis hold the limits together.

Real services only: three (or two) `engram serve` subprocesses, the local PostgreSQL (a database per
test), the machine's Redis under a key prefix per test, and a private `redis-server` for the test
that stops Redis mid-run. Chat answers come from the OpenAI double; voice from the VoiceLive double.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import Replicas
from tests.redis_servers import OwnRedis

pytestmark = pytest.mark.postgres


def _bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer dev_{user}_user"}


async def _chat(http: httpx.AsyncClient, base: str, user: str) -> httpx.Response:
    return await http.post(f"{base}/api/v1/chat", json={"content": "hello"}, headers=_bearer(user))


async def test_a_users_chat_limit_holds_across_three_replicas(
    replicas: Replicas, redis_url: str, redis_prefix: str
) -> None:
    bases = replicas(3, REDIS_URL=redis_url, REDIS_KEY_PREFIX=redis_prefix, RATE_LIMIT_CHAT_PER_MINUTE="4")
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
    replicas: Replicas, redis_url: str, redis_prefix: str
) -> None:
    bases = replicas(
        3,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=redis_prefix,
        VOICE_MAX_SESSIONS_PER_USER="1",
        VOICE_MAX_SESSIONS_DEPLOYMENT="2",
    )
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
    replicas: Replicas, own_redis: OwnRedis
) -> None:
    bases = replicas(2, REDIS_URL=own_redis.url)
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
