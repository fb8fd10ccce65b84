"""The Zep mirror through the real `zep-cloud` SDK against the v4 double: mirroring, context,
deletion, and chat staying 200 when Zep is down, slow or failing (with `/health` degraded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from tests.app.chat.helpers import auth, running
from tests.conftest import settings_with_doubles
from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.zep_server import ZepDouble
from tests.integration.helpers import until


def settings_for(tmp_path: Path, gateway: OpenAIDouble, zep_url: str, **overrides: object) -> Settings:
    fast: dict[str, object] = {
        "zep_timeout_seconds": 0.5,
        "zep_read_timeout_seconds": 0.3,
        "zep_mirror_poll_seconds": 0.05,
    }
    return settings_with_doubles(
        tmp_path, gateway=gateway.base_url, deployment=None, zep=zep_url, **{**fast, **overrides}
    )


async def test_turns_are_mirrored_to_one_thread_per_session(
    tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    async with running(settings_for(tmp_path, gateway, zep.base_url)) as (app, client):
        first = (await client.post("/api/v1/chat", json={"content": "one"}, headers=auth("ann"))).json()
        sid = first["session_id"]
        await client.post("/api/v1/chat", json={"content": "two", "session_id": sid}, headers=auth("ann"))
        await app.state.memory.queue.flush()
        health = (await client.get("/health")).json()
    assert len(zep.state.users) == 1 and len(zep.state.threads) == 1
    messages = zep.thread_for_user("ann")
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "one"),
        ("assistant", "reply 1 to: one"),
        ("user", "two"),
        ("assistant", "reply 2 to: two"),
    ]
    assert messages[1]["name"] == "elena" and messages[0]["metadata"]["channel"] == "chat"
    assert health["memory"] == {
        "backend": "zep+sql",
        "zep_configured": True,
        "zep_reachable": True,
        "degraded": False,
        "mirror_backlog": 0,  # all delivered
        "mirror_oldest_age_s": None,
    }


async def test_zep_context_reaches_the_prompt(tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble) -> None:
    async with running(settings_for(tmp_path, gateway, zep.base_url)) as (app, client):
        await client.post("/api/v1/chat", json={"content": "hi", "session_id": "z1"}, headers=auth("ann"))
        await app.state.memory.queue.flush()
        (thread_uuid,) = zep.state.threads
        zep.state.context[thread_uuid] = "<FACTS>\n- Ann prefers Kanban boards\n</FACTS>"
        await client.post("/api/v1/chat", json={"content": "plan?", "session_id": "z1"}, headers=auth("ann"))
    system = gateway.requests[1].messages[0]["content"]
    assert "Ann prefers Kanban boards" in system
    assert "<FACTS>" not in system


@pytest.mark.parametrize("trouble", ["down", "slow", "error"])
async def test_chat_stays_200_when_zep_is_in_trouble(
    tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble, trouble: str
) -> None:
    url = "http://127.0.0.1:9/api/v4" if trouble == "down" else zep.base_url  # port 9: nothing listens
    zep.mode = "ok" if trouble == "down" else trouble  # type: ignore[assignment]
    zep.delay_s = 3.0
    async with running(settings_for(tmp_path, gateway, url)) as (app, client):
        await client.post("/api/v1/memory/facts", json={"content": "Ann runs billing"}, headers=auth("ann"))
        first = await client.post(
            "/api/v1/chat", json={"content": "billing?", "session_id": "t1"}, headers=auth("ann")
        )
        await app.state.memory.queue.flush()
        second = await client.post(
            "/api/v1/chat", json={"content": "more", "session_id": "t1"}, headers=auth("ann")
        )
        await app.state.memory.queue.flush()
        health = (await client.get("/health")).json()
        episode = (await client.get("/api/v1/memory/episodes/t1", headers=auth("ann"))).json()
        failures = app.state.memory.mirror.failures
    assert first.status_code == second.status_code == 200
    assert len(episode["transcript"]) == 4  # SQL has everything
    assert "Ann runs billing" in gateway.requests[0].messages[0]["content"]  # SQL facts stand in
    assert health["status"] == "degraded"
    assert health["memory"]["degraded"] is True and health["memory"]["zep_reachable"] is False
    assert failures >= 1


async def test_a_failed_user_create_is_one_failure_not_a_lookup_too(
    tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    """Only a 409 means "the user exists, look it up"; after a failure the write gives up at once."""
    zep.mode = "error"
    async with running(settings_for(tmp_path, gateway, zep.base_url)) as (app, client):
        await client.post("/api/v1/chat", json={"content": "a", "session_id": "f1"}, headers=auth("ann"))
        await app.state.memory.queue.flush()
        failures = app.state.memory.mirror.failures
    assert zep.state.calls == ["POST /api/v4/users"]
    assert failures == 1


async def test_health_recovers_when_zep_answers_again(
    tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    zep.mode = "error"
    async with running(settings_for(tmp_path, gateway, zep.base_url)) as (app, client):
        await client.post("/api/v1/chat", json={"content": "a", "session_id": "r1"}, headers=auth("ann"))
        await app.state.memory.queue.flush()
        assert (await client.get("/health")).json()["memory"]["degraded"] is True
        zep.mode = "ok"
        await client.post("/api/v1/chat", json={"content": "b", "session_id": "r1"}, headers=auth("ann"))
        await app.state.memory.queue.flush(retry=True)  # the failed write first, in order
        assert (await client.get("/health")).json()["memory"]["degraded"] is False
    # The outbox kept the write that failed and delivered it first: nothing lost, order kept.
    assert [m["content"] for m in zep.thread_for_user("ann")] == ["a", "reply 1 to: a", "b", "reply 2 to: b"]


async def test_delete_user_starts_zep_deletion_with_or_without_the_mapping(
    tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    async with running(settings_for(tmp_path, gateway, zep.base_url)) as (app, client):
        for user in ("ann", "ben"):
            await client.post("/api/v1/chat", json={"content": "hi"}, headers=auth(user))
        await app.state.memory.queue.flush()
        mirror, store = app.state.memory.mirror, app.state.memory.store
        assert await mirror.delete_user("ann") is True  # via the stored mapping
        counts = await store.erase_owner("ben")  # mapping erased first ...
        assert counts["episodes"] == 1
        assert await mirror.delete_user("ben") is True  # ... so Zep is asked by external id
        assert await mirror.delete_user("nobody") is False
    assert len(zep.state.deleted_users) == 2
    assert zep.state.users == {}
    assert any(call == "POST /api/v4/users/lookup" for call in zep.state.calls)


async def test_shutdown_drains_pending_writes_within_a_bound(
    tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    zep.mode, zep.delay_s = "slow", 30.0
    settings = settings_for(tmp_path, gateway, zep.base_url, zep_timeout_seconds=20.0)
    async with running(settings) as (app, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"}, headers=auth("ann"))
        assert response.status_code == 200
        queue = app.state.memory.queue
        await until(lambda: queue.pending == 1, "the worker never picked the outbox row up")
        cut = await queue.drain(0.05)  # what the lifespan does, with a short bound
        backlog = (await queue_backlog(app)).batches
    assert cut == 1 and queue.pending == 0
    assert backlog == 1, "the cut write stays in the outbox for another replica"
    assert queue.submit([]) is True


async def test_a_user_who_returns_after_erasure_is_mirrored_afresh(
    tmp_path: Path, gateway: OpenAIDouble, zep: ZepDouble
) -> None:
    async with running(settings_for(tmp_path, gateway, zep.base_url)) as (app, client):
        await client.post("/api/v1/chat", json={"content": "before"}, headers=auth("ann"))
        await app.state.memory.queue.flush()
        erased = await client.delete("/api/v1/memory/users/me", headers=auth("ann"))
        assert erased.status_code == 200, erased.text
        await client.post("/api/v1/chat", json={"content": "after"}, headers=auth("ann"))
        await app.state.memory.queue.flush()
        health = (await client.get("/health")).json()
        returned = [m["content"] for m in zep.thread_for_user("ann")]
        again = await client.delete("/api/v1/memory/users/me", headers=auth("ann"))  # a second erasure
        assert again.status_code == 200, again.text
    assert returned == ["after", "reply 2 to: after"]
    assert health["memory"]["degraded"] is False
    assert len(zep.state.deleted_users) == 2, "the second erasure must delete the new Zep user too"
    assert "ann" not in {u["user_id"] for u in zep.state.users.values()}


async def queue_backlog(app: Any) -> Any:
    """The outbox backlog as the worker measures it."""
    await app.state.memory.queue._measure()
    return app.state.memory.queue.backlog
