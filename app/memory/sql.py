"""`SqlMemoryStore`: the system of record for episodes, turns and facts (SQLite or PostgreSQL).

Encryption at rest: with a `ContentCipher`, turn content (the transcripts) is encrypted on write and
decrypted on read. Fact text stays plaintext on purpose: facts are short, derived statements that the
context engine must find by text search (FTS5 / tsvector cannot index ciphertext), and a keyed-hash
index would only support exact-word lookups. Facts are erased with their owner like everything else.

Concurrency: `append_turn` starts its transaction with a write (insert-or-ignore of the episode), so
SQLite takes the write lock up front instead of failing a read-then-write upgrade, and PostgreSQL
locks the episode row before it merges the channel and agent lists.

Erasure markers: `erase_owner` records a keyed hash of the owner and the time (table `erasures`);
a write from a conversation opened before that time is refused with `OwnerErased`, so a session
still open on another replica, or a request in flight, cannot re-create what was erased. The check
rides on the episode-lock statement (no extra round trip). On PostgreSQL an erasure and a write
that creates an episode also meet on a per-owner advisory lock: without it a new, uncommitted
episode would be invisible to the erasure's DELETE and survive it. (SQLite has one writer.)

The Zep mirror's outbox: with `outbox=True` (Zep configured) every write of turns also inserts one
`mirror_outbox` row (the new turn ids) in the same transaction, so a stored turn is always queued for
Zep (`app/memory/outbox.py` drains it). Erasure, session deletion and retention delete the rows of
what they remove; the erasure deletes them first (see `erase_owner`).

Speed (the chat path): each chat operation (the read, the turn-pair write) is one synchronous
function over a `Connection`. On a SQLite file it runs in one worker-thread hop through the
engine's `SqliteRunner` (aiosqlite would hop 3-4 times per statement); elsewhere it runs through
`run_sync` on the async connection, the same statements without a greenlet switch per statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    Select,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from app.db.engine import sqlite_runner
from app.db.tables import (
    EpisodeRow,
    ErasureRow,
    FactRow,
    MirrorOutboxRow,
    TurnRow,
    ZepThreadRow,
    ZepUserRow,
)
from app.memory.store import (
    ChatMemory,
    ContentCipher,
    DeletedEpisode,
    Episode,
    EpisodeDigest,
    EpisodeOwnedByAnother,
    Fact,
    NewTurn,
    OwnerErased,
    Purged,
    Turn,
)

T = TypeVar("T")

_WORD = re.compile(r"\w+", re.UNICODE)
#: The key of erasure markers when the service passes none (tests, tools): markers still work, but
#: their hashes are only as private as this constant. The service passes its pseudonym key.
UNKEYED_SUBJECTS = b"engram-erasure-markers-unkeyed"
#: First half of the two-int PostgreSQL advisory lock an erasure and an episode creation share.
_ERASURE_LOCK_SPACE = 0x45524153  # "ERAS"
_MAX_QUERY_WORDS = 16


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _merge(existing: list[str] | None, item: str) -> list[str]:
    values = list(existing or [])
    if item not in values:
        values.append(item)
    return values


class SqlMemoryStore:
    """The `MemoryStore` on the service's database; see the module docstring for what is encrypted."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: ContentCipher | None = None,
        subject_key: bytes = UNKEYED_SUBJECTS,
        *,
        outbox: bool = False,
    ) -> None:
        self._sessions = sessions
        # With a Zep mirror: every write of turns also writes their outbox row, in its transaction.
        self._outbox = outbox
        self._cipher = cipher
        self._subject_key = subject_key
        bind = sessions.kw.get("bind")
        self._runner = sqlite_runner(bind)
        # SQLite has one writer: queue writers in-process instead of in SQLite's polling busy
        # handler, which starves some past busy_timeout under load ("database is locked"). On a
        # file the queue is the engine's, shared with the audit trail; in memory it is our own.
        self._own_write_lock = (
            asyncio.Lock()
            if self._runner is None and bind is not None and bind.dialect.name == "sqlite"
            else None
        )

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        lock = self._runner.write_lock if self._runner is not None else self._own_write_lock
        if lock is None:
            yield
            return
        async with lock:
            yield

    async def _read(self, operation: Callable[[Connection], T]) -> T:
        """Run a synchronous read in one hop (see the module docstring)."""
        if self._runner is not None:
            return await self._runner.read(operation)
        async with self._sessions() as session:
            return await session.run_sync(_on_autocommit_connection, operation)

    async def _write(self, operation: Callable[[Connection], T]) -> T:
        """Run a synchronous write transaction in one hop, queued behind SQLite's other writers."""
        if self._runner is not None:
            return await self._runner.write(operation)
        async with self._writing(), self._sessions.begin() as session:
            return await session.run_sync(_on_connection, operation)

    # --- turns and episodes ------------------------------------------------------------------------

    async def append_turn(self, turn: NewTurn) -> bool:
        """Record a turn (creating the episode on its first turn); False for a repeated source event.

        Raises `EpisodeOwnedByAnother` when the session id is another user's episode.
        """
        return (await self.append_turns([turn]))[0]

    async def append_turns(self, turns: Sequence[NewTurn]) -> list[bool]:
        """Record turns of one session in one transaction (e.g. a question and its answer).

        Raises `EpisodeOwnedByAnother` for another user's session id, and `OwnerErased` when the
        owner was erased after the conversation began (see the module docstring).
        """
        if not turns:
            return []
        first = turns[0]
        if any(t.session_id != first.session_id or t.owner_id != first.owner_id for t in turns):
            raise ValueError("append_turns takes turns of one session and one owner")
        times = [_aware(t.created_at) if t.created_at else utcnow() for t in turns]
        since = _aware(first.opened_at) if first.opened_at else min(times)
        subject = self._subject_ref(first.owner_id)
        trace_parent = _trace_parent() if self._outbox else None
        return await self._write(
            functools.partial(self._write_turns, turns, times, since, subject, trace_parent)
        )

    def _write_turns(
        self,
        turns: Sequence[NewTurn],
        times: list[datetime],
        since: datetime,
        subject: str,
        trace_parent: str | None,
        connection: Connection,
    ) -> list[bool]:
        first = turns[0]
        created = connection.execute(
            _CREATE_EPISODE,
            _row_params(
                [
                    {
                        "id": first.session_id,
                        "owner_id": first.owner_id,
                        "tenant_id": first.tenant_id,
                        "channels": [],
                        "agents": [],
                        "started_at": times[0],
                        "last_activity_at": times[0],
                    }
                ]
            ),
        )
        is_new = created.scalar_one_or_none() is not None
        if is_new and connection.dialect.name == "postgresql":  # wait for an erasure in progress
            connection.execute(_SHARED_ERASURE_LOCK, _lock_params(subject))
        locked = connection.execute(_LOCK_EPISODE, {"id": first.session_id, "subject": subject}).one_or_none()
        if locked is None:  # deleted between the two statements: erased (or purged) just now
            raise OwnerErased(first.session_id)
        owner, channels, agents, last_activity, erased_at = locked
        if not is_new and owner != first.owner_id:
            raise EpisodeOwnedByAnother(first.session_id)
        if erased_at is not None and _aware(erased_at) >= since:
            raise OwnerErased(first.session_id)
        inserted = connection.execute(
            _insert_turns(len(turns)),
            _row_params(
                [
                    {
                        "episode_id": turn.session_id,
                        "role": turn.role,
                        "content": self._cipher.encrypt(turn.content) if self._cipher else turn.content,
                        "agent_id": turn.agent_id,
                        "channel": turn.channel,
                        "created_at": at,
                        "source_event_id": turn.source_event_id,
                    }
                    for turn, at in zip(turns, times, strict=True)
                ]
            ),
        )
        inserted_rows = inserted.all()
        new_ids = {row[1] for row in inserted_rows}
        written = _written(turns, new_ids)
        if self._outbox and inserted_rows:
            connection.execute(
                _INSERT_OUTBOX,
                {
                    "session_id": first.session_id,
                    "owner_id": first.owner_id,
                    "turn_ids": sorted(row[0] for row in inserted_rows),
                    "created_at": utcnow(),
                    "trace_parent": trace_parent,
                },
            )
        kept = [(turn, at) for turn, at, ok in zip(turns, times, written, strict=True) if ok]
        if kept:
            for turn, _ in kept:
                channels, agents = _merge(channels, turn.channel), _merge(agents, turn.agent_id)
            last = max(at for _, at in kept)
            connection.execute(
                _TOUCH_EPISODE,
                {
                    "key": first.session_id,
                    "channels": channels,
                    "agents": agents,
                    "last_activity_at": max(_aware(last_activity), last),
                },
            )
        elif is_new:  # every turn was a duplicate of nothing: cannot happen, keep no empty episode
            connection.execute(_DROP_EPISODE, {"key": first.session_id})
        return written

    async def recent_turns(self, session_id: str, limit: int) -> list[Turn]:
        """The last `limit` turns of the session, oldest first."""
        if limit <= 0:
            return []
        return await self._read(functools.partial(self._recent_turns, session_id, limit))

    async def chat_memory(
        self, session_id: str, owner_id: str, query: str, *, turns: int, facts: int
    ) -> ChatMemory:
        """What one chat turn reads, in one session and two or three statements: the episode's
        owner and whether the caller has any facts (one statement), the recent turns, and the
        fact search only when there are facts to search.

        Raises `EpisodeOwnedByAnother` when the session id is another user's episode. The turn
        read is filtered by owner too, so ownership holds even if the episode changes hands
        between the statements (erased and re-opened by someone else).
        """
        return await self._read(
            functools.partial(self._chat_memory, session_id, owner_id, query, turns, facts)
        )

    def _chat_memory(
        self, session_id: str, owner_id: str, query: str, turns: int, facts: int, connection: Connection
    ) -> ChatMemory:
        owner, has_facts = connection.execute(
            _OWNER_AND_ANY_FACT, {"session_id": session_id, "owner_id": owner_id}
        ).one()
        if owner is not None and owner != owner_id:
            raise EpisodeOwnedByAnother(session_id)
        recent: list[Turn] = []
        if owner is not None and turns > 0:
            recent = self._recent_turns(session_id, turns, connection, owner_id=owner_id)
        found: list[Fact] = []
        if has_facts and facts > 0:
            found = _search_facts(owner_id, query, facts, connection)
        return ChatMemory(owner_id=owner, turns=recent, facts=found)

    def _recent_turns(
        self, session_id: str, limit: int, connection: Connection, *, owner_id: str | None = None
    ) -> list[Turn]:
        if owner_id is None:
            statement, params = _RECENT_TURNS, {"session_id": session_id, "limit": limit}
        else:
            statement = _RECENT_OWNED_TURNS
            params = {"session_id": session_id, "limit": limit, "owner_id": owner_id}
        rows = connection.execute(statement, params).all()
        return [self._turn_of(*row) for row in reversed(rows)]

    async def get_episode(self, session_id: str, *, with_turns: bool = True) -> Episode | None:
        """The episode and (by default) all its turns in order, or None."""
        async with self._sessions() as session:
            row = await session.get(EpisodeRow, session_id)
            if row is None:
                return None
            turns: list[Turn] = []
            if with_turns:
                turn_rows = (
                    await session.execute(
                        select(TurnRow).where(TurnRow.episode_id == session_id).order_by(TurnRow.id)
                    )
                ).scalars()
                turns = [self._turn(t) for t in turn_rows]
            return _episode(row, turns)

    async def episode_owner(self, session_id: str) -> str | None:
        """Who owns the session's episode (None when it does not exist yet)."""
        async with self._sessions() as session:
            owner: str | None = (
                await session.execute(select(EpisodeRow.owner_id).where(EpisodeRow.id == session_id))
            ).scalar_one_or_none()
            return owner

    async def list_episodes(self, owner_id: str | None, limit: int = 50, offset: int = 0) -> list[Episode]:
        """Episodes without turns, most recent activity first; `owner_id=None` lists everyone's."""
        query: Select[tuple[EpisodeRow]] = select(EpisodeRow)
        if owner_id is not None:
            query = query.where(EpisodeRow.owner_id == owner_id)
        query = query.order_by(EpisodeRow.last_activity_at.desc(), EpisodeRow.id).limit(limit).offset(offset)
        async with self._sessions() as session:
            return [_episode(row, []) for row in (await session.execute(query)).scalars()]

    async def count_episodes(self, owner_id: str | None) -> int:
        query = select(func.count()).select_from(EpisodeRow)
        if owner_id is not None:
            query = query.where(EpisodeRow.owner_id == owner_id)
        async with self._sessions() as session:
            return int((await session.execute(query)).scalar_one())

    async def episode_digests(self, session_ids: Sequence[str]) -> dict[str, EpisodeDigest]:
        """Per episode: its turn count, its first user line and the agent of its last turn.

        Three small grouped queries for a page of episodes, never every turn of the page.
        """
        if not session_ids:
            return {}
        ids = list(session_ids)
        async with self._sessions() as session:
            counts = dict(
                (
                    await session.execute(
                        select(TurnRow.episode_id, func.count())
                        .where(TurnRow.episode_id.in_(ids))
                        .group_by(TurnRow.episode_id)
                    )
                )
                .tuples()
                .all()
            )
            first_user = (
                select(func.min(TurnRow.id))
                .where(TurnRow.episode_id.in_(ids), TurnRow.role == "user")
                .group_by(TurnRow.episode_id)
            )
            firsts = dict(
                (
                    await session.execute(
                        select(TurnRow.episode_id, TurnRow.content).where(TurnRow.id.in_(first_user))
                    )
                )
                .tuples()
                .all()
            )
            last = (
                select(func.max(TurnRow.id)).where(TurnRow.episode_id.in_(ids)).group_by(TurnRow.episode_id)
            )
            lasts = dict(
                (
                    await session.execute(
                        select(TurnRow.episode_id, TurnRow.agent_id).where(TurnRow.id.in_(last))
                    )
                )
                .tuples()
                .all()
            )
        return {
            episode_id: EpisodeDigest(
                turn_count=int(counts.get(episode_id, 0)),
                first_user_line=self._first_line(firsts.get(episode_id)),
                last_agent=lasts.get(episode_id),
            )
            for episode_id in ids
        }

    def _first_line(self, stored: str | None) -> str:
        if stored is None:
            return ""
        content = self._cipher.decrypt(stored) if self._cipher else stored
        lines = [line.strip() for line in content.strip().splitlines() if line.strip()]
        return lines[0] if lines else ""

    async def delete_episode(self, session_id: str) -> DeletedEpisode:
        """Delete one episode: its turns, the facts taken from it and its Zep thread mapping.

        Returns the counts and the Zep thread ids (so Zep can be asked to delete them).
        """
        async with self._writing(), self._sessions.begin() as session:
            await session.execute(delete(MirrorOutboxRow).where(MirrorOutboxRow.session_id == session_id))
            turns = await session.execute(delete(TurnRow).where(TurnRow.episode_id == session_id))
            facts = await session.execute(delete(FactRow).where(FactRow.episode_id == session_id))
            threads = await session.execute(
                delete(ZepThreadRow)
                .where(ZepThreadRow.session_id == session_id)
                .returning(ZepThreadRow.thread_uuid)
            )
            thread_ids = tuple(sorted(threads.scalars()))
            episodes = await session.execute(delete(EpisodeRow).where(EpisodeRow.id == session_id))
        return DeletedEpisode(
            episodes=_count(episodes), turns=_count(turns), facts=_count(facts), zep_threads=thread_ids
        )

    # --- facts ---------------------------------------------------------------------------------------

    async def add_fact(
        self,
        owner_id: str,
        text_: str,
        *,
        tenant_id: str | None = None,
        episode_id: str | None = None,
    ) -> Fact:
        """Store a fact about `owner_id` (plaintext, so it is searchable; see the module docstring)."""
        at = utcnow()
        async with self._writing(), self._sessions.begin() as session:
            row = FactRow(
                owner_id=owner_id, tenant_id=tenant_id, episode_id=episode_id, text=text_, created_at=at
            )
            session.add(row)
            await session.flush()
            return Fact(id=str(row.id), text=row.text, created_at=at)

    async def search_facts(self, owner_id: str, query: str, limit: int) -> list[Fact]:
        """The owner's facts matching any word of `query`, best first; newest facts for an empty query."""
        return await self._read(functools.partial(_search_facts, owner_id, query, limit))

    # --- erasure and retention (used by the security area) ------------------------------------------

    async def erase_owner(self, owner_id: str) -> dict[str, int]:
        """Delete everything stored about `owner_id` (GDPR erasure); returns what was removed.

        Covers episodes, their turns, facts and the Zep id mapping rows. The Zep side itself is
        erased by `ZepMirror.delete_user`, which works with or without the mapping. Leaves an
        erasure marker (a keyed hash and the time) that refuses later writes from conversations
        opened before now.
        """
        subject = self._subject_ref(owner_id)
        async with self._writing(), self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":  # in-flight episode creations of this owner commit first
                await session.execute(_EXCLUSIVE_ERASURE_LOCK, _lock_params(subject))
            # First: on PostgreSQL this waits for a mirror write in flight on any replica (it holds
            # its outbox row), so Zep's user deletion below comes after it (app.memory.outbox).
            await session.execute(delete(MirrorOutboxRow).where(MirrorOutboxRow.owner_id == owner_id))
            insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
            marker = insert(ErasureRow).values(subject_ref=subject, erased_at=utcnow())
            await session.execute(
                marker.on_conflict_do_update(
                    index_elements=["subject_ref"], set_={"erased_at": marker.excluded.erased_at}
                )
            )
            episode_ids = select(EpisodeRow.id).where(EpisodeRow.owner_id == owner_id).scalar_subquery()
            turns = await session.execute(delete(TurnRow).where(TurnRow.episode_id.in_(episode_ids)))
            facts = await session.execute(delete(FactRow).where(FactRow.owner_id == owner_id))
            episodes = await session.execute(delete(EpisodeRow).where(EpisodeRow.owner_id == owner_id))
            # After the episodes: a Zep mirror inserting a mapping holds the episode row (FOR KEY
            # SHARE) until it commits, so its row is visible here and goes too (app.memory.zep).
            await session.execute(delete(ZepThreadRow).where(ZepThreadRow.owner_id == owner_id))
            await session.execute(delete(ZepUserRow).where(ZepUserRow.owner_id == owner_id))
        return {
            "episodes": _count(episodes),
            "turns": _count(turns),
            "facts": _count(facts),
        }

    async def purge_before(self, cutoff: datetime) -> Purged:
        """Retention: delete episodes last active before `cutoff`; what went, with their Zep threads.

        Their turns, episode-linked facts and Zep thread mappings go with them (the mappings'
        thread ids are returned so Zep can be asked to delete the threads); free-standing facts
        created before `cutoff` are deleted too (they are derived from conversations that old), and
        so are erasure markers (no conversation stays open that long).
        """
        cutoff = _aware(cutoff)
        async with self._writing(), self._sessions.begin() as session:
            old = select(EpisodeRow.id).where(EpisodeRow.last_activity_at < cutoff).scalar_subquery()
            await session.execute(delete(MirrorOutboxRow).where(MirrorOutboxRow.session_id.in_(old)))
            await session.execute(delete(TurnRow).where(TurnRow.episode_id.in_(old)))
            await session.execute(delete(FactRow).where(FactRow.episode_id.in_(old)))
            threads = await session.execute(
                delete(ZepThreadRow)
                .where(ZepThreadRow.session_id.in_(old))
                .returning(ZepThreadRow.thread_uuid)
            )
            thread_ids = tuple(sorted(threads.scalars()))
            await session.execute(delete(FactRow).where(FactRow.created_at < cutoff))
            await session.execute(delete(ErasureRow).where(ErasureRow.erased_at < cutoff))
            episodes = await session.execute(delete(EpisodeRow).where(EpisodeRow.last_activity_at < cutoff))
        return Purged(episodes=_count(episodes), zep_threads=thread_ids)

    # --- helpers -------------------------------------------------------------------------------------

    def _subject_ref(self, owner_id: str) -> str:
        return hmac.new(self._subject_key, owner_id.encode(), hashlib.sha256).hexdigest()

    def _turn(self, row: TurnRow) -> Turn:
        return self._turn_of(row.role, row.content, row.agent_id, row.channel, row.created_at)

    def _turn_of(self, role: str, content: str, agent_id: str, channel: str, created_at: datetime) -> Turn:
        return Turn(
            role=role,  # type: ignore[arg-type]
            content=self._cipher.decrypt(content) if self._cipher else content,
            agent_id=agent_id,
            channel=channel,  # type: ignore[arg-type]
            timestamp=_aware(created_at),
        )


