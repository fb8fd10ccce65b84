"""`/api/v1/memory`: read back episodes (the SOP's validation read-back), search and add facts.

A caller sees only their own episodes; someone else's session id answers 404 exactly like one that
does not exist. Admins (memory:any) see every episode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field, field_validator

from app.memory.sql import SqlMemoryStore
from app.memory.store import Episode, Fact
from app.security.deps import require
from app.security.identity import Identity, Permission

router = APIRouter(prefix="/api/v1/memory", tags=["memory"])

ReaderIdentity = Annotated[Identity, Depends(require(Permission.MEMORY_OWN))]
SearchIdentity = Annotated[Identity, Depends(require(Permission.MEMORY_SEARCH))]
FactsIdentity = Annotated[Identity, Depends(require(Permission.MEMORY_FACTS))]

MAX_FACT_CHARS = 2000


async def get_store(request: Request) -> SqlMemoryStore:
    store: SqlMemoryStore = request.app.state.memory.store
    return store


StoreDep = Annotated[SqlMemoryStore, Depends(get_store)]


class TurnOut(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    agent_id: str
    channel: Literal["chat", "voice"]
    timestamp: datetime


class EpisodeSummary(BaseModel):
    id: str
    agents: list[str]
    channels: list[str]
    started_at: datetime
    last_activity_at: datetime


class EpisodeOut(EpisodeSummary):
    turns: list[TurnOut]


class EpisodePage(BaseModel):
    items: list[EpisodeSummary]
    total: int
    limit: int
    offset: int


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=500)
    limit: int = Field(10, ge=1, le=50)


class FactIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_FACT_CHARS)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be empty")
        return value.strip()


class FactOut(BaseModel):
    id: str
    text: str
    created_at: datetime | None
    source: Literal["sql", "zep"]

    @classmethod
    def of(cls, fact: Fact) -> FactOut:
        return cls(id=fact.id, text=fact.text, created_at=fact.created_at, source=fact.source)


def _summary(episode: Episode) -> EpisodeSummary:
    return EpisodeSummary(
        id=episode.id,
        agents=episode.agents,
        channels=episode.channels,
        started_at=episode.started_at,
        last_activity_at=episode.last_activity_at,
    )


@router.get("/episodes", response_model=EpisodePage, operation_id="memory-list-episodes")
async def list_episodes(
    identity: ReaderIdentity,
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
    return EpisodePage(items=[_summary(e) for e in items], total=total, limit=limit, offset=offset)


@router.get(
    "/episodes/{session_id}",
    response_model=EpisodeOut,
    operation_id="memory-get-episode",
    responses={404: {"description": "No such episode (or not yours)."}},
)
async def get_episode(session_id: str, identity: ReaderIdentity, store: StoreDep) -> EpisodeOut:
    """One episode with all its turns, in order, across chat and voice."""
    episode = await store.get_episode(session_id) if len(session_id) <= 64 else None
    if episode is None or (episode.owner_id != identity.user_id and not identity.can(Permission.MEMORY_ANY)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such episode")
    summary = _summary(episode)
    return EpisodeOut(
        **summary.model_dump(),
        turns=[
            TurnOut(
                role=t.role, content=t.content, agent_id=t.agent_id, channel=t.channel, timestamp=t.timestamp
            )
            for t in episode.turns
        ],
    )


@router.post("/search", response_model=list[FactOut], operation_id="memory-search")
async def search(body: SearchRequest, identity: SearchIdentity, store: StoreDep) -> list[FactOut]:
    """The caller's facts matching the query, best first."""
    return [FactOut.of(f) for f in await store.search_facts(identity.user_id, body.query, body.limit)]


@router.post(
    "/facts", response_model=FactOut, status_code=status.HTTP_201_CREATED, operation_id="memory-add-fact"
)
async def add_fact(body: FactIn, identity: FactsIdentity, store: StoreDep) -> FactOut:
    """Remember a fact about the caller (used in later conversations)."""
    fact = await store.add_fact(identity.user_id, body.text, tenant_id=identity.tenant_id)
    return FactOut.of(fact)
