"""The Zep mirror (zep-cloud 4.x `AsyncZep`, Zep API v4): best-effort, never in the reply's way.

One Zep user per Engram user and one Zep thread per session. Zep v4 generates both ids, so the
mapping is kept in SQL (`zep_users`, `zep_threads`). Every call has a short timeout and no SDK
retries; `ApiError`, httpx errors and timeouts are caught, counted with `memory_degraded` and turn
`/health` to "degraded" until the next call succeeds. Writes reach Zep through the outbox
(`app/memory/outbox.py`): durable in SQL, drained by every replica.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import httpx
from sqlalchemy import DateTime, String, delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from zep_cloud import AsyncZep
from zep_cloud.core.api_error import ApiError
from zep_cloud.core.request_options import RequestOptions
from zep_cloud.types import AddMessage

from app.db.tables import EpisodeRow, ZepThreadRow, ZepUserRow
from app.memory.store import NewTurn
from app.observability import metrics

log = logging.getLogger("engram.memory.zep")

T = TypeVar("T")

#: Default; settings override it (ZEP_TIMEOUT_SECONDS).
DEFAULT_TIMEOUT_S = 2.0
#: A retention purge stops calling Zep after this many thread deletes fail in a row.
MAX_THREAD_DELETE_FAILURES = 3
#: Zep's thread context is a text block; we keep at most this many of its lines as facts.
MAX_CONTEXT_FACTS = 20


def build_client(
    api_key: str, base_url: str | None, timeout_s: float, http: httpx.AsyncClient | None = None
) -> AsyncZep:
    """The process's `AsyncZep` (no SDK retries); `base_url` must end with `/api/v4` when given."""
    return AsyncZep(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0, httpx_client=http)


def _key(kind: str, value: str) -> str:
    # Idempotency keys travel to Zep: hash the ids rather than send them twice in the clear.
    return f"engram-{kind}-" + hashlib.sha256(value.encode()).hexdigest()[:32]


