"""`/api/v1/chat`: one reply, or the same reply streamed as Server-Sent Events.

`DELETE /api/v1/chat/session/{id}` clears a session: the caller's episode (turns, the facts taken
from it, its Zep thread) is deleted and the deletion audited.

Stream events: `delta` (`{"content": "..."}`) as the model produces text, then `done` with the
same metadata as the JSON reply; a failure after the stream started ends it with `error`
(`{"status": 504, "detail": "..."}`). Failures before the first byte are plain HTTP errors.
A client that disconnects mid-stream (the UI's Stop) stops the model call; nothing of that exchange
is stored, so the episode never holds a half answer.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.agents import AgentNotFound
from app.agents.catalogue import DEFAULT_AGENT_ID
from app.api.contract import AGENT_ID_PATTERN, NOT_BLANK, SessionIdPath, not_blank
from app.api.deps import AuditDep, ChatServiceDep, LimiterDep, MemoryDep
from app.audit.trail import AuditEvent
from app.chat.gateway import GatewayError, GatewayThrottled
from app.chat.service import ChatReply, SessionNotFound
from app.security.deps import ChatCaller, OwnMemory, SettingsDep
from app.security.limiter import Limiter
from app.security.privacy import MIRROR_SETTLE_SECONDS

log = logging.getLogger("engram.api.chat")

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])

ChatIdentity = ChatCaller  # CHAT permission + the per-user chat rate limit (429 + Retry-After)


class ChatRequest(BaseModel):
    model_config = ConfigDict(strict=True)  # as the schema says: no numbers for strings

    content: str = Field(
        min_length=1,
        json_schema_extra=NOT_BLANK,
        description="The user's message (not blank; at most CHAT_MAX_CONTENT_CHARS characters).",
    )
    agent_id: str = Field(
        DEFAULT_AGENT_ID,
        min_length=1,
        max_length=64,
        pattern=AGENT_ID_PATTERN,
        description="Which agent answers.",
    )
    session_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Continue this session (chat and voice share it); a new one when absent.",
    )

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        not_blank(value, "content")
        return value


class ChatResponse(BaseModel):
    message_id: str
    session_id: str
    agent_id: str
    agent_name: str
    content: str
    timestamp: datetime
    tokens_used: int | None
    latency_ms: float

    @classmethod
    def of(cls, reply: ChatReply) -> ChatResponse:
        return cls(**reply.__dict__)


_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"description": "Unknown agent, or the session belongs to someone else."},
    422: {"description": "Empty or oversized content."},
    429: {
        "description": "The caller's chat rate, the deployment's token budget, or the AI gateway's own "
        "throttling; see Retry-After."
    },
    502: {"description": "The AI gateway failed."},
    503: {"description": "Chat is not configured (AZURE_AI_ENDPOINT)."},
    504: {"description": "The model did not answer in time."},
}


def _check_size(body: ChatRequest, limit: int) -> None:
    if len(body.content) > limit:
        # Same shape as pydantic's 422s, without echoing the content.
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "content"],
                    "msg": f"content is longer than {limit} characters (CHAT_MAX_CONTENT_CHARS)",
                    "type": "string_too_long",
                }
            ],
        )


def _http_error(exc: Exception) -> HTTPException:
    if isinstance(exc, AgentNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, SessionNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    if isinstance(exc, GatewayThrottled):
        return HTTPException(
            exc.status, exc.message, headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        )
    if isinstance(exc, GatewayError):
        return HTTPException(exc.status, exc.message)
    raise exc


@router.post("", response_model=ChatResponse, operation_id="chat-send", responses=_ERRORS)
async def send(
    body: ChatRequest,
    identity: ChatIdentity,
    service: ChatServiceDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> ChatResponse:
    """Send a message to an agent and get its reply (recorded in the session's episode)."""
    _check_size(body, settings.chat_max_content_chars)
    try:
        reply = await service.reply(identity, body.content, body.agent_id, body.session_id)
    except (AgentNotFound, SessionNotFound, GatewayError) as exc:
        raise _http_error(exc) from None
    _spend(limiter, body.content, reply)
    return ChatResponse.of(reply)


def _spend(limiter: Limiter, question: str, reply: ChatReply) -> None:
    """Count the reply's tokens against the deployment's budget (about 4 characters a token when the
    gateway reported no usage)."""
    limiter.spend_tokens(reply.tokens_used or (len(question) + len(reply.content)) // 4)


@router.post(
    "/stream",
    operation_id="chat-stream",
    responses={200: {"content": {"text/event-stream": {}}}, **_ERRORS},
    response_class=StreamingResponse,
)
async def stream(
    body: ChatRequest,
    identity: ChatIdentity,
    service: ChatServiceDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> StreamingResponse:
    """The same reply as Server-Sent Events: `delta`s as they arrive, then `done` with the metadata."""
    _check_size(body, settings.chat_max_content_chars)
    try:
        _, _, events = await service.open_stream(identity, body.content, body.agent_id, body.session_id)
    except (AgentNotFound, SessionNotFound, GatewayError) as exc:
        raise _http_error(exc) from None
    return StreamingResponse(
        _sse(events, lambda reply: _spend(limiter, body.content, reply)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


async def _sse(
    events: AsyncGenerator[str | ChatReply], done: Callable[[ChatReply], None]
) -> AsyncIterator[str]:
    # aclosing: when the client goes away the chain down to the model's stream is closed at once.
    try:
        async with aclosing(events) as stream:
            async for item in stream:
                if isinstance(item, ChatReply):
                    done(item)
                    yield _event("done", ChatResponse.of(item).model_dump(mode="json"))
                else:
                    yield _event("delta", {"content": item})
    except GatewayError as exc:
        yield _event("error", {"status": exc.status, "detail": exc.message})
    except SessionNotFound:
        yield _event("error", {"status": 404, "detail": "no such session"})


class SessionCleared(BaseModel):
    success: bool
    message: str


@router.delete(
    "/session/{session_id}",
    response_model=SessionCleared,
    operation_id="chat-clear-session",
    responses={404: {"description": "No such session (or not the caller's)."}},
)
async def clear_session(
    session_id: SessionIdPath, identity: OwnMemory, memory: MemoryDep, audit: AuditDep, request: Request
) -> SessionCleared:
    """Delete the caller's session: its turns, the facts taken from it and its Zep thread (audited)."""
    owner = await memory.store.episode_owner(session_id) if len(session_id) <= 64 else None
    if owner is None or owner != identity.user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    if memory.queue is not None:  # queued Zep writes land first, so the thread goes with them
        await memory.queue.settle_owner(identity.user_id, MIRROR_SETTLE_SECONDS)
    deleted = await memory.store.delete_episode(session_id)
    zep = "not_configured"
    if memory.mirror is not None:
        _, failed = await memory.mirror.delete_threads(deleted.zep_threads)
        zep = "failed" if failed else "requested"
    await audit.append(
        AuditEvent.by(
            identity,
            "session_delete",
            getattr(request.state, "request_id", None),
            {
                "turns": deleted.turns,
                "facts": deleted.facts,
                "zep_threads": len(deleted.zep_threads),
                "zep": zep,
            },
        )
    )
    return SessionCleared(
        success=True, message=f"session deleted ({deleted.turns} turns, {deleted.facts} facts)"
    )
