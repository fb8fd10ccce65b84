"""The `MemoryStore` contract shared by chat, voice and the memory routes.

`SqlMemoryStore` (`app/memory/sql.py`, the system of record) implements it; callers name the
protocol, so mypy proves the store keeps it wherever one is passed in (`app/memory/runtime.py`). The
Zep mirror is fed from the store's outbox and is not a `MemoryStore`. Chat and voice with the same
session id write into one episode; the owner of an episode is the user who opened it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

Role = Literal["user", "assistant"]
Channel = Literal["chat", "voice"]


@dataclass(frozen=True)
class NewTurn:
    """A turn to record. `source_event_id` makes a write idempotent within its episode."""

    session_id: str
    owner_id: str
    tenant_id: str | None
    role: Role
    content: str
    agent_id: str
    channel: Channel
    source_event_id: str | None = None
    created_at: datetime | None = None  # now, when not given
    # When the conversation that produced the turn began (a voice socket's start); defaults to the
    # earliest `created_at`. A write from a conversation opened before its owner's erasure is refused.
    opened_at: datetime | None = None


@dataclass(frozen=True)
class Turn:
    role: Role
    content: str
    agent_id: str
    channel: Channel
    timestamp: datetime


@dataclass(frozen=True)
class Episode:
    id: str
    owner_id: str
    tenant_id: str | None
    agents: list[str]
    channels: list[str]
    started_at: datetime
    last_activity_at: datetime
    turns: list[Turn] = field(default_factory=list)


@dataclass(frozen=True)
class Fact:
    id: str
    text: str
    created_at: datetime | None
    source: Literal["sql", "zep"] = "sql"


class ContentCipher(Protocol):
    """Application-level encryption of transcript content at rest (implemented in app.security)."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, stored: str) -> str: ...


class EpisodeOwnedByAnother(Exception):
    """The session id belongs to another user's episode; callers answer 404, never reveal it."""


class OwnerErased(EpisodeOwnedByAnother):
    """The writer's data was erased after this conversation began: the write is refused, so a late
    write (another replica's open session, a request in flight) cannot re-create erased memory."""


@dataclass(frozen=True)
class Purged:
    """What a retention purge removed: the episode count, and the Zep threads that mirrored them
    (collected before their mapping rows went, so Zep can be asked to delete them)."""

    episodes: int
    zep_threads: tuple[str, ...] = ()


@dataclass(frozen=True)
class EpisodeDigest:
    """What an episode listing shows besides the episode row (see `MemoryStore.episode_digests`)."""

    turn_count: int
    first_user_line: str  # the first non-blank line of the first user turn, trimmed; "" when none
    last_agent: str | None  # the agent of the last turn; None when the episode has no turns


@dataclass(frozen=True)
class DeletedEpisode:
    """What `MemoryStore.delete_episode` removed."""

    episodes: int
    turns: int
    facts: int
    zep_threads: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatMemory:
    """What a chat turn reads (see `MemoryStore.chat_memory`)."""

    owner_id: str | None  # None: the episode does not exist yet
    turns: list[Turn]
    facts: list[Fact]


class MemoryStore(Protocol):
    async def append_turn(self, turn: NewTurn) -> bool:
        """Record a turn; False when `source_event_id` was already recorded (nothing written)."""
        ...

    async def append_turns(self, turns: Sequence[NewTurn]) -> list[bool]:
        """Record turns of one session and owner in one transaction (a question and its answer);
        per turn, whether it was written."""
        ...

    async def chat_memory(
        self, session_id: str, owner_id: str, query: str, *, turns: int, facts: int
    ) -> ChatMemory:
        """What one chat turn reads: the episode's owner, its last `turns` turns and up to `facts`
        facts matching `query`. Raises `EpisodeOwnedByAnother` for another user's session id."""
        ...

    async def recent_turns(self, session_id: str, limit: int) -> list[Turn]:
        """The last `limit` turns of the session, oldest first."""
        ...

    async def get_episode(self, session_id: str, *, with_turns: bool = True) -> Episode | None: ...

    async def episode_owner(self, session_id: str) -> str | None:
        """Who owns the session's episode; None when it does not exist yet."""
        ...

    async def list_episodes(self, owner_id: str | None, limit: int = 50, offset: int = 0) -> list[Episode]:
        """Episodes (without turns), most recent first; `owner_id=None` means everyone's (admins)."""
        ...

    async def count_episodes(self, owner_id: str | None) -> int: ...

    async def episode_digests(self, session_ids: Sequence[str]) -> dict[str, EpisodeDigest]:
        """Per episode: its turn count, its first user line and the agent of its last turn."""
        ...

    async def delete_episode(self, session_id: str) -> DeletedEpisode:
        """Delete one episode, its turns, the facts taken from it and its Zep thread mapping."""
        ...

    async def add_fact(
        self, owner_id: str, text_: str, *, tenant_id: str | None = None, episode_id: str | None = None
    ) -> Fact: ...

    async def search_facts(self, owner_id: str, query: str, limit: int) -> list[Fact]:
        """The owner's facts matching any word of `query`, best first (newest first when empty)."""
        ...

    async def erase_owner(self, owner_id: str) -> dict[str, int]:
        """Delete all the owner's memory (GDPR erasure); counts of removed episodes, turns, facts."""
        ...

    async def purge_before(self, cutoff: datetime) -> Purged:
        """Retention: delete episodes last active before `cutoff`; what went (see `Purged`)."""
        ...
