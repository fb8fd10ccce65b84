"""The chat service: context -> gateway -> SQL memory (then Zep in the background).

The turn pair (question and answer) is written to SQL only after the model answered, in one
transaction, so a failed call leaves no half exchange behind and a retry does not duplicate the
question. A streamed reply the client stops (the UI's Stop, a closed tab) ends the same way: the
upstream call is closed and nothing of the exchange is stored or metered (metric outcome "cancelled").
The Zep mirror gets the same pair through the outbox row written in that transaction
(`app/memory/outbox.py`) and never delays the reply. Usage (the gateway's token counts) goes to the
`UsageMeter` in memory; its writer stores it in the background. With a daily token budget, a user
past it gets 429 before the gateway is called.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime

from app.agents.catalogue import Agent, catalogue, get_agent
from app.chat.gateway import NOT_CONFIGURED, Gateway, GatewayError, GatewayThrottled, StreamEnd
from app.memory.context import ContextEngine
from app.memory.outbox import MirrorOutbox
from app.memory.store import EpisodeOwnedByAnother, MemoryStore, NewTurn, Role
from app.observability import metrics
from app.security.identity import Identity
from app.settings import Settings
from app.usage.meter import UsageMeter


class SessionNotFound(Exception):
    """The session id is another user's episode: answered as 404, never revealed."""


@dataclass(frozen=True)
class ChatReply:
    message_id: str
    session_id: str
    agent_id: str
    agent_name: str
    content: str
    timestamp: datetime
    tokens_used: int | None
    latency_ms: float


