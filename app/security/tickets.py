"""Short-lived, single-use websocket tickets.

Browsers cannot put an `Authorization` header on a websocket. Instead of a long-lived token in the
URL (it would land in proxy and access logs), an authenticated client asks
`POST /api/v1/voice/ticket` for a ticket and opens the socket with `?ticket=<t>` or the subprotocol
`ticket.<t>`. Tickets live in the database (so any replica can redeem one), only as their SHA-256,
expire after `TICKET_TTL`, and a redeem is a conditional DELETE: exactly one caller wins. The owner's
id is also a column, so an erasure can delete the user's unredeemed tickets (`revoke_user`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.tables import WsTicketRow
from app.security.identity import Identity, Role

TICKET_TTL = timedelta(seconds=30)  # long enough to open a socket, too short to be worth stealing


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class TicketStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def issue(self, identity: Identity, now: datetime | None = None) -> tuple[str, datetime]:
        """A fresh ticket for `identity` and when it expires; expired tickets are swept on the way."""
        now = now or datetime.now(UTC)
        ticket = secrets.token_urlsafe(32)
        expires = now + TICKET_TTL
        async with self._sessions.begin() as session:
            await session.execute(delete(WsTicketRow).where(WsTicketRow.expires_at < now))
            session.add(
                WsTicketRow(
                    ticket_hash=_digest(ticket),
                    identity={
                        "user_id": identity.user_id,
                        "tenant_id": identity.tenant_id,
                        "roles": sorted(identity.roles),
                        "auth_method": identity.auth_method,
                    },
                    expires_at=expires,
                    user_id=identity.user_id,
                )
            )
        return ticket, expires

    async def redeem(self, ticket: str, now: datetime | None = None) -> Identity | None:
        """The identity the ticket was issued to, once; None when unknown, used or expired."""
        now = now or datetime.now(UTC)
        digest = _digest(ticket)
        async with self._sessions.begin() as session:
            row = (
                await session.execute(select(WsTicketRow).where(WsTicketRow.ticket_hash == digest))
            ).scalar_one_or_none()
            if row is None:
                return None
            stored = dict(row.identity)
            expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
            result = await session.execute(delete(WsTicketRow).where(WsTicketRow.ticket_hash == digest))
            if result.rowcount != 1 or expires <= now:  # type: ignore[attr-defined]
                return None
        return Identity(
            user_id=str(stored["user_id"]),
            tenant_id=None if stored.get("tenant_id") is None else str(stored["tenant_id"]),
            roles=frozenset(Role(r) for r in stored.get("roles", [])),  # type: ignore[attr-defined]
            auth_method=f"ticket:{stored.get('auth_method')}",
        )

    async def revoke_user(self, user_id: str) -> int:
        """Delete the user's unredeemed tickets (erasure); returns how many went.

        Rows without an owner column (issued by a replica still on the pre-0004 code) go too: they
        cannot be attributed, and the worst case is one client asking for a fresh ticket.
        """
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(WsTicketRow).where(or_(WsTicketRow.user_id == user_id, WsTicketRow.user_id.is_(None)))
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