class ZepMirror:
    """Zep operations for one process; every public method is best-effort and never raises."""

    def __init__(
        self,
        client: AsyncZep,
        sessions: async_sessionmaker[AsyncSession],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._timeout_s = timeout_s
        self._options: RequestOptions = {"timeout": timeout_s, "max_retries": 0}
        self.reachable: bool | None = None  # outcome of the last call; None before the first
        self.failures = 0

    async def health(self) -> tuple[bool | None, bool]:
        """(zep_reachable, degraded) for `/health`, from the last call's outcome (no probe)."""
        return self.reachable, self.reachable is False

    # --- writes ----------------------------------------------------------------------------------

    async def mirror_turns(self, turns: Sequence[NewTurn]) -> bool:
        """Add the turns (all of one session, in order) to the session's Zep thread."""
        if not turns:
            return True
        first = turns[0]
        thread_uuid = await self._thread_for(first.owner_id, first.session_id)
        if thread_uuid is None:
            return False
        messages = [
            AddMessage(
                role=turn.role,
                content=turn.content,
                name=turn.agent_id if turn.role == "assistant" else None,
                metadata={"channel": turn.channel, "agent_id": turn.agent_id},
                reference_time=(turn.created_at or datetime.now(UTC)).isoformat(),
            )
            for turn in turns
        ]
        event_ids = ",".join(t.source_event_id or "" for t in turns)
        idempotency = (
            _key("messages", thread_uuid + "|" + event_ids) if all(t.source_event_id for t in turns) else None
        )
        result = await self._call(
            "add_messages",
            lambda: self._client.thread.add_messages(
                thread_uuid,
                messages=messages,
                idempotency_key=idempotency,
                request_options=self._options,
            ),
        )
        return result is not None

    async def delete_user(self, owner_id: str) -> bool:
        """Start deleting the owner's Zep user (threads, messages, graph); True when Zep accepted.

        Zep deletes asynchronously (202 with a task): we start it and return. Works without the
        local mapping (erased first, or never written) by looking the user up by its external id.
        """
        user_uuid = await self._mapped_user(owner_id)
        if user_uuid is None:
            found = await self._call(
                "lookup_user",
                lambda: self._client.user.lookup(user_id=owner_id, request_options=self._options),
                not_found_ok=True,
            )
            user_uuid = found.uuid_ if found is not None else None
        if user_uuid is None:
            return False
        accepted = await self._call(
            "delete_user",
            lambda: self._client.user.delete(
                # Keyed by the Zep user, not the owner: a user who returns and is erased again has a
                # new Zep user, and an owner-keyed retry would replay the first delete's answer.
                user_uuid,
                idempotency_key=_key("delete-user", user_uuid),
                request_options=self._options,
            ),
            not_found_ok=True,
        )
        async with self._sessions.begin() as session:
            await session.execute(delete(ZepUserRow).where(ZepUserRow.owner_id == owner_id))
            await session.execute(delete(ZepThreadRow).where(ZepThreadRow.owner_id == owner_id))
        return accepted is not None

    async def delete_threads(self, thread_uuids: Sequence[str]) -> tuple[int, int]:
        """Start deleting Zep threads (retention); (requested, failed). An unknown thread counts as
        requested (already gone). After `MAX_THREAD_DELETE_FAILURES` failures in a row the rest are
        counted as failed without a call, so a Zep outage cannot stall the purge for timeout x N.
        """
        requested = failed = streak = 0
        for thread_uuid in thread_uuids:
            if streak >= MAX_THREAD_DELETE_FAILURES:
                failed += 1
                continue
            before = self.failures
            await self._call(
                "delete_thread",
                functools.partial(
                    self._client.thread.delete,
                    thread_uuid,
                    idempotency_key=_key("delete-thread", thread_uuid),
                    request_options=self._options,
                ),
                not_found_ok=True,
            )
            if self.failures == before:
                requested, streak = requested + 1, 0
            else:
                failed, streak = failed + 1, streak + 1
        return requested, failed

    # --- reads -----------------------------------------------------------------------------------

    async def context_facts(
        self, owner_id: str, session_id: str, *, timeout_s: float | None = None
    ) -> list[str] | None:
        """Facts from Zep's thread context for the session; None when Zep has none or failed."""
        thread_uuid = await self._mapped_thread(session_id)
        if thread_uuid is None:
            return None
        response = await self._call(
            "get_context",
            lambda: self._client.thread.get_context(thread_uuid, request_options=self._options),
            timeout_s=timeout_s,
        )
        if response is None or not response.context:
            return None
        lines = [line.strip(" -*\t") for line in response.context.splitlines()]
        facts = [line for line in lines if line and not line.startswith(("<", "#"))]
        return facts[:MAX_CONTEXT_FACTS] or None

    # --- ids ---------------------------------------------------------------------------------------

    async def _thread_for(self, owner_id: str, session_id: str) -> str | None:
        thread_uuid = await self._mapped_thread(session_id)
        if thread_uuid is not None:
            return thread_uuid
        started = await self._episode_started(owner_id, session_id)
        if started is None:
            return None  # erased or purged before the mirror got to it: nothing to mirror
        # Creation keys name this incarnation of the episode: after an erasure the same user (and
        # a browser tab's same session id) must get new Zep ids, not a replay of the deleted ones.
        incarnation = f"{session_id}|{started.isoformat()}"
        user_uuid = await self._user_for(owner_id, session_id, incarnation)
        if user_uuid is None:
            return None
        thread = await self._call(
            "create_thread",
            lambda: self._client.thread.create(
                user_uuid=user_uuid,
                idempotency_key=_key("thread", incarnation),
                request_options=self._options,
            ),
        )
        if thread is None or not thread.uuid_:
            return None
        stored = await self._remember(
            ZepThreadRow,
            {"session_id": session_id, "owner_id": owner_id, "thread_uuid": thread.uuid_},
            "session_id",
            episode=(owner_id, session_id),
        )
        if stored is None:  # the episode went (erasure or retention) while Zep created the thread
            await self._undo("delete_thread", self._client.thread.delete, thread.uuid_)
        return stored

    async def _user_for(self, owner_id: str, session_id: str, incarnation: str) -> str | None:
        user_uuid = await self._mapped_user(owner_id)
        if user_uuid is not None:
            return user_uuid
        user = await self._call(
            "create_user",
            lambda: self._client.user.create(
                user_id=owner_id,
                idempotency_key=_key("user", owner_id + "|" + incarnation),
                request_options=self._options,
            ),
            conflict_ok=True,
        )
        created = user is not None
        # None after a 409 (the user exists already, e.g. mapping lost): find it. None after a
        # failure (`_call` marked Zep unreachable): give up now rather than wait out a second timeout.
        if user is None and self.reachable:
            user = await self._call(
                "lookup_user",
                lambda: self._client.user.lookup(user_id=owner_id, request_options=self._options),
            )
        if user is None or not user.uuid_:
            return None
        stored = await self._remember(
            ZepUserRow,
            {"owner_id": owner_id, "user_uuid": user.uuid_},
            "owner_id",
            episode=(owner_id, session_id),
        )
        if stored is None and created:
            # The episode went while Zep created the user: most likely an erasure on another
            # replica that has already asked Zep to delete the user. Don't leave one re-created.
            await self._undo("delete_user", self._client.user.delete, user.uuid_)
        return stored

    async def _episode_started(self, owner_id: str, session_id: str) -> datetime | None:
        async with self._sessions() as session:
            started: datetime | None = (
                await session.execute(
                    select(EpisodeRow.started_at).where(
                        EpisodeRow.id == session_id, EpisodeRow.owner_id == owner_id
                    )
                )
            ).scalar_one_or_none()
            return started

    async def _mapped_user(self, owner_id: str) -> str | None:
        async with self._sessions() as session:
            found: str | None = (
                await session.execute(select(ZepUserRow.user_uuid).where(ZepUserRow.owner_id == owner_id))
            ).scalar_one_or_none()
            return found

    async def _mapped_thread(self, session_id: str) -> str | None:
        async with self._sessions() as session:
            found: str | None = (
                await session.execute(
                    select(ZepThreadRow.thread_uuid).where(ZepThreadRow.session_id == session_id)
                )
            ).scalar_one_or_none()
            return found

    async def _remember(
        self,
        table: type[ZepUserRow] | type[ZepThreadRow],
        values: dict[str, str],
        key: str,
        *,
        episode: tuple[str, str],
    ) -> str | None:
        """Store a mapping row while the episode (owner, session) still exists; return the stored uuid.

        A concurrent writer may have won (its uuid is returned). None when the episode has gone:
        the row is only inserted in the same statement that sees the episode, so an erasure that
        committed first leaves no mapping behind, and one that commits later deletes it.
        """
        column = "user_uuid" if table is ZepUserRow else "thread_uuid"
        names = [*values, "created_at"]
        owner_id, session_id = episode
        # FOR KEY SHARE (PostgreSQL; SQLite has one writer): wait for an erasure deleting the
        # episode to commit, then see it gone. The erasure deletes mappings after the episodes, so
        # a row inserted under this lock before the erasure is deleted by it.
        row = (
            select(
                *(literal(values[name], String()).label(name) for name in values),
                literal(datetime.now(UTC), DateTime(timezone=True)).label("created_at"),
            )
            .where(EpisodeRow.id == session_id, EpisodeRow.owner_id == owner_id)
            .with_for_update(read=True, key_share=True)
        )
        async with self._sessions.begin() as session:
            insert = sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert
            await session.execute(
                insert(table).from_select(names, row).on_conflict_do_nothing(index_elements=[key])
            )
            stored: str | None = (
                await session.execute(
                    select(getattr(table, column)).where(getattr(table, key) == values[key])
                )
            ).scalar_one_or_none()
        if stored is None:
            log.info("zep mirror skipped: the conversation was erased or purged meanwhile")
        return stored

    async def _undo(self, operation: str, delete_call: Callable[..., Awaitable[object]], uuid: str) -> None:
        """Best-effort delete of something just created in Zep for a conversation that has gone."""
        await self._call(
            operation,
            functools.partial(
                delete_call, uuid, idempotency_key=_key(operation, uuid), request_options=self._options
            ),
            not_found_ok=True,
        )

    # --- the one place Zep errors are handled ------------------------------------------------------

    async def _call(
        self,
        operation: str,
        call: Callable[[], Awaitable[T]],
        *,
        conflict_ok: bool = False,
        not_found_ok: bool = False,
        timeout_s: float | None = None,
    ) -> T | None:
        try:
            async with asyncio.timeout(timeout_s or self._timeout_s):
                result = await call()
        except ApiError as exc:
            if (conflict_ok and exc.status_code == 409) or (not_found_ok and exc.status_code == 404):
                self.reachable = True
                return None
            self._failed(operation, f"http_{exc.status_code}")
            return None
        except (TimeoutError, httpx.TimeoutException):
            self._failed(operation, "timeout")
            return None
        except httpx.HTTPError as exc:
            self._failed(operation, type(exc).__name__)
            return None
        self.reachable = True
        return result

    def _failed(self, operation: str, reason: str) -> None:
        self.reachable = False
        self.failures += 1
        metrics.memory_degraded(operation, reason)
        log.warning("zep %s failed (%s); memory served from SQL", operation, reason)
        return None
