"""Audit test data and the tampering a database administrator could do (lift the guard, change rows)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import AuditEvent

KEY = b"test-pseudonym-key"


def http_event(n: int, user: str = "alice") -> AuditEvent:
    return AuditEvent(
        event="http",
        user_id=user,
        tenant_id="t1",
        roles=["user"],
        request_id=f"r{n}",
        method="GET",
        route="/api/v1/things/{thing_id}",
        status=200,
        latency_ms=1.2345 + n,
        client_ip="203.0.113.7",
    )


async def tamper(engine: AsyncEngine, statement: str) -> None:
    """A DBA with full rights: lift the append-only guard, change the data."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            await conn.execute(text("DROP TRIGGER audit_log_no_update"))
            await conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        await conn.execute(text(statement))
