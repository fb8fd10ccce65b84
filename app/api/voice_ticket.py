"""`POST /api/v1/voice/ticket`: a single-use, short-lived ticket to open the voice websocket."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import TicketsDep
from app.security.deps import VoiceStarter
from app.security.tickets import TICKET_TTL

router = APIRouter(prefix="/api/v1/voice", tags=["voice"])


class TicketResponse(BaseModel):
    ticket: str
    expires_at: datetime
    ttl_seconds: int
    subprotocol: str  # offer this (after `engram.v1`) in Sec-WebSocket-Protocol, or use ?ticket=


@router.post("/ticket", response_model=TicketResponse, operation_id="voice-ticket")
async def issue_ticket(identity: VoiceStarter, tickets: TicketsDep) -> TicketResponse:
    """A ticket for one voice websocket, valid for a few seconds and redeemable once."""
    ticket, expires = await tickets.issue(identity)
    return TicketResponse(
        ticket=ticket,
        expires_at=expires,
        ttl_seconds=int(TICKET_TTL.total_seconds()),
        subprotocol=f"ticket.{ticket}",
    )
