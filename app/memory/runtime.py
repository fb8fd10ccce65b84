"""Builds the process's memory pieces from settings and shuts them down in order."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.trail import pseudonym_key
from app.memory.context import ContextEngine
from app.memory.outbox import MirrorOutbox
from app.memory.sql import SqlMemoryStore
from app.memory.store import ContentCipher, MemoryStore
from app.memory.zep import ZepMirror, build_client
from app.settings import Settings

#: How long shutdown waits for Zep writes in flight (the outbox keeps the rest for other replicas).
DRAIN_TIMEOUT_S = 5.0


@dataclass
class MemoryRuntime:
    store: MemoryStore  # a `SqlMemoryStore`: assigning it here is where mypy checks the protocol
    context: ContextEngine
    mirror: ZepMirror | None
    queue: MirrorOutbox | None  # the durable mirror's worker (the outbox); None without Zep
    _zep_http: httpx.AsyncClient | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        cipher: ContentCipher | None = None,
    ) -> MemoryRuntime:
        mirror: ZepMirror | None = None
        queue: MirrorOutbox | None = None
        http: httpx.AsyncClient | None = None
        if settings.zep_api_key is not None:
            http = httpx.AsyncClient(timeout=settings.zep_timeout_seconds)
            client = build_client(
                settings.zep_api_key.get_secret_value(),
                settings.zep_api_url,
                settings.zep_timeout_seconds,
                http,
            )
            mirror = ZepMirror(client, sessions, timeout_s=settings.zep_timeout_seconds)
            queue = MirrorOutbox(
                mirror,
                sessions,
                cipher,
                concurrency=settings.zep_mirror_concurrency,
                lease_s=settings.zep_mirror_lease_seconds,
                poll_s=settings.zep_mirror_poll_seconds,
                retry_s=settings.zep_mirror_retry_seconds,
            )
        # Erasure markers are keyed like the audit trail's pseudonyms. With Zep, turns are written
        # with their outbox row (the mirror's durable queue).
        store = SqlMemoryStore(
            sessions, cipher, subject_key=pseudonym_key(settings), outbox=queue is not None
        )
        context = ContextEngine(
            store,
            mirror,
            history_turns=settings.chat_history_turns,
            zep_read_timeout_s=settings.zep_read_timeout_seconds,
        )
        return cls(store=store, context=context, mirror=mirror, queue=queue, _zep_http=http)

    def start(self) -> None:
        """Start the outbox worker (inside the running loop, from the lifespan)."""
        if self.queue is not None:
            self.queue.start()

    async def aclose(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Drain Zep writes in flight (bounded), then close the Zep connection pool."""
        if self.queue is not None:
            await self.queue.drain(drain_timeout_s)
        if self._zep_http is not None:
            await self._zep_http.aclose()
