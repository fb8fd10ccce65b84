"""Builds the process's memory pieces from settings and shuts them down in order."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.trail import pseudonym_key
from app.memory.context import ContextEngine
from app.memory.sql import SqlMemoryStore
from app.memory.store import ContentCipher
from app.memory.zep import MirrorQueue, ZepMirror, build_client
from app.settings import Settings

#: How long shutdown waits for pending Zep writes (SQL already holds every turn).
DRAIN_TIMEOUT_S = 5.0


@dataclass
class MemoryRuntime:
    store: SqlMemoryStore
    context: ContextEngine
    mirror: ZepMirror | None
    queue: MirrorQueue | None
    _zep_http: httpx.AsyncClient | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        cipher: ContentCipher | None = None,
    ) -> MemoryRuntime:
        # Erasure markers are keyed like the audit trail's pseudonyms.
        store = SqlMemoryStore(sessions, cipher, subject_key=pseudonym_key(settings))
        mirror: ZepMirror | None = None
        queue: MirrorQueue | None = None
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
            queue = MirrorQueue(mirror, concurrency=settings.zep_mirror_concurrency)
        context = ContextEngine(
            store,
            mirror,
            history_turns=settings.chat_history_turns,
            zep_read_timeout_s=settings.zep_read_timeout_seconds,
        )
        return cls(store=store, context=context, mirror=mirror, queue=queue, _zep_http=http)

    async def aclose(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Drain background Zep writes (bounded), then close the Zep connection pool."""
        if self.queue is not None:
            await self.queue.drain(drain_timeout_s)
        if self._zep_http is not None:
            await self._zep_http.aclose()