# The chat read path's statements, built once: a prebuilt statement keeps its cache key, so
# SQLAlchemy neither rebuilds nor re-keys it per request. Core columns, not ORM entities.
_EPISODES = cast(Table, EpisodeRow.__table__)
_TURNS = cast(Table, TurnRow.__table__)
_FACTS = cast(Table, FactRow.__table__)
_ERASURES = cast(Table, ErasureRow.__table__)
_PROPAGATOR = TraceContextTextMapPropagator()
_SHARED_ERASURE_LOCK = text("SELECT pg_advisory_xact_lock_shared(:space, :key)")
_EXCLUSIVE_ERASURE_LOCK = text("SELECT pg_advisory_xact_lock(:space, :key)")


def _lock_params(subject: str) -> dict[str, int]:
    """The owner's advisory lock: a fixed space and 31 bits of the keyed hash (collisions only wait)."""
    return {"space": _ERASURE_LOCK_SPACE, "key": int(subject[:8], 16) & 0x7FFFFFFF}


_OWNER_AND_ANY_FACT = select(
    select(_EPISODES.c.owner_id).where(_EPISODES.c.id == bindparam("session_id")).scalar_subquery(),
    exists().where(_FACTS.c.owner_id == bindparam("owner_id")),
)
_RECENT_TURNS = (
    select(_TURNS.c.role, _TURNS.c.content, _TURNS.c.agent_id, _TURNS.c.channel, _TURNS.c.created_at)
    .where(_TURNS.c.episode_id == bindparam("session_id"))
    .order_by(_TURNS.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_RECENT_OWNED_TURNS = _RECENT_TURNS.join_from(_TURNS, _EPISODES, _EPISODES.c.id == _TURNS.c.episode_id).where(
    _EPISODES.c.owner_id == bindparam("owner_id")
)


def _insert_or_skip(
    table: Table, columns: Sequence[str], conflict: Sequence[str], returning: Sequence[str], rows: int
) -> TextualSelect:
    """`INSERT .. VALUES (..) x rows ON CONFLICT (conflict) DO NOTHING RETURNING returning`.

    Built as text with binds typed by the table's columns (same conversions as Core), because
    SQLAlchemy never caches its dialect on-conflict inserts: it recompiled them on every chat turn.
    SQLite (>= 3.35) and PostgreSQL both speak this form; the conflict target keeps the exact
    semantics (only that unique key is skipped; NOT NULL or foreign-key failures still raise).
    Binds are named `<column>_<row>` (see `_row_params`).
    """
    values = ", ".join("(" + ", ".join(f":{c}_{i}" for c in columns) + ")" for i in range(rows))
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {values} "  # noqa: S608 - names only
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {', '.join(returning)}"
    )
    binds = [bindparam(f"{c}_{i}", type_=table.c[c].type) for i in range(rows) for c in columns]
    return text(sql).bindparams(*binds).columns(**{name: table.c[name].type for name in returning})


def _row_params(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {f"{key}_{i}": value for i, row in enumerate(rows) for key, value in row.items()}


_EPISODE_COLUMNS = ("id", "owner_id", "tenant_id", "channels", "agents", "started_at", "last_activity_at")
_TURN_COLUMNS = ("episode_id", "role", "content", "agent_id", "channel", "created_at", "source_event_id")
_CREATE_EPISODE = _insert_or_skip(_EPISODES, _EPISODE_COLUMNS, ["id"], ["id"], 1)
_OUTBOX = cast(Table, MirrorOutboxRow.__table__)
_INSERT_OUTBOX = _OUTBOX.insert().values(
    session_id=bindparam("session_id"),
    owner_id=bindparam("owner_id"),
    turn_ids=bindparam("turn_ids", type_=_OUTBOX.c.turn_ids.type),
    created_at=bindparam("created_at"),
    attempts=0,
    trace_parent=bindparam("trace_parent"),
)


def _trace_parent() -> str | None:
    """The current W3C traceparent (None outside a trace), so the outbox's Zep calls join the trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


_LOCK_EPISODE = (
    select(
        _EPISODES.c.owner_id,
        _EPISODES.c.channels,
        _EPISODES.c.agents,
        _EPISODES.c.last_activity_at,
        select(_ERASURES.c.erased_at)
        .where(_ERASURES.c.subject_ref == bindparam("subject"))
        .scalar_subquery(),
    )
    .where(_EPISODES.c.id == bindparam("id"))
    .with_for_update()
)
_TOUCH_EPISODE = update(_EPISODES).where(_EPISODES.c.id == bindparam("key"))
_DROP_EPISODE = delete(_EPISODES).where(_EPISODES.c.id == bindparam("key"))
_INSERT_TURNS: dict[int, TextualSelect] = {}
_INSERT_TURNS_KEPT = 8  # statements kept per row count; larger batches are built per call


def _insert_turns(rows: int) -> TextualSelect:
    """One multi-row INSERT of `rows` turns; RETURNING names the rows really written (id, source
    event id; a repeated source event id of the episode is skipped by uq_turns_episode_source_event)."""
    statement = _INSERT_TURNS.get(rows)
    if statement is None:
        statement = _insert_or_skip(
            _TURNS, _TURN_COLUMNS, ["episode_id", "source_event_id"], ["id", "source_event_id"], rows
        )
        if rows <= _INSERT_TURNS_KEPT:
            _INSERT_TURNS[rows] = statement
    return statement


def _search_facts(owner_id: str, query: str, limit: int, connection: Connection) -> list[Fact]:
    """The owner's facts matching any word of `query`, best first; newest for an empty query."""
    words = _WORD.findall(query.lower())[:_MAX_QUERY_WORDS]
    if not words:
        rows = connection.execute(
            select(_FACTS.c.id, _FACTS.c.text, _FACTS.c.created_at)
            .where(_FACTS.c.owner_id == owner_id)
            .order_by(_FACTS.c.created_at.desc(), _FACTS.c.id.desc())
            .limit(limit)
        )
        return [_fact(r[0], r[1], r[2]) for r in rows]
    if connection.dialect.name == "sqlite":
        # Each word quoted: FTS5 operators and punctuation in user input stay literal.
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        statement = text(
            "SELECT f.id, f.text, f.created_at FROM facts_fts "
            "JOIN facts f ON f.id = facts_fts.rowid "
            "WHERE facts_fts MATCH :match AND f.owner_id = :owner "
            "ORDER BY bm25(facts_fts), f.id DESC LIMIT :limit"
        )
        params: dict[str, Any] = {"match": match, "owner": owner_id, "limit": limit}
    else:
        # plainto_tsquery per word (it strips operators), OR-ed: any word may match.
        ors = " || ".join(f"plainto_tsquery('english', :w{i})" for i in range(len(words)))
        statement = text(
            f"SELECT id, text, created_at FROM facts, (SELECT {ors} AS q) AS query "  # noqa: S608 - binds only
            "WHERE owner_id = :owner AND search_vector @@ q "
            "ORDER BY ts_rank(search_vector, q) DESC, id DESC LIMIT :limit"
        )
        params = {f"w{i}": w for i, w in enumerate(words)} | {"owner": owner_id, "limit": limit}
    typed = statement.columns(id=Integer, text=Text, created_at=DateTime(timezone=True))
    result = connection.execute(typed, params)
    return [_fact(r[0], r[1], r[2]) for r in result.all()]


def _on_connection(session: Session, operation: Callable[[Connection], T]) -> T:
    return operation(session.connection())


def _on_autocommit_connection(session: Session, operation: Callable[[Connection], T]) -> T:
    """Reads without BEGIN and ROLLBACK: two round trips fewer. Under READ COMMITTED (PostgreSQL's
    default) each statement takes its own snapshot inside a transaction too, so reads see the same."""
    return operation(session.connection(execution_options={"isolation_level": "AUTOCOMMIT"}))


def _written(turns: Sequence[NewTurn], new_ids: set[str | None]) -> list[bool]:
    """Which turns the multi-row insert wrote: a turn without a source event id always goes in
    (NULLs never conflict); one with an id went in when RETURNING named it, once per batch."""
    seen: set[str] = set()
    written: list[bool] = []
    for turn in turns:
        source = turn.source_event_id
        if source is None:
            written.append(True)
            continue
        written.append(source in new_ids and source not in seen)
        seen.add(source)
    return written


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


def _fact(id_: int, text_: str, created_at: datetime | None) -> Fact:
    return Fact(id=str(id_), text=text_, created_at=_aware(created_at) if created_at else None)


def _episode(row: EpisodeRow, turns: list[Turn]) -> Episode:
    return Episode(
        id=row.id,
        owner_id=row.owner_id,
        tenant_id=row.tenant_id,
        agents=list(row.agents or []),
        channels=list(row.channels or []),
        started_at=_aware(row.started_at),
        last_activity_at=_aware(row.last_activity_at),
        turns=turns,
    )
