"""The services routers use, typed, and the dependencies that hand them to routers.

`create_app` builds every service once and installs one `Services` as `app.state`; routers name the
aliases below (`ChatServiceDep`, `AuditDep`, ...) and never read `app.state` themselves, so what a
handler needs shows in its signature. Identity and permission dependencies live in
`app.security.deps`, whose `SecurityServices` this extends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from app.audit.trail import AuditTrail
from app.chat.service import ChatService
from app.memory.runtime import MemoryRuntime
from app.memory.store import MemoryStore
from app.observability.telemetry import Telemetry
from app.security.deps import SecurityServices, state_of
from app.security.limiter import Limiter
from app.security.tickets import TicketStore
from app.usage.meter import UsageMeter
from app.voice.recording import Recordings
from app.voice.service import VoiceService

T = TypeVar("T")


@dataclass(kw_only=True, eq=False)
class Services(SecurityServices):
    """Every service of one app, built by `create_app` and installed as `app.state`."""

    engine: AsyncEngine
    memory: MemoryRuntime
    usage: UsageMeter | None  # None when USAGE_METERING_ENABLED is off
    chat: ChatService
    recordings: Recordings
    voice: VoiceService
    audit: AuditTrail
    # Set by `create_app` last: instrumenting the app must follow every middleware.
    telemetry: Telemetry = field(init=False, repr=False)


def services(connection: HTTPConnection) -> Services:
    """`app.state`, typed (HTTP and websocket routes alike)."""
    return state_of(connection, Services)


def _member(get: Callable[[Services], T]) -> Callable[[HTTPConnection], Awaitable[T]]:
    """A dependency answering one member of `Services`; `async` because FastAPI runs a plain `def`
    dependency in the thread pool."""

    async def dependency(connection: HTTPConnection) -> T:
        return get(services(connection))

    return dependency


ServicesDep = Annotated[Services, Depends(_member(lambda s: s))]
EngineDep = Annotated[AsyncEngine, Depends(_member(lambda s: s.engine))]
#: The memory pieces: the SQL store, the Zep mirror and its outbox (None without Zep).
MemoryDep = Annotated[MemoryRuntime, Depends(_member(lambda s: s.memory))]
StoreDep = Annotated[MemoryStore, Depends(_member(lambda s: s.memory.store))]
ChatServiceDep = Annotated[ChatService, Depends(_member(lambda s: s.chat))]
VoiceServiceDep = Annotated[VoiceService, Depends(_member(lambda s: s.voice))]
AuditDep = Annotated[AuditTrail, Depends(_member(lambda s: s.audit))]
LimiterDep = Annotated[Limiter, Depends(_member(lambda s: s.limits))]
TicketsDep = Annotated[TicketStore, Depends(_member(lambda s: s.tickets))]