class ChatService:
    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        context: ContextEngine,
        gateway: Gateway | None,
        mirror: MirrorOutbox | None = None,
        meter: UsageMeter | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._context = context
        self._gateway = gateway
        self._mirror = mirror
        self._meter = meter
        self._agent_names = {a.id: a.name for a in catalogue(settings)}

    async def reply(
        self, identity: Identity, content: str, agent_id: str, session_id: str | None
    ) -> ChatReply:
        """Answer one message; raises `AgentNotFound`, `SessionNotFound` or a `GatewayError`."""
        started, received = time.perf_counter(), datetime.now(UTC)
        agent, gateway, session_id = await self._prepare(identity, agent_id, session_id)
        messages = await self._messages(identity, agent, session_id, content)  # SessionNotFound
        outcome = "error"
        try:
            completion = await gateway.complete(messages)
            outcome = "ok"
        except GatewayError as exc:
            outcome = _outcome(exc, agent.id)
            raise
        finally:
            metrics.chat_latency((time.perf_counter() - started) * 1000, agent.id, outcome)
        self._meter_usage(identity, agent, completion.prompt_tokens, completion.completion_tokens)
        message_id, at = await self._remember(
            identity, agent, session_id, content, completion.content, received
        )
        return ChatReply(
            message_id=message_id,
            session_id=session_id,
            agent_id=agent.id,
            agent_name=agent.name,
            content=completion.content,
            timestamp=at,
            tokens_used=completion.tokens_used,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    async def open_stream(
        self, identity: Identity, content: str, agent_id: str, session_id: str | None
    ) -> tuple[Agent, str, AsyncGenerator[str | ChatReply]]:
        """Start a streamed reply. Errors before the first delta raise here (real HTTP statuses);
        the iterator yields text deltas and finally the `ChatReply` (after memory is written)."""
        started, received = time.perf_counter(), datetime.now(UTC)
        agent, gateway, session_id = await self._prepare(identity, agent_id, session_id)
        messages = await self._messages(identity, agent, session_id, content)  # SessionNotFound
        try:
            upstream = await gateway.stream(messages)
        except GatewayError as exc:
            metrics.chat_latency((time.perf_counter() - started) * 1000, agent.id, _outcome(exc, agent.id))
            raise

        async def events() -> AsyncGenerator[str | ChatReply]:
            parts: list[str] = []
            tokens: int | None = None
            end = StreamEnd(tokens_used=None)
            outcome = "error"
            try:
                async for item in upstream:
                    if isinstance(item, StreamEnd):
                        end, tokens = item, item.tokens_used
                    else:
                        parts.append(item)
                        yield item
                outcome = "ok"
            except GatewayError as exc:
                outcome = _outcome(exc, agent.id)
                raise
            except (asyncio.CancelledError, GeneratorExit):
                outcome = "cancelled"  # the client stopped reading: close upstream, store nothing
                raise
            finally:
                if isinstance(upstream, AsyncGenerator):
                    await upstream.aclose()  # the model's HTTP stream ends now, not when collected
                metrics.chat_latency((time.perf_counter() - started) * 1000, agent.id, outcome)
            answer = "".join(parts)
            self._meter_usage(identity, agent, end.prompt_tokens, end.completion_tokens)
            message_id, at = await self._remember(identity, agent, session_id, content, answer, received)
            yield ChatReply(
                message_id=message_id,
                session_id=session_id,
                agent_id=agent.id,
                agent_name=agent.name,
                content=answer,
                timestamp=at,
                tokens_used=tokens,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
            )

        return agent, session_id, events()

    async def _prepare(
        self, identity: Identity, agent_id: str, session_id: str | None
    ) -> tuple[Agent, Gateway, str]:
        agent = get_agent(self._settings, agent_id)  # AgentNotFound -> 404
        if self._gateway is None:
            raise NOT_CONFIGURED
        if self._meter is not None:
            wait = await self._meter.budget_retry_after(identity.user_id)
            if wait is not None:
                raise GatewayThrottled(
                    f"your daily token budget ({self._meter.daily_token_budget} tokens, "
                    "USAGE_DAILY_TOKEN_BUDGET) is used up; it resets at 00:00 UTC",
                    wait,
                )
        if session_id is None:
            session_id = uuid.uuid4().hex
        # Ownership of an existing session is checked by the context read (`_messages`), in the
        # same SQL session as the turns, and again by the write.
        return agent, self._gateway, session_id

    def _meter_usage(
        self, identity: Identity, agent: Agent, prompt_tokens: int | None, completion_tokens: int | None
    ) -> None:
        if self._meter is not None:
            self._meter.record_chat(
                identity.user_id,
                identity.tenant_id,
                agent.id,
                self._settings.azure_ai_deployment,
                prompt_tokens,
                completion_tokens,
            )

    async def _messages(
        self, identity: Identity, agent: Agent, session_id: str, content: str
    ) -> list[dict[str, str]]:
        try:
            context = await self._context.build(
                user_id=identity.user_id,
                tenant_id=identity.tenant_id,
                roles=tuple(sorted(r.value for r in identity.roles)),
                session_id=session_id,
                agent=agent,
                query=content,
            )
        except EpisodeOwnedByAnother:
            raise SessionNotFound(session_id) from None
        return context.to_messages(content, self._settings.chat_context_budget_tokens, self._agent_names)

    async def _remember(
        self,
        identity: Identity,
        agent: Agent,
        session_id: str,
        question: str,
        answer: str,
        asked: datetime,
    ) -> tuple[str, datetime]:
        message_id = uuid.uuid4().hex

        def turn(role: Role, content: str, at: datetime) -> NewTurn:
            return NewTurn(
                session_id=session_id,
                owner_id=identity.user_id,
                tenant_id=identity.tenant_id,
                role=role,
                content=content,
                agent_id=agent.id,
                channel="chat",
                source_event_id=f"chat:{message_id}:{role}",
                created_at=at,
            )

        turns = [turn("user", question, asked), turn("assistant", answer, datetime.now(UTC))]
        try:
            await self._store.append_turns(turns)
        except EpisodeOwnedByAnother:  # another user opened this session id meanwhile
            raise SessionNotFound(session_id) from None
        if self._mirror is not None:
            self._mirror.submit(turns)
        return message_id, turns[1].created_at or asked


def _outcome(exc: GatewayError, agent_id: str) -> str:
    if isinstance(exc, GatewayThrottled):
        metrics.gateway_throttled(agent_id)
        return "throttled"
    return {503: "not_configured", 504: "timeout"}.get(exc.status, "upstream_error")
