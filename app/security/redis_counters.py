"""The limits' counters on a shared Redis: one Lua script per operation, so each is atomic and one
round trip, and every replica sees the same counts.

Scripts read the clock with Redis `TIME`, so replicas with drifting clocks still agree. All keys of
one deployment share a hash tag (`{prefix}`), so the multi-key scripts also run on a clustered
Redis (Azure Managed Redis' cluster policies keep a hash tag on one shard). In Azure the client
authenticates with the app's managed identity through `redis-entraid`, which fetches the Entra
token and re-authenticates the connections before it expires.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from app.security.counters import (
    VOICE_LEASE_MS,
    WINDOW_MS,
    BucketSpec,
    CounterStoreUnavailable,
    Refusal,
    tokens_retry_after,
)
from app.settings import Settings

#: A limit check must not hold a request up: a Redis that does not answer in this is treated as down.
SOCKET_TIMEOUT_S = 0.25
#: The Entra token audience of Azure Managed Redis / Azure Cache for Redis.
REDIS_ENTRA_RESOURCE = "https://redis.azure.com/"

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: bucket hash, token window hash. ARGV: per minute, budget (0: none), window ms.
_ADMIT = (
    _NOW
    + """
local budget = tonumber(ARGV[2])
if budget > 0 then
  local window = tonumber(ARGV[3])
  local index = math.floor(now / window)
  local w = redis.call('HMGET', KEYS[2], 'i', 'cur', 'prev')
  local cur = tonumber(w[2]) or 0
  local prev = tonumber(w[3]) or 0
  if (tonumber(w[1]) or -1) ~= index then
    if tonumber(w[1]) == index - 1 then prev = cur else prev = 0 end
    cur = 0
  end
  local elapsed = now - index * window
  if prev * math.max(0, 1 - elapsed / window) + cur >= budget then
    return {0, 'tokens', tostring(prev), tostring(cur), elapsed}
  end
end
local cap = tonumber(ARGV[1])
local rate = cap / 60000
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], 61000)
if allowed == 1 then return {1} end
return {0, 'rate', tostring((1 - tokens) / rate)}
"""
)

# KEYS: token window hash. ARGV: tokens, window ms.
_SPEND = (
    _NOW
    + """
local window = tonumber(ARGV[2])
local index = math.floor(now / window)
local w = redis.call('HMGET', KEYS[1], 'i', 'cur')
if (tonumber(w[1]) or -1) ~= index then
  local prev = 0
  if tonumber(w[1]) == index - 1 then prev = tonumber(w[2]) or 0 end
  redis.call('HSET', KEYS[1], 'i', index, 'cur', 0, 'prev', prev)
end
redis.call('HINCRBY', KEYS[1], 'cur', tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], 2 * window + 1000)
return 1
"""
)

# KEYS: the user's lease set, the deployment's lease set. ARGV: member, lease ms, per user, deployment.
_OPEN = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local per_user = tonumber(ARGV[3])
local deployment = tonumber(ARGV[4])
if per_user > 0 and redis.call('ZCARD', KEYS[1]) >= per_user then return {0, 'user_sessions'} end
if deployment > 0 and redis.call('ZCARD', KEYS[2]) >= deployment then return {0, 'deployment_sessions'} end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * lease)
redis.call('PEXPIRE', KEYS[2], 2 * lease)
return {1}
"""
)

# KEYS: the deployment's lease set, then one user set per ARGV member after the lease ms.
_RENEW = (
    _NOW
    + """
local lease = tonumber(ARGV[1])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[i])
  redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
  redis.call('PEXPIRE', KEYS[i], 2 * lease)
end
redis.call('PEXPIRE', KEYS[1], 2 * lease)
return 1
"""
)

# KEYS: the deployment's lease set.
_COUNT = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
)


P = ParamSpec("P")
T = TypeVar("T")


