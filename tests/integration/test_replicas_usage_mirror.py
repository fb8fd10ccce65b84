"""Two `engram serve` processes on one PostgreSQL database, with the OpenAI and Zep doubles:

- usage sums correctly whichever replica served each chat (SQL upsert-increments, per-replica writers);
- a replica killed (SIGKILL) while Zep is slow, with mirror writes queued and claimed, loses none: once
  its leases expire the other replica delivers every batch to Zep, each exactly once and in order per
  session.

The processes are real (`python -m` the CLI, as `engram serve` runs); only Zep and the gateway are
doubles, served from this test's event loop.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.zep_server import API_KEY as ZEP_KEY
from tests.doubles.zep_server import ZepDouble
from tests.processes import Served, engram_env, spawn_engram

pytestmark = pytest.mark.postgres

WAIT_S = 30.0
#: A dead replica's sessions are taken over after this long (the setting, kept short for the test).
LEASE_S = 3.0


@asynccontextmanager
async def replicas(
    tmp_path: Path, database_url: str, gateway: OpenAIDouble, zep: ZepDouble
) -> AsyncIterator[list[tuple[subprocess.Popen[str], str]]]:
    """Two replicas on one database; the first migrates it before the second starts."""
    env = engram_env(
        gateway,
        DATABASE_URL=database_url,
        AZURE_AI_DEPLOYMENT="gpt-test",
        ZEP_API_KEY=ZEP_KEY,
        ZEP_API_URL=zep.base_url,
        ZEP_TIMEOUT_SECONDS="10",
        ZEP_MIRROR_LEASE_SECONDS=str(LEASE_S),
        ZEP_MIRROR_POLL_SECONDS="0.2",
        ZEP_MIRROR_RETRY_SECONDS="0.5",
        USAGE_FLUSH_SECONDS="0.2",
        RATE_LIMIT_CHAT_PER_MINUTE="100000",
    )
    started: list[Served] = []
    try:
        for name in ("a", "b"):
            started.append(spawn_engram(tmp_path / name, env))
            await started[-1].until_healthy()
        yield [(served.proc, served.base) for served in started]
    finally:
        for served in reversed(started):
            served.stop()


def auth(user: str, role: str = "user") -> dict[str, str]:
    return {"Authorization": f"Bearer dev_{user}_{role}"}


async def chat(base: str, user: str, session_id: str | None = None, content: str = "hi") -> dict[str, Any]:
    body: dict[str, Any] = {"content": content}
    if session_id is not None:
        body["session_id"] = session_id
    async with httpx.AsyncClient(timeout=WAIT_S) as client:
        response = await client.post(f"{base}/api/v1/chat", json=body, headers=auth(user))
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


async def eventually(check: Any, what: str) -> Any:
    """Poll an async check until it returns a truthy value (bounded)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.2)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


async def test_usage_sums_across_replicas(
    tmp_path: Path, postgres_url: str, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    async with replicas(tmp_path, postgres_url, gateway, zep) as started:
        bases = [base for _, base in started]
        calls = [("ann", 0), ("ann", 1), ("bob", 0), ("ann", 1), ("bob", 1), ("ann", 0), ("ann", 1)]
        await asyncio.gather(*(chat(bases[replica], user) for user, replica in calls))

        async def ann_totals() -> dict[str, Any] | None:
            async with httpx.AsyncClient(timeout=WAIT_S) as client:
                body = (await client.get(f"{bases[0]}/api/v1/usage", headers=auth("ann"))).json()
            return body["totals"] if body["totals"]["requests"] == 5 else None

        totals = await eventually(ann_totals, "ann's usage from both replicas never summed up")
        async with httpx.AsyncClient(timeout=WAIT_S) as client:
            admin = (await client.get(f"{bases[1]}/api/v1/admin/usage", headers=auth("root", "admin"))).json()
    per_chat = 11 + 7  # the gateway double's usage per reply
    assert totals["tokens"]["text_input"] == 5 * 11 and totals["tokens"]["total"] == 5 * per_chat
    assert sorted(item["requests"] for item in admin["items"]) == [2, 5]
    assert sum(item["tokens"]["total"] for item in admin["items"]) == len(calls) * per_chat
    assert len(gateway.requests) == len(calls)


async def _leases_held_by(database_url: str, pid: int) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        holders = await conn.fetch("SELECT holder FROM mirror_leases WHERE lease_until > now()")
    finally:
        await conn.close()
    return sum(1 for row in holders if f"-{pid}-" in row["holder"])


async def test_a_killed_replicas_queued_mirror_writes_are_delivered_by_the_other(
    tmp_path: Path, postgres_url: str, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    zep.mode, zep.delay_s = "slow", 1.5  # every Zep call takes 1.5 s: writes queue up
    async with replicas(tmp_path, postgres_url, gateway, zep) as started:
        (victim, victim_base), (survivor, survivor_base) = started
        first = await chat(victim_base, "ann", content="s1 q0")
        s1 = first["session_id"]
        second = await chat(victim_base, "bob", content="s2 q0")
        s2 = second["session_id"]
        for n in range(1, 3):
            await chat(victim_base, "ann", s1, content=f"s1 q{n}")
            await chat(victim_base, "bob", s2, content=f"s2 q{n}")

        async def victim_holds_leases() -> bool:
            return await _leases_held_by(postgres_url, victim.pid) > 0

        await eventually(victim_holds_leases, "the victim never claimed its mirror writes")
        async with httpx.AsyncClient(timeout=WAIT_S) as client:
            before = (await client.get(f"{survivor_base}/health")).json()["memory"]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        zep.mode = "ok"

        async def drained() -> bool:
            async with httpx.AsyncClient(timeout=WAIT_S) as client:
                memory = (await client.get(f"{survivor_base}/health")).json()["memory"]
            return memory["mirror_backlog"] == 0

        await eventually(drained, "the survivor never drained the dead replica's outbox")
        assert survivor.poll() is None
    assert before["mirror_backlog"] > 0, "the writes should still have been queued at the kill"
    for user, session, prefix in (("ann", s1, "s1"), ("bob", s2, "s2")):
        messages = zep.thread_for_user(user)
        said = [m["content"] for m in messages if m["role"] == "user"]
        assert said == [f"{prefix} q{n}" for n in range(3)], f"{session}: order or count wrong"
        assert len(messages) == 6, f"{session}: each turn exactly once"
        assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    assert len(zep.state.users) == 2 and len(zep.state.threads) == 2
