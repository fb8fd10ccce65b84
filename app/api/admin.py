"""Admin routes: read the audit trail, erase any user. (Metrics live in `admin_metrics`.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from app.api.contract import Rfc3339, UtcDateTime
from app.api.deps import AuditDep, ServicesDep
from app.api.privacy import ErasureResponse, erase_for
from app.audit.trail import AuditRecord
from app.security.deps import AnyUserEraser, AuditReader

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

MAX_PAGE = 500
MAX_SEQ = 2**63 - 1  # the largest BIGINT (SQLite INTEGER); larger values cannot be bound


class AuditEntry(BaseModel):
    seq: int
    at: UtcDateTime
    event: str
    request_id: str | None
    user_ref: str | None  # keyed hash of the user id, never the id itself
    tenant_id: str | None
    roles: list[str]
    method: str | None
    route: str | None
    status: int | None
    latency_ms: float | None
    client_ip: str | None
    detail: dict[str, object]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, record: AuditRecord) -> AuditEntry:
        values = {**record.__dict__, "roles": [r for r in record.roles.split(",") if r]}
        return cls(**values)


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_after: int | None  # pass as `after` for the next page; null on the last page


@router.get("/audit", response_model=AuditPage, operation_id="admin-audit")
async def read_audit(
    _admin: AuditReader,
    trail: AuditDep,
    user_id: Annotated[str | None, Query(max_length=128, description="Only this user's records.")] = None,
    since: Annotated[Rfc3339 | None, Query(description="From this time (inclusive), RFC 3339.")] = None,
    until: Annotated[Rfc3339 | None, Query(description="Before this time, RFC 3339.")] = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Records after this seq (pagination).")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AuditPage:
    """Audit records in chain order, filtered by user and time, one page at a time."""
    since, until = _utc(since), _utc(until)  # since after until is an empty window: no records
    records = await trail.query(user_id=user_id, since=since, until=until, after_seq=after, limit=limit)
    return AuditPage(
        items=[AuditEntry.of(r) for r in records],
        next_after=records[-1].seq if len(records) == limit else None,
    )


def _utc(value: datetime | None) -> datetime | None:
    """Times without a zone are taken as UTC (the trail's clock)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.delete("/users/{user_id}", response_model=ErasureResponse, operation_id="admin-erase-user")
async def erase_any_user(
    request: Request,
    admin: AnyUserEraser,
    services: ServicesDep,
    user_id: Annotated[str, Path(min_length=1, max_length=128)],
) -> ErasureResponse:
    """Erase a user's episodes, turns and facts, and ask Zep to delete the user."""
    return await erase_for(services, request, user_id, admin)
