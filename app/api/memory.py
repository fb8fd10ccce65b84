"""`/api/v1/memory`: read back episodes (the SOP's validation read-back), search and add facts.

A caller sees only their own episodes; someone else's session id answers 404 exactly like one that
does not exist. Admins (memory:any) see every episode.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.contract import NOT_BLANK, JsonInt, SessionIdPath, UtcDateTime, errors, not_blank
from app.api.deps import StoreDep
from app.memory.store import Episode, EpisodeDigest, Fact
from app.security.deps import FactWriter, MemorySearcher, OwnMemory
from app.security.identity import Permission

router = APIRouter(prefix="/api/v1/memory", tags=["memory"])

MAX_FACT_CHARS = 2000


class TurnMetadata(BaseModel):
    agent_id: str
    channel: Literal["chat", "voice"]
    timestamp: UtcDateTime


class TranscriptLine(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    metadata: TurnMetadata


class EpisodeSummary(BaseModel):
    id: str
    summary: str = Field(description="The first line the user said, trimmed (empty when none yet).")
    turn_count: int
    agent_id: str | None = Field(description="The agent of the last turn (null when there are no turns).")
    started_at: datetime
    ended_at: datetime = Field(description="The last activity in the episode.")
    topics: list[str] = Field(description="Always empty today; kept for the Engram web client.")
    agents: list[str]
    channels: list[str]
    last_activity_at: datetime


class EpisodeOut(BaseModel):
    id: str
    transcript: list[TranscriptLine]
    summary: str
    turn_count: int
    agent_id: str | None
    started_at: datetime
    ended_at: datetime
    agents: list[str]
    channels: list[str]


class EpisodePage(BaseModel):
    episodes: list[EpisodeSummary]
    total_count: int
    limit: int
    offset: int


class SearchRequest(BaseModel):
    model_config = ConfigDict(strict=True)  # as the schema says: `limit` is an integer, not `true`

    query: str = Field(min_length=1, max_length=500)
    limit: JsonInt = Field(10, ge=1, le=50)


class SearchResult(BaseModel):
    id: str
    content: str
    node_type: Literal["fact"]
    confidence: float = Field(ge=0, le=1, description="Facts are stored as stated: 1.0.")
    created_at: UtcDateTime | None
    metadata: dict[str, str] = Field(description='Where the fact came from: {"source": "sql" | "zep"}.')

    @classmethod
    def of(cls, fact: Fact) -> SearchResult:
        return cls(
            id=fact.id,
            content=fact.text,
            node_type="fact",
            confidence=1.0,
            created_at=fact.created_at,
            metadata={"source": fact.source},
        )


class SearchResponse(BaseModel):
    results: list[SearchResult]
    total_count: int
    query_time_ms: float


class FactIn(BaseModel):
    model_config = ConfigDict(strict=True)

    content: str = Field(
        min_length=1, max_length=MAX_FACT_CHARS, json_schema_extra=NOT_BLANK, description="The fact."
    )
    metadata: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        max_length=20,
        description="Accepted for the Engram web client's shape; not stored.",
    )

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return not_blank(value, "content")


class FactAdded(BaseModel):
    success: bool
    node_id: str
    message: str


def _summary(episode: Episode, digest: EpisodeDigest) -> EpisodeSummary:
    return EpisodeSummary(
        id=episode.id,
        summary=digest.first_user_line,
        turn_count=digest.turn_count,
        agent_id=digest.last_agent,
        started_at=episode.started_at,
        ended_at=episode.last_activity_at,
        topics=[],
        agents=episode.agents,
        channels=episode.channels,
        last_activity_at=episode.last_activity_at,
    )


@router.get(
    "/episodes", response_model=EpisodePage, operation_id="memory-list-episodes", responses=errors(403)
)
async def list_episodes(
    identity: OwnMemory,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    all_users: Annotated[bool, Query(alias="all", description="Admins: everyone's episodes.")] = False,
) -> EpisodePage:
    """The caller's episodes, most recent first (admins may ask for everyone's with `all=true`)."""
    if all_users and not identity.can(Permission.MEMORY_ANY):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "all=true needs the memory:any permission")
    owner = None if all_users else identity.user_id
    items = await store.list_episodes(owner, limit=limit, offset=offset)
    total = await store.count_episodes(owner)
    digests = await store.episode_digests([e.id for e in items])
    return EpisodePage(
        episodes=[_summary(e, digests[e.id]) for e in items], total_count=total, limit=limit, offset=offset
    )


@router.get(
    "/episodes/{session_id}",
    response_model=EpisodeOut,
    operation_id="memory-get-episode",
    responses=errors(403, 404),
)
async def get_episode(session_id: SessionIdPath, identity: OwnMemory, store: StoreDep) -> EpisodeOut:
    """One episode with its whole transcript, in order, across chat and voice."""
    episode = await store.get_episode(session_id)
    if episode is None or (episode.owner_id != identity.user_id and not identity.can(Permission.MEMORY_ANY)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such episode")
    digest = (await store.episode_digests([episode.id]))[episode.id]
    summary = _summary(episode, digest)
    return EpisodeOut(
        id=episode.id,
        transcript=[
            TranscriptLine(
                role=t.role,
                content=t.content,
                metadata=TurnMetadata(agent_id=t.agent_id, channel=t.channel, timestamp=t.timestamp),
            )
            for t in episode.turns
        ],
        summary=summary.summary,
        turn_count=summary.turn_count,
        agent_id=summary.agent_id,
        started_at=summary.started_at,
        ended_at=summary.ended_at,
        agents=summary.agents,
        channels=summary.channels,
    )


@router.post("/search", response_model=SearchResponse, operation_id="memory-search", responses=errors(403))
async def search(body: SearchRequest, identity: MemorySearcher, store: StoreDep) -> SearchResponse:
    """The caller's facts matching the query, best first."""
    started = time.perf_counter()
    found = await store.search_facts(identity.user_id, body.query, body.limit)
    return SearchResponse(
        results=[SearchResult.of(f) for f in found],
        total_count=len(found),
        query_time_ms=round((time.perf_counter() - started) * 1000, 2),
    )


@router.post(
    "/facts",
    response_model=FactAdded,
    status_code=status.HTTP_201_CREATED,
    operation_id="memory-add-fact",
    responses=errors(403),
)
async def add_fact(body: FactIn, identity: FactWriter, store: StoreDep) -> FactAdded:
    """Remember a fact about the caller (used in later conversations)."""
    fact = await store.add_fact(identity.user_id, body.content, tenant_id=identity.tenant_id)
    return FactAdded(success=True, node_id=fact.id, message="fact stored")
