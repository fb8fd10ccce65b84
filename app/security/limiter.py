"""The limits the routes apply: chat and voice-start rates, the token budget, voice session caps.

With REDIS_URL every replica counts in the same Redis; without it, in this process. When Redis does
not answer, the limiter serves from this replica's own counters (never an outage of chat or voice),
counts each fallback (`limiter_fallbacks`), reports itself degraded on `/health` and tries Redis
again after `RETRY_AFTER_S`. Model tokens used are summed here and sent once a second
(`FLUSH_INTERVAL_S`), so the only Redis call on a request's path is its admission.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from app.observability import metrics
from app.security.counters import (
    VOICE_LEASE_MS,
    BucketSpec,
    CounterStoreUnavailable,
    InProcessCounters,
    Refusal,
)
from app.settings import Settings

if TYPE_CHECKING:  # redis is imported only when REDIS_URL is set (its import loads the OTel SDK)
    from app.security.redis_counters import RedisCounters

log = logging.getLogger("engram.security.limiter")

#: After a failed Redis call, calls go to the in-process counters for this long before Redis is tried.
RETRY_AFTER_S = 1.0
#: How often the tokens used are added to the shared window.
FLUSH_INTERVAL_S = 1.0
#: Leases are renewed three times per lease, so one missed renewal never frees a live session.
RENEW_INTERVAL_S = VOICE_LEASE_MS / 3000

T = TypeVar("T")


@dataclass(frozen=True)
class VoiceLease:
    """One open voice session's slot, released where it was taken."""

    user_key: str
    session: str
    shared: bool  # taken in Redis (else in this process)


@dataclass(frozen=True)
class LimiterHealth:
    backend: Literal["in-process", "redis"]
    degraded: bool  # Redis configured but not answering: limits are per replica meanwhile


class Limiter:
    """The service's limits; one per process, on `app.state.limits`."""

    def __init__(
        self, settings: Settings, shared: RedisCounters | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._shared = shared
        self._local = InProcessCounters(clock)
        self._clock = clock
        self.chat = BucketSpec("chat", settings.rate_limit_chat_per_minute)
        self.voice = BucketSpec("voice", settings.rate_limit_voice_per_minute)
        self._down_until: float | None = None  # set while Redis is considered away
        self._pending_tokens = 0
        self._leases: set[VoiceLease] = set()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float] = time.monotonic) -> Limiter:
        if settings.redis_url is None:
            return cls(settings, None, clock)
        from app.security.redis_counters import RedisCounters, redis_client

        return cls(settings, RedisCounters(redis_client(settings), settings.redis_key_prefix), clock)

    @property
    def degraded(self) -> bool:
        return self._down_until is not None

    async def _call(
        self,
        operation: str,
        shared: Callable[[RedisCounters], Awaitable[T]],
        local: Callable[[], Awaitable[T]],
    ) -> tuple[T, bool]:
        """(result, whether Redis answered): Redis when configured and not known away, else in-process."""
        if self._shared is not None:
            now = self._clock()
            if self._down_until is None or now >= self._down_until:
                if self._down_until is not None:  # this call probes; the others stay local meanwhile
                    self._down_until = now + RETRY_AFTER_S
                try:
                    result = await shared(self._shared)
                except CounterStoreUnavailable as exc:
                    self._mark_down(operation, exc)
                else:
                    self._mark_up()
                    return result, True
            else:
                metrics.limiter_fallback(operation, "unavailable")
        return await local(), False

    def _mark_down(self, operation: str, exc: CounterStoreUnavailable) -> None:
        if self._down_until is None:
            log.warning("redis limiter unavailable (%s); counting per replica", exc.reason)
        self._down_until = self._clock() + RETRY_AFTER_S
        metrics.limiter_fallback(operation, exc.reason)

    def _mark_up(self) -> None:
        if self._down_until is not None:
            log.info("redis limiter recovered; limits are shared again")
            self._down_until = None

    async def admit(self, bucket: BucketSpec, key: str) -> Refusal | None:
        """One request of `bucket` for caller `key`; chat also checks the deployment's token budget."""
        budget = self._settings.chat_tokens_per_minute if bucket is self.chat else None
        refusal, _ = await self._call(
            "admit",
            lambda r: r.admit(bucket, key, budget),
            lambda: self._local.admit(bucket, key, budget),
        )
        if refusal is not None:
            metrics.limiter_refusal(refusal.limit)
        return refusal

    def spend_tokens(self, tokens: int) -> None:
        """Model tokens one reply used; added to the shared window by the flush task (in-process: now)."""
        if tokens <= 0:
            return
        if self._shared is None:
            self._local.add_tokens(tokens)
        else:
            self._pending_tokens += tokens

    async def flush(self) -> None:
        """Send the tokens summed since the last flush (to this replica's window if Redis is away)."""
        tokens, self._pending_tokens = self._pending_tokens, 0
        if tokens:
            await self._call(
                "spend", lambda r: r.spend_tokens(tokens), lambda: self._local.spend_tokens(tokens)
            )

    async def open_voice(self, user_key: str) -> VoiceLease | Refusal:
        """A slot for one more voice session of `user_key`, or the cap that refuses it."""
        s = self._settings
        session = uuid.uuid4().hex
        refusal, shared = await self._call(
            "open_session",
            lambda r: r.open_session(
                user_key, session, s.voice_max_sessions_per_user, s.voice_max_sessions_deployment
            ),
            lambda: self._local.open_session(
                user_key, session, s.voice_max_sessions_per_user, s.voice_max_sessions_deployment
            ),
        )
        if refusal is not None:
            metrics.limiter_refusal(refusal.limit)
            return refusal
        lease = VoiceLease(user_key, session, shared)
        self._leases.add(lease)
        return lease

    async def close_voice(self, lease: VoiceLease) -> None:
        self._leases.discard(lease)
        if lease.shared and self._shared is not None:
            try:
                await self._shared.close_session(lease.user_key, lease.session)
            except CounterStoreUnavailable as exc:  # the lease expires by itself
                self._mark_down("close_session", exc)
        else:
            await self._local.close_session(lease.user_key, lease.session)

    async def renew(self) -> None:
        shared = [(lease.user_key, lease.session) for lease in self._leases if lease.shared]
        if shared and self._shared is not None:
            await self._call("renew", lambda r: r.renew_sessions(shared), self._no_op)

    async def _no_op(self) -> None:
        return None

    async def open_sessions(self) -> int:
        """Voice sessions open across the deployment (this replica's while Redis is away)."""
        count, _ = await self._call("count", lambda r: r.open_sessions(), self._local.open_sessions)
        return count

    async def health(self) -> LimiterHealth:
        """Redis answers? A degraded limiter whose retry time has come tries Redis again here, so
        `/health` reports recovery even when no request has come through meanwhile."""
        if self._shared is None:
            return LimiterHealth("in-process", False)
        if self._down_until is not None and self._clock() >= self._down_until:
            await self._call("ping", lambda r: r.ping(), self._no_op)
        return LimiterHealth("redis", self.degraded)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The flush and lease-renewal loops for the life of the service; closes the client after."""
        if self._shared is not None:
            self._tasks = [
                asyncio.create_task(self._every(FLUSH_INTERVAL_S, self.flush)),
                asyncio.create_task(self._every(RENEW_INTERVAL_S, self.renew)),
            ]
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._shared is not None:
                with contextlib.suppress(CounterStoreUnavailable):
                    await self.flush()
                await self._shared.aclose()

    @staticmethod
    async def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            await job()
