"""FastAPI security dependencies as typed aliases; routers name these and never write `Depends(...)` inline.

The security layer reads its own services (settings, sessions, authenticator, tickets, limits) from
`SecurityServices`, the typed part of `app.state` it owns; `app.api.deps.Services` extends it with
the services of the layers above, and `create_app` installs that as `app.state`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Self, TypeVar

from fastapi import Depends, Header, HTTPException, Request, WebSocket, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State
from starlette.requests import HTTPConnection

from app.observability import metrics
from app.security.authenticator import Authenticator, AuthError, IdentityProviderUnavailable, bearer_token
from app.security.counters import BucketSpec, Refusal
from app.security.identity import Identity, Permission
from app.security.limiter import Limiter
from app.security.tickets import TicketStore
from app.settings import Settings


@dataclass(kw_only=True, eq=False)
class SecurityServices(State):
    """The services the security dependencies use, typed; `app.state` is one (of a subclass).

    A `State`, so `app.state.<name>` reads and writes them as before (tests swap the authenticator),
    and a dataclass, so each member is declared once, typed, and required when the app is built.
    """

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    authenticator: Authenticator
    tickets: TicketStore
    limits: Limiter

    def __new__(cls, *args: object, **kwargs: object) -> Self:
        # `State` keeps members in `_state`; the dataclass `__init__` sets them through
        # `State.__setattr__`, so `_state` must exist before it runs.
        self = super().__new__(cls)
        State.__init__(self)
        return self


S = TypeVar("S", bound=SecurityServices)


def state_of(connection: HTTPConnection, kind: type[S]) -> S:
    """`app.state` as `kind`; the app must have been built by `create_app`."""
    state = connection.app.state
    if not isinstance(state, kind):
        raise TypeError("app.state holds no services: build the app with app.main.create_app")
    return state


def security_services(connection: HTTPConnection) -> SecurityServices:
    return state_of(connection, SecurityServices)


async def get_settings_dep(request: Request) -> Settings:
    return security_services(request).settings


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with security_services(request).sessions() as session:
        yield session


async def get_identity(request: Request, authorization: Annotated[str | None, Header()] = None) -> Identity:
    authenticator = security_services(request).authenticator
    try:
        identity = await authenticator.authenticate(bearer_token(authorization))
    except IdentityProviderUnavailable as exc:
        metrics.auth_failure(exc.reason)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, exc.message, headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
    except AuthError as exc:
        metrics.auth_failure(exc.reason)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, exc.message, headers={"WWW-Authenticate": exc.www_authenticate}
        ) from None
    request.state.identity = identity
    return identity


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbSession = Annotated[AsyncSession, Depends(get_db)]
CurrentIdentity = Annotated[Identity, Depends(get_identity)]


def require(permission: Permission) -> Callable[..., Awaitable[Identity]]:
    """A dependency that authenticates and then demands `permission` (403 when missing).

    Dependencies here are `async def` although they never await: FastAPI runs a plain `def`
    dependency in the thread pool, a thread hop per dependency per request.
    """

    async def _check(identity: CurrentIdentity) -> Identity:
        if not identity.can(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {permission.value} permission")
        return identity

    return _check


def caller_key(identity: Identity, client: tuple[str, int] | None) -> str:
    """Per user; per client IP for the anonymous POC caller (everyone shares that identity)."""
    if identity.auth_method == "poc":
        return f"ip:{client[0] if client else 'unknown'}"
    return f"user:{identity.tenant_id}:{identity.user_id}"


def refusal_message(bucket: str, refusal: Refusal, settings: Settings) -> str:
    """What a refused caller reads: their own rate, or the deployment's token budget."""
    if refusal.limit == "tokens":
        return (
            f"the deployment's chat token budget ({settings.chat_tokens_per_minute} tokens a minute) "
            f"is spent; retry in {refusal.retry_after_s} s"
        )
    return f"too many {bucket} requests; retry in {refusal.retry_after_s} s"


def rate_limited(permission: Permission, bucket: str) -> Callable[..., Awaitable[Identity]]:
    """`require(permission)` plus the named per-caller rate limit (429 with Retry-After when spent);
    chat also checks the deployment's token budget (same answer, its own message)."""
    check = require(permission)

    # A default, not `Annotated[...]`: with postponed annotations FastAPI cannot see the local `check`.
    async def _limited(request: Request, identity: Identity = Depends(check)) -> Identity:
        services = security_services(request)
        limiter = services.limits
        spec: BucketSpec = getattr(limiter, bucket)
        refusal = await limiter.admit(
            spec, caller_key(identity, request.client and (request.client.host, request.client.port))
        )
        if refusal is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                refusal_message(bucket, refusal, services.settings),
                headers={"Retry-After": str(refusal.retry_after_s)},
            )
        return identity

    return _limited


