"""Admin routes for consented voice recordings: list a session's recordings, get a short-lived read link.

Both are reads of personal data, so each use leaves its own audit record (who, whose recordings by
pseudonym, which recording and part, and until when the link is valid), whatever AUDIT_LOG_ENABLED
says. A link names one part of one recording; blob paths are built here, never taken from the caller.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from app.api.contract import SESSION_ID_PATTERN, JsonInt, SessionIdPath, UtcDateTime, errors
from app.api.deps import ServicesDep
from app.audit.trail import AuditEvent
from app.memory.runtime import MemoryRuntime
from app.recordings.store import MAX_LINK_SECONDS, StoredBlob
from app.security.deps import RecordingReader

router = APIRouter(prefix="/api/v1/admin/recordings", tags=["admin"])

PartName = Literal["user.wav", "agent.wav", "markers.json"]


class RecordingPart(BaseModel):
    part: str
    size: int
    last_modified: UtcDateTime


class Recording(BaseModel):
    recording_id: str
    consent_at: str | None  # ISO 8601, from the blob's metadata
    ended_at: str | None
    complete: bool | None  # false: frames were dropped (the writer fell behind)
    parts: list[RecordingPart]


class RecordingList(BaseModel):
    store_configured: bool  # false: RECORDING_STORAGE_URL is not set, so nothing was ever recorded here
    session_id: str
    user_ref: str  # the owner's pseudonym (as in the audit trail)
    items: list[Recording]


class LinkRequest(BaseModel):
    model_config = ConfigDict(strict=True)

    session_id: str = Field(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN)
    recording_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    part: PartName = Field(description="user.wav (microphone), agent.wav (agent audio) or markers.json.")
    user_id: str | None = Field(
        None, min_length=1, max_length=128, description="The owner; the session's episode owner when absent."
    )
    ttl_seconds: JsonInt = Field(300, ge=1, le=MAX_LINK_SECONDS, description="How long the link works.")


class ReadLink(BaseModel):
    url: str  # carries a SAS: share it with no one, it reads the recording until it expires
    expires_at: UtcDateTime


# `services.recordings.store` is None when no store is configured: then no recording exists (the guard
# refuses consent mode without one), so lists are empty and links not found, each saying why.


async def _owner(memory: MemoryRuntime, session_id: str, user_id: str | None) -> str:
    if user_id is not None:
        return user_id
    owner = await memory.store.episode_owner(session_id)
    if owner is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "no episode has this session id (it may have been purged); pass user_id to name the owner",
        )
    return owner


def _group(blobs: list[StoredBlob]) -> list[Recording]:
    by_id: dict[str, list[StoredBlob]] = {}
    for blob in blobs:
        by_id.setdefault(blob.recording_id, []).append(blob)
    items = []
    for recording_id, parts in sorted(by_id.items()):
        meta = next((p.metadata for p in parts if p.metadata), {})
        complete = meta.get("complete")
        items.append(
            Recording(
                recording_id=recording_id,
                consent_at=meta.get("consent_at"),
                ended_at=meta.get("ended_at"),
                complete=None if complete is None else complete == "true",
                parts=[RecordingPart(part=p.part, size=p.size, last_modified=p.last_modified) for p in parts],
            )
        )
    return items


@router.get(
    "/sessions/{session_id}",
    response_model=RecordingList,
    operation_id="admin-recordings-list",
    responses=errors(403, 404),
)
async def list_recordings(
    request: Request,
    admin: RecordingReader,
    services: ServicesDep,
    session_id: SessionIdPath,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=128, description="The owner (default: the episode's).")
    ] = None,
) -> RecordingList:
    """The consented recordings of one session (audited)."""
    store = services.recordings.store
    owner = await _owner(services.memory, session_id, user_id)
    trail = services.audit
    user_ref = trail.user_ref(owner)
    try:
        blobs = await store.list_session(user_ref, session_id) if store is not None else []
    except ValueError:  # not a session id a recording can have (blob name rules)
        blobs = []
    items = _group(blobs)
    await trail.append(
        AuditEvent.by(
            admin,
            "recording_list",
            getattr(request.state, "request_id", None),
            {"subject": user_ref, "session_id": session_id, "recordings": len(items)},
        )
    )
    return RecordingList(
        store_configured=store is not None, session_id=session_id, user_ref=user_ref, items=items
    )


@router.post(
    "/link", response_model=ReadLink, operation_id="admin-recordings-link", responses=errors(403, 404)
)
async def read_link(
    request: Request, admin: RecordingReader, services: ServicesDep, body: LinkRequest
) -> ReadLink:
    """A short-lived read-only link to one part of one recording (audited)."""
    store = services.recordings.store
    if store is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no recordings store is configured, so no recordings")
    owner = await _owner(services.memory, body.session_id, body.user_id)
    trail = services.audit
    user_ref = trail.user_ref(owner)
    try:
        blobs = await store.list_session(user_ref, body.session_id)
    except ValueError:
        blobs = []
    match = next((b for b in blobs if b.recording_id == body.recording_id and b.part == body.part), None)
    if match is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such recording part in this session")
    url, expires_at = await store.read_link(match.name, body.ttl_seconds)
    await trail.append(
        AuditEvent.by(
            admin,
            "recording_read",
            getattr(request.state, "request_id", None),
            {
                "subject": user_ref,
                "session_id": body.session_id,
                "recording_id": body.recording_id,
                "part": body.part,
                "expires_at": expires_at.isoformat(),
            },
        )
    )
    return ReadLink(url=url, expires_at=expires_at)
