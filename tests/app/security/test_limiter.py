"""The limiter: in-process without REDIS_URL, shared with it, and per replica while Redis is away
(a private `redis-server` stopped and restarted mid-test), with the fallback counted and recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.observability import signals
from app.security.counters import CounterStoreUnavailable
from app.security.limiter import RETRY_AFTER_S, Limiter, VoiceLease
from tests.conftest import make_settings
from tests.redis_servers import OwnRedis
from tests.telemetry import Sink


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(tmp_path: Path, *, clock: Clock | None = None, **overrides: object) -> Limiter:
    settings = make_settings(tmp_path, rate_limit_chat_per_minute=2, **overrides)
    return Limiter.from_settings(settings, clock or Clock())


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str, redis_prefix: str) -> Callable[..., tuple[Limiter, Limiter]]:
    """Two limiters on one Redis, as two replicas see it, with these settings."""

    def make(**overrides: object) -> tuple[Limiter, Limiter]:
        shared: dict[str, Any] = {"redis_url": redis_url, "redis_key_prefix": redis_prefix, **overrides}
        return _limiter(tmp_path, **shared), _limiter(tmp_path, **shared)

    return make


async def test_without_redis_url_limits_count_in_process(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path)
    assert [await limiter.admit(limiter.chat, "user:t:u") for _ in range(2)] == [None, None]
    refusal = await limiter.admit(limiter.chat, "user:t:u")
    assert refusal is not None and refusal.limit == "rate"
    health = await limiter.health()
    assert (health.backend, health.degraded) == ("in-process", False)


async def test_two_limiters_on_one_redis_share_a_callers_limit(
    replicas: Callable[..., tuple[Limiter, Limiter]],
) -> None:
    one, two = replicas()
    async with one.running(), two.running():
        assert await one.admit(one.chat, "user:t:u") is None
        assert await two.admit(two.chat, "user:t:u") is None
        assert await one.admit(one.chat, "user:t:u") is not None
        assert await two.admit(two.chat, "user:t:u") is not None
        assert (await one.health()).backend == "redis"


async def test_token_budget_spent_on_one_replica_refuses_on_another(
    replicas: Callable[..., tuple[Limiter, Limiter]],
) -> None:
    one, two = replicas(chat_tokens_per_minute=1000)
    async with one.running(), two.running():
        one.spend_tokens(1500)
        assert await two.admit(two.chat, "user:t:u") is None  # not flushed yet: at most a second late
        await one.flush()
        refusal = await two.admit(two.chat, "user:t:u2")
        assert refusal is not None and refusal.limit == "tokens"


async def test_voice_leases_shared_and_released(replicas: Callable[..., tuple[Limiter, Limiter]]) -> None:
    one, two = replicas(voice_max_sessions_per_user=1)
    async with one.running(), two.running():
        lease = await one.open_voice("user:t:u")
        assert isinstance(lease, VoiceLease) and lease.shared
        refused = await two.open_voice("user:t:u")
        assert not isinstance(refused, VoiceLease) and refused.limit == "user_sessions"
        await one.close_voice(lease)
        assert isinstance(await two.open_voice("user:t:u"), VoiceLease)


async def test_redis_away_falls_back_per_replica_and_recovers(
    tmp_path: Path, own_redis: OwnRedis, sink: Sink
) -> None:
    clock = Clock()
    limiter = _limiter(tmp_path, clock=clock, redis_url=own_redis.url, rate_limit_voice_per_minute=1)
    fallbacks = signals.LIMITER_FALLBACKS.name
    async with limiter.running():
        assert await limiter.admit(limiter.voice, "user:t:u") is None  # taken in Redis
        own_redis.stop()

        before = sink.value(fallbacks, operation="admit", reason="ConnectionError")
        # Redis is gone: the replica's own bucket answers (full, so this one passes) and counts it.
        assert await limiter.admit(limiter.voice, "user:t:u") is None
        assert limiter.degraded
        assert sink.value(fallbacks, operation="admit", reason="ConnectionError") == before + 1
        # Within the retry pause Redis is not even tried; the local bucket is now spent.
        refusal = await limiter.admit(limiter.voice, "user:t:u")
        assert refusal is not None and refusal.limit == "rate"
        assert sink.value(fallbacks, operation="admit", reason="unavailable") >= 1
        lease = await limiter.open_voice("user:t:u")
        assert isinstance(lease, VoiceLease) and not lease.shared
        health = await limiter.health()
        assert (health.backend, health.degraded) == ("redis", True)

        own_redis.start()  # an empty Redis (no persistence): the shared bucket starts full
        clock.now += RETRY_AFTER_S
        health = await limiter.health()  # the health check itself tries Redis again
        assert (health.backend, health.degraded) == ("redis", False)
        assert await limiter.admit(limiter.voice, "user:t:u") is None
        await limiter.close_voice(lease)  # released where it was taken: in process


async def test_redis_never_reachable_still_serves(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, redis_url="redis://127.0.0.1:1/0")
    async with limiter.running():
        assert await limiter.admit(limiter.chat, "user:t:u") is None
        assert (await limiter.health()).degraded


class SlowDeadRedis:
    """A shared store that answers nothing: each call waits for `release`, then fails."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def admit(self, *_: object) -> None:
        self.calls += 1
        await self.release.wait()
        raise CounterStoreUnavailable("TimeoutError")


async def test_while_redis_is_away_one_call_probes_it_and_the_others_stay_local(tmp_path: Path) -> None:
    clock, dead = Clock(), SlowDeadRedis()
    limiter = Limiter(make_settings(tmp_path), dead, clock)  # type: ignore[arg-type]
    dead.release.set()
    assert await limiter.admit(limiter.chat, "user:t:u") is None  # fails over, marks Redis away
    assert dead.calls == 1
    dead.release.clear()
    clock.now += RETRY_AFTER_S  # a retry is due
    probe = asyncio.create_task(limiter.admit(limiter.chat, "user:t:u"))
    await asyncio.sleep(0)  # the probe is now waiting on the dead store
    others = [await limiter.admit(limiter.chat, f"user:t:{n}") for n in range(5)]
    assert others == [None] * 5 and dead.calls == 2  # served locally, not queued behind the probe
    dead.release.set()
    assert await probe is None and limiter.degraded