def _unavailable_on_error(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Redis errors, refused connections and timeouts become `CounterStoreUnavailable`."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as exc:
            raise CounterStoreUnavailable(type(exc).__name__) from exc

    return wrapper


def redis_client(settings: Settings) -> Redis:
    """The asyncio client: short timeouts and one immediate retry (a pooled connection a restarted
    Redis closed), so a Redis that is away costs a request milliseconds, not seconds."""
    if settings.redis_url is None:
        raise ValueError("REDIS_URL is not set")
    credential_provider = None
    if settings.redis_auth == "entra":
        from redis_entraid.cred_provider import create_from_managed_identity
        from redis_entraid.identity_provider import ManagedIdentityIdType, ManagedIdentityType

        client_id = settings.azure_client_id
        credential_provider = create_from_managed_identity(
            identity_type=ManagedIdentityType.USER_ASSIGNED
            if client_id
            else ManagedIdentityType.SYSTEM_ASSIGNED,
            resource=REDIS_ENTRA_RESOURCE,
            id_type=ManagedIdentityIdType.CLIENT_ID if client_id else None,
            id_value=client_id or "",
        )
    client: Redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1),
        credential_provider=credential_provider,
        decode_responses=True,
    )
    return client


class RedisCounters:
    """`Counters` on Redis; each method is one script call. Errors propagate to the caller (the
    limiter falls back to its in-process counters)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self._tag = f"{{{prefix}}}"
        self._tokens_key = f"{self._tag}:tokens"
        self._sessions_key = f"{self._tag}:voice"
        self._admit = client.register_script(_ADMIT)
        self._spend = client.register_script(_SPEND)
        self._open = client.register_script(_OPEN)
        self._renew = client.register_script(_RENEW)
        self._count = client.register_script(_COUNT)

    def _user_sessions(self, user_key: str) -> str:
        return f"{self._tag}:voice:{user_key}"

    @_unavailable_on_error
    async def admit(self, bucket: BucketSpec, key: str, tokens_per_minute: int | None) -> Refusal | None:
        reply = await self._admit(
            keys=[f"{self._tag}:rate:{bucket.name}:{key}", self._tokens_key],
            args=[bucket.per_minute, tokens_per_minute or 0, WINDOW_MS],
        )
        if int(reply[0]) == 1:
            return None
        if reply[1] == "tokens":
            previous, current, elapsed = float(reply[2]), float(reply[3]), float(reply[4])
            assert tokens_per_minute is not None  # noqa: S101 - the script checks the budget only when set
            return Refusal("tokens", tokens_retry_after(previous, current, elapsed, tokens_per_minute))
        return Refusal("rate", max(1, -int(-float(reply[2]) // 1000)))

    @_unavailable_on_error
    async def spend_tokens(self, tokens: int) -> None:
        await self._spend(keys=[self._tokens_key], args=[tokens, WINDOW_MS])

    @_unavailable_on_error
    async def open_session(
        self, user_key: str, session: str, per_user: int | None, deployment: int | None
    ) -> Refusal | None:
        reply = await self._open(
            keys=[self._user_sessions(user_key), self._sessions_key],
            args=[session, VOICE_LEASE_MS, per_user or 0, deployment or 0],
        )
        return None if int(reply[0]) == 1 else Refusal(reply[1], 1)

    @_unavailable_on_error
    async def close_session(self, user_key: str, session: str) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self._user_sessions(user_key), session)
            pipe.zrem(self._sessions_key, session)
            await pipe.execute()

    @_unavailable_on_error
    async def renew_sessions(self, sessions: Iterable[tuple[str, str]]) -> None:
        pairs = list(sessions)
        if pairs:
            await self._renew(
                keys=[self._sessions_key, *(self._user_sessions(u) for u, _ in pairs)],
                args=[VOICE_LEASE_MS, *(s for _, s in pairs)],
            )

    @_unavailable_on_error
    async def open_sessions(self) -> int:
        return int(await self._count(keys=[self._sessions_key]))

    @_unavailable_on_error
    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        await self.client.aclose()
