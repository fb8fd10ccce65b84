"""The limits' counters, in process and on the real local Redis (a key prefix per test).

Each behaviour runs on both stores; the shared-store tests use two clients, as two replicas would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from app.security import redis_counters
from app.security.counters import (
    WINDOW_MS,
    BucketSpec,
    Counters,
    InProcessCounters,
    tokens_estimate,
    tokens_retry_after,
)
from app.security.redis_counters import RedisCounters, redis_client
from tests.conftest import make_settings

CHAT = BucketSpec("chat", 3)

Factory = Callable[[], Awaitable[Counters]]


@pytest.fixture(params=["in-process", "redis"])
async def new_counters(
    request: pytest.FixtureRequest, tmp_path: object
) -> AsyncIterator[Callable[[], Awaitable[Counters]]]:
    """Makes a view on one store: in process, the same object; on Redis, a new client each time
    (a replica of its own) on this test's prefix."""
    if request.param == "in-process":
        store = InProcessCounters()

        async def same() -> Counters:
            return store

        yield same
        return
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    made: list[RedisCounters] = []

    async def replica() -> Counters:
        counters = RedisCounters(redis_client(make_settings(tmp_path, redis_url=url)), prefix)  # type: ignore[arg-type]
        made.append(counters)
        return counters

    yield replica
    for counters in made:
        await counters.aclose()


async def test_bucket_allows_per_minute_then_refuses_with_retry_after(new_counters: Factory) -> None:
    a, b = await new_counters(), await new_counters()
    results = [await (a if i % 2 else b).admit(CHAT, "user:t:u1", None) for i in range(4)]
    assert results[:3] == [None, None, None]
    refusal = results[3]
    assert refusal is not None and refusal.limit == "rate"
    assert 1 <= refusal.retry_after_s <= 20  # 3 a minute: one token back in at most 20 s


async def test_buckets_are_per_caller_and_per_action(new_counters: Factory) -> None:
    store = await new_counters()
    for _ in range(3):
        assert await store.admit(CHAT, "user:t:u1", None) is None
    assert await store.admit(CHAT, "user:t:u1", None) is not None
    assert await store.admit(CHAT, "user:t:u2", None) is None
    assert await store.admit(BucketSpec("voice", 3), "user:t:u1", None) is None


async def test_spent_token_budget_refuses_before_taking_from_the_bucket(new_counters: Factory) -> None:
    a, b = await new_counters(), await new_counters()
    assert await a.admit(CHAT, "user:t:u1", 1000) is None
    await b.spend_tokens(1200)
    refusal = await a.admit(CHAT, "user:t:u1", 1000)
    assert refusal is not None and refusal.limit == "tokens"
    assert 1 <= refusal.retry_after_s <= 120
    # The budget refusal took nothing from the caller: two requests remain once the budget allows.
    assert await a.admit(CHAT, "user:t:u1", 10_000) is None
    assert await a.admit(CHAT, "user:t:u1", 10_000) is None
    assert (await a.admit(CHAT, "user:t:u1", 10_000)) is not None


async def test_tokens_under_budget_pass(new_counters: Factory) -> None:
    store = await new_counters()
    await store.spend_tokens(999)
    assert await store.admit(CHAT, "user:t:u1", 1000) is None


async def test_voice_caps_per_user_and_per_deployment(new_counters: Factory) -> None:
    a, b = await new_counters(), await new_counters()
    assert await a.open_session("user:t:u1", "s1", 2, 3) is None
    assert await b.open_session("user:t:u1", "s2", 2, 3) is None
    user = await a.open_session("user:t:u1", "s3", 2, 3)
    assert user is not None and user.limit == "user_sessions"
    assert await b.open_session("user:t:u2", "s4", 2, 3) is None
    deployment = await a.open_session("user:t:u3", "s5", 2, 3)
    assert deployment is not None and deployment.limit == "deployment_sessions"
    assert await b.open_sessions() == 3
    await b.close_session("user:t:u1", "s1")
    assert await a.open_sessions() == 2
    assert await a.open_session("user:t:u1", "s6", 2, 3) is None


async def test_unset_caps_do_not_refuse(new_counters: Factory) -> None:
    store = await new_counters()
    for i in range(20):
        assert await store.open_session("user:t:u1", f"s{i}", None, None) is None


async def test_a_dead_replicas_leases_expire_and_renewed_ones_stay(
    redis_url: str, redis_prefix: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_counters, "VOICE_LEASE_MS", 400)
    settings = make_settings(tmp_path, redis_url=redis_url)  # type: ignore[arg-type]
    alive, dead = (
        RedisCounters(redis_client(settings), redis_prefix),
        RedisCounters(redis_client(settings), redis_prefix),
    )
    try:
        assert await alive.open_session("user:t:u1", "kept", 1, None) is None
        assert await dead.open_session("user:t:u2", "lost", 1, None) is None
        for _ in range(4):  # the live replica renews; the dead one does not
            await asyncio.sleep(0.2)
            await alive.renew_sessions([("user:t:u1", "kept")])
        assert await alive.open_sessions() == 1
        assert await alive.open_session("user:t:u2", "again", 1, None) is None  # the lost slot is free
        refused = await alive.open_session("user:t:u1", "second", 1, None)
        assert refused is not None and refused.limit == "user_sessions"
    finally:
        await alive.aclose()
        await dead.aclose()


def test_sliding_estimate_weights_the_previous_window() -> None:
    assert tokens_estimate(1000, 0, 0) == 1000
    assert tokens_estimate(1000, 100, WINDOW_MS / 2) == 600
    assert tokens_estimate(1000, 100, WINDOW_MS) == 100


def test_retry_after_is_when_the_estimate_falls_under_budget() -> None:
    # 800 of 1000 used before, 500 now, half way through: 900 >= 1000? no -> with 1000 previous:
    # 1000 * (1 - f) + 500 < 1000 when f > 0.5, i.e. right after the half minute; 15 s in: 15 s.
    assert tokens_retry_after(1000, 500, 15_000, 1000) == 15
    # The current window alone is over budget: its end, then the part of the next one it still weighs.
    assert tokens_retry_after(0, 2000, 50_000, 1000) == 10 + 30