#: A chat caller: CHAT permission and within the per-user chat rate.
ChatCaller = Annotated[Identity, Depends(rate_limited(Permission.CHAT, "chat"))]
#: A voice session start (ticket issue): VOICE permission and within the voice-start rate.
VoiceStarter = Annotated[Identity, Depends(rate_limited(Permission.VOICE, "voice"))]
#: Reads of the audit trail and erasure of any user (admin).
AuditReader = Annotated[Identity, Depends(require(Permission.AUDIT_READ))]
AnyUserEraser = Annotated[Identity, Depends(require(Permission.ERASE_ANY))]
#: Listing voice recordings and issuing their read links (admin; every use audited).
RecordingReader = Annotated[Identity, Depends(require(Permission.RECORDING_READ))]
#: The caller's own memory: their episodes, and erasure of their own data.
OwnMemory = Annotated[Identity, Depends(require(Permission.MEMORY_OWN))]
#: Searching the caller's facts, and adding facts (analyst).
MemorySearcher = Annotated[Identity, Depends(require(Permission.MEMORY_SEARCH))]
FactWriter = Annotated[Identity, Depends(require(Permission.MEMORY_FACTS))]
#: The live metrics snapshot (admin).
MetricsReader = Annotated[Identity, Depends(require(Permission.METRICS_READ))]
#: Every tenant's and user's usage (admin).
UsageAdmin = Annotated[Identity, Depends(require(Permission.USAGE_ANY))]


WS_POLICY_VIOLATION = 1008
WS_TRY_AGAIN_LATER = 1013


def websocket_credentials(websocket: WebSocket) -> tuple[str | None, str | None, str | None]:
    """(bearer token, ticket, subprotocol to echo) from a websocket handshake.

    Browsers cannot set headers on a websocket, so the token rides in the subprotocol list
    (`engram.v1, bearer.<token>`) or a single-use ticket comes as `ticket.<t>` or `?ticket=<t>`.
    The server must answer with one offered subprotocol, and never one carrying a credential.
    """
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    token = next((p.removeprefix("bearer.") for p in offered if p.startswith("bearer.")), None)
    ticket = next((p.removeprefix("ticket.") for p in offered if p.startswith("ticket.")), None)
    ticket = ticket or websocket.query_params.get("ticket")
    echo = next((p for p in offered if not p.startswith(("bearer.", "ticket."))), None)
    return token or None, ticket or None, echo


def websocket_bearer(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The bearer token from the subprotocol list and the subprotocol to echo."""
    token, _, echo = websocket_credentials(websocket)
    return token, echo


async def websocket_identity(websocket: WebSocket) -> tuple[Identity, str | None] | None:
    """Authenticate a websocket before `accept()`; on failure close with 1008 and return None.

    Returns the identity and the subprotocol to pass to `accept(subprotocol=...)`. A ticket was
    rate-limited when it was issued; a bearer or anonymous start is limited here (close 1013).
    """
    state = security_services(websocket)
    token, ticket, subprotocol = websocket_credentials(websocket)
    try:
        if ticket is not None:
            redeemed = await state.tickets.redeem(ticket)
            if redeemed is None:
                raise AuthError("the websocket ticket is unknown, used or expired", "bad_ticket")
            identity = redeemed
        else:
            identity = await state.authenticator.authenticate(token)
    except AuthError as exc:
        metrics.auth_failure(exc.reason)
        code = WS_TRY_AGAIN_LATER if isinstance(exc, IdentityProviderUnavailable) else WS_POLICY_VIOLATION
        await websocket.close(code=code, reason=exc.message[:120])
        return None
    if ticket is None:
        client = websocket.client
        limiter = state.limits
        refusal = await limiter.admit(
            limiter.voice, caller_key(identity, client and (client.host, client.port))
        )
        if refusal is not None:
            await websocket.close(
                code=WS_TRY_AGAIN_LATER, reason=f"too many voice sessions; retry in {refusal.retry_after_s} s"
            )
            return None
    websocket.state.identity = identity
    return identity, subprotocol
