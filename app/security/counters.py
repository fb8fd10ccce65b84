"""The counters behind the limits, and the in-process store every replica also keeps as a fallback.

Three kinds of count, each one atomic operation: a per-caller token bucket (chat and voice-start
rates), a deployment-wide tokens-per-minute window (the model quota) and leases on concurrent voice
sessions (per user and per deployment). `InProcessCounters` counts in this process only (one replica,
the embedded default, and the fallback while Redis is away); `app.security.redis_counters` holds the
same operations as Lua scripts on a shared Redis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from app.security.limits import RateLimiter

WINDOW_MS = 60_000  # the token budget's window: Azure quotas are tokens per minute
#: A voice lease is renewed every third of this; a replica that dies frees its sessions after it.
VOICE_LEASE_MS = 60_000

Limit = Literal["rate", "tokens", "user_sessions", "deployment_sessions"]


class CounterStoreUnavailable(Exception):
    """The shared store did not answer (the limiter falls back to this process's counters)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused and how long to wait (whole seconds, for Retry-After)."""

    limit: Limit
    retry_after_s: int


@dataclass(frozen=True)
class BucketSpec:
    """A token bucket: `per_minute` a minute with bursts of `per_minute`."""

    name: str
    per_minute: int


class Counters(Protocol):
    async def admit(self, bucket: BucketSpec, key: str, tokens_per_minute: int | None) -> Refusal | None:
        """Take one from `key`'s bucket unless the deployment's token window is spent (checked first,
        so a refused budget costs the caller nothing)."""

    async def spend_tokens(self, tokens: int) -> None:
        """Add model tokens used to the current window."""

    async def open_session(
        self, user_key: str, session: str, per_user: int | None, deployment: int | None
    ) -> Refusal | None:
        """Lease a voice session slot for `session` unless a cap is reached."""

    async def close_session(self, user_key: str, session: str) -> None: ...

    async def renew_sessions(self, sessions: Iterable[tuple[str, str]]) -> None:
        """Extend the leases of this replica's open sessions ((user key, session) pairs)."""

    async def open_sessions(self) -> int:
        """Voice sessions open across the deployment (as this store sees it)."""


def tokens_estimate(previous: float, current: float, elapsed_ms: float) -> float:
    """Sliding-window estimate: the previous minute weighted by how much of it still overlaps."""
    return previous * max(0.0, 1.0 - elapsed_ms / WINDOW_MS) + current


def tokens_retry_after(previous: float, current: float, elapsed_ms: float, budget: int) -> int:
    """Seconds until the sliding estimate falls under `budget` with no new spending."""
    if current < budget and previous > 0:
        wait_ms = WINDOW_MS * (1.0 - (budget - current) / previous) - elapsed_ms
    else:  # the current window alone is over: wait for it to slide out
        wait_ms = (WINDOW_MS - elapsed_ms) + WINDOW_MS * (1.0 - budget / max(current, 1.0))
    return max(1, math.ceil(wait_ms / 1000))


class _TokenWindow:
    """Two fixed one-minute windows (current and previous) for the sliding estimate."""

    def __init__(self) -> None:
        self.index = -1
        self.current = 0.0
        self.previous = 0.0

    def roll(self, now_ms: float) -> float:
        """Move to the window of `now_ms`; the milliseconds elapsed in it."""
        index = int(now_ms // WINDOW_MS)
        if index != self.index:
            self.previous = self.current if index == self.index + 1 else 0.0
            self.current = 0.0
            self.index = index
        return now_ms - index * WINDOW_MS


class InProcessCounters:
    """This process's counts: exact for one replica, per replica for several."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, RateLimiter] = {}
        self._window = _TokenWindow()
        self._sessions: dict[str, set[str]] = {}
        self._all: set[str] = set()

    def _bucket(self, spec: BucketSpec) -> RateLimiter:
        limiter = self._buckets.get(spec.name)
        if limiter is None:
            limiter = self._buckets[spec.name] = RateLimiter(spec.per_minute, self._clock)
        return limiter

    async def admit(self, bucket: BucketSpec, key: str, tokens_per_minute: int | None) -> Refusal | None:
        if tokens_per_minute is not None:
            elapsed = self._window.roll(self._clock() * 1000)
            w = self._window
            if tokens_estimate(w.previous, w.current, elapsed) >= tokens_per_minute:
                return Refusal(
                    "tokens", tokens_retry_after(w.previous, w.current, elapsed, tokens_per_minute)
                )
        wait = self._bucket(bucket).take(key)
        return None if wait is None else Refusal("rate", wait)

    async def spend_tokens(self, tokens: int) -> None:
        self.add_tokens(tokens)

    def add_tokens(self, tokens: int) -> None:
        self._window.roll(self._clock() * 1000)
        self._window.current += tokens

    async def open_session(
        self, user_key: str, session: str, per_user: int | None, deployment: int | None
    ) -> Refusal | None:
        mine = self._sessions.get(user_key, set())
        if per_user is not None and len(mine) >= per_user:
            return Refusal("user_sessions", 1)
        if deployment is not None and len(self._all) >= deployment:
            return Refusal("deployment_sessions", 1)
        self._sessions.setdefault(user_key, set()).add(session)
        self._all.add(session)
        return None

    async def close_session(self, user_key: str, session: str) -> None:
        mine = self._sessions.get(user_key)
        if mine is not None:
            mine.discard(session)
            if not mine:
                del self._sessions[user_key]
        self._all.discard(session)

    async def renew_sessions(self, sessions: Iterable[tuple[str, str]]) -> None:
        return None  # nothing expires here: the process that holds them is the one counting

    async def open_sessions(self) -> int:
        return len(self._all)
