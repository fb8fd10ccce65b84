"""The services routers use, typed, and the dependencies that hand them to routers.

`create_app` builds every service once and installs one `Services` as `app.state`; routers name the
aliases below (`ChatServiceDep`, `AuditDep`, ...) and never read `app.state` themselves, so what a
handler needs shows in its signature. Identity and permission dependencies live in
`app.security.deps`, whose `SecurityServices` this extends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from app.audit.trail import AuditTrail
from app.chat.service import ChatService
from app.memory.runtime import MemoryRuntime
from app.memory.sql import SqlMemoryStore
from app.observability.telemetry import Telemetry
from app.security.authenticator import Authenticator
from app.security.deps import SecurityServices
from app.security.limiter import Limiter
from app.security.tickets import TicketStore
from app.settings import Settings
from app.usage.meter import UsageMeter
from app.voice.recording import Recordings
from app.voice.service import VoiceService


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
    telemetry: Telemetry

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        memory: MemoryRuntime,
        usage: UsageMeter | None,
        chat: ChatService,
        recordings: Recordings,
        voice: VoiceService,
        authenticator: Authenticator,
        tickets: TicketStore,
        limits: Limiter,
        audit: AuditTrail,
    ) -> None:
        super().__init__(
            settings=settings, sessions=sessions, authenticator=authenticator, tickets=tickets, limits=limits
        )
        self.engine = engine
        self.memory = memory
        self.usage = usage
        self.chat = chat
        self.recordings = recordings
        self.voice = voice
        self.audit = audit


def services(connection: HTTPConnection) -> Services:
    """`app.state`, typed (HTTP and websocket routes alike)."""
    state = connection.app.state
    if not isinstance(state, Services):
        raise TypeError("app.state holds no services: build the app with app.main.create_app")
    return state


# Dependencies are `async def` although they never await: FastAPI runs a plain `def` in the thread pool.
async def _services(connection: HTTPConnection) -> Services:
    return services(connection)


ServicesDep = Annotated[Services, Depends(_services)]


async def _engine(s: ServicesDep) -> AsyncEngine:
    return s.engine


async def _memory(s: ServicesDep) -> MemoryRuntime:
    return s.memory


async def _store(s: ServicesDep) -> SqlMemoryStore:
    return s.memory.store


async def _chat(s: ServicesDep) -> ChatService:
    return s.chat


async def _voice(s: ServicesDep) -> VoiceService:
    return s.voice


async def _recordings(s: ServicesDep) -> Recordings:
    return s.recordings


async def _audit(s: ServicesDep) -> AuditTrail:
    return s.audit


async def _limits(s: ServicesDep) -> Limiter:
    return s.limits


async def _tickets(s: ServicesDep) -> TicketStore:
    return s.tickets


async def _usage(s: ServicesDep) -> UsageMeter | None:
    return s.usage


EngineDep = Annotated[AsyncEngine, Depends(_engine)]
#: The memory pieces: the SQL store, the Zep mirror and its outbox (None without Zep).
MemoryDep = Annotated[MemoryRuntime, Depends(_memory)]
StoreDep = Annotated[SqlMemoryStore, Depends(_store)]
ChatServiceDep = Annotated[ChatService, Depends(_chat)]
VoiceServiceDep = Annotated[VoiceService, Depends(_voice)]
RecordingsDep = Annotated[Recordings, Depends(_recordings)]
AuditDep = Annotated[AuditTrail, Depends(_audit)]
LimiterDep = Annotated[Limiter, Depends(_limits)]
TicketsDep = Annotated[TicketStore, Depends(_tickets)]
#: The usage meter, None when metering is off.
UsageDep = Annotated[UsageMeter | None, Depends(_usage)]
