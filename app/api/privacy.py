"""`DELETE /api/v1/memory/users/me`: a user erases everything Engram stores about them (GDPR)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.api.deps import Services, ServicesDep
from app.security.deps import OwnMemory
from app.security.identity import Identity
from app.security.privacy import erase_user

router = APIRouter(prefix="/api/v1/memory", tags=["memory"])


class ErasureResponse(BaseModel):
    # episodes, turns, facts, tickets (unredeemed websocket tickets), usage_rows_anonymised (usage
    # rows kept as anonymous aggregates)
    removed: dict[str, int]
    zep: Literal["requested", "failed", "not_configured"]  # Zep deletes asynchronously once requested
    # Voice recordings (removed["recordings"] counts the blobs); "failed": ask again, erasure is idempotent.
    recordings: Literal["deleted", "failed", "not_configured"] = "not_configured"


@router.delete("/users/me", response_model=ErasureResponse, operation_id="memory-erase-me")
async def erase_me(request: Request, identity: OwnMemory, services: ServicesDep) -> ErasureResponse:
    """Erase the caller's memory and tickets, end their voice sessions, and ask Zep to delete their user."""
    return await erase_for(services, request, identity.user_id, identity)


async def erase_for(services: Services, request: Request, user_id: str, actor: Identity) -> ErasureResponse:
    """Erase `user_id` from every service that holds something of theirs (`erase_user` says the order)."""
    result = await erase_user(
        user_id,
        store=services.memory.store,
        zep=services.memory.mirror,
        trail=services.audit,
        actor=actor,
        request_id=getattr(request.state, "request_id", None),
        pending=services.memory.queue,
        voice=services.voice,
        tickets=services.tickets,
        usage=services.usage,
        recordings=services.recordings.store,
    )
    return ErasureResponse(removed=result.removed, zep=result.zep, recordings=result.recordings)
