"""Voice: the VoiceLive websocket (SOP 10.2) and two open status routes.

The websocket is authenticated, authorised and origin-checked before `accept()`; refusals after
accept (bad session id, not configured, at capacity) send one error message naming the cause and
close with the code documented in docs/voice-protocol.md.
"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, HTTPException, WebSocket, status
from pydantic import BaseModel, Field

from app.agents import AgentNotFound
from app.agents.catalogue import DEFAULT_AGENT_ID
from app.api.contract import AgentIdPath
from app.api.deps import LimiterDep, ServicesDep, VoiceServiceDep
from app.observability import metrics
from app.security.counters import Refusal
from app.security.deps import WS_POLICY_VIOLATION, caller_key, websocket_identity
from app.security.identity import Permission
from app.settings import Settings
from app.voice import protocol
from app.voice.bridge import VoiceBridge
from app.voice.service import VoiceService
from app.voice.upstream import auth_mode, endpoint_host

log = logging.getLogger("engram.voice")

router = APIRouter(prefix="/api/v1/voice", tags=["voice"])


class AgentVoice(BaseModel):
    voice: str


class VoiceStatus(BaseModel):
    voicelive_configured: bool
    endpoint: str | None  # host only
    model: str
    api_version: str
    auth_mode: str
    active_sessions: int = Field(description="Voice sessions open on this replica.")
    max_sessions: int = Field(description="VOICE_MAX_SESSIONS: what one replica accepts.")
    deployment_sessions: int = Field(
        description="Voice sessions open across all replicas (REDIS_URL); this replica's without Redis."
    )
    recording: Literal["off", "consent"]  # consent: the client may offer {"type": "consent", ...}
    agents: dict[str, AgentVoice]


class VoiceAgentConfig(BaseModel):
    agent_id: str
    voice_name: str
    model: str
    endpoint_configured: bool


@router.get("/status", response_model=VoiceStatus, operation_id="voice-status")
async def voice_status(service: VoiceServiceDep, limiter: LimiterDep) -> VoiceStatus:
    """Whether voice is configured, how it authenticates, live sessions and each agent's voice."""
    settings = service.settings
    return VoiceStatus(
        voicelive_configured=settings.voicelive_configured,
        endpoint=endpoint_host(settings),
        model=settings.azure_voicelive_model,
        api_version=settings.azure_voicelive_api_version,
        auth_mode=auth_mode(settings),
        active_sessions=service.active,
        max_sessions=service.max_sessions,
        deployment_sessions=await limiter.open_sessions(),
        recording="consent" if service.recordings is not None and service.recordings.enabled else "off",
        agents={agent.id: AgentVoice(voice=agent.voice) for agent in service.agents()},
    )


@router.get(
    "/config/{agent}",
    response_model=VoiceAgentConfig,
    operation_id="voice-config",
    responses={404: {"description": "No agent has this id."}},
)
async def voice_config(agent: AgentIdPath, service: VoiceServiceDep) -> VoiceAgentConfig:
    """The voice session an agent gets: its voice name and the model."""
    try:
        found = service.agent(agent)
    except AgentNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return VoiceAgentConfig(
        agent_id=found.id,
        voice_name=found.voice,
        model=service.settings.azure_voicelive_model,
        endpoint_configured=service.settings.voicelive_configured,
    )


def _origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Browsers always send Origin; with an allow-list configured, only those origins may open voice."""
    origin = websocket.headers.get("origin")
    allowed = settings.cors_origins
    return origin is None or not allowed or "*" in allowed or origin in allowed


@router.websocket("/voicelive/{session_id}")
async def voicelive(
    websocket: WebSocket, services: ServicesDep, session_id: str, agent: str = DEFAULT_AGENT_ID
) -> None:
    """Browser audio <-> an Azure VoiceLive session; see docs/voice-protocol.md."""
    service = services.voice
    if not _origin_allowed(websocket, service.settings):
        await websocket.close(code=WS_POLICY_VIOLATION, reason="origin not allowed")
        return
    authenticated = await websocket_identity(websocket)
    if authenticated is None:
        return
    identity, subprotocol = authenticated
    if not identity.can(Permission.VOICE):
        await websocket.close(code=WS_POLICY_VIOLATION, reason="this needs the voice permission")
        return
    await websocket.accept(subprotocol=subprotocol)

    refusal = _refusal(service, session_id, agent)
    if refusal is not None:
        code, message, reason = refusal
        metrics.voice_session_error(reason)
        await websocket.send_text(protocol.error(message))
        await websocket.close(code=code, reason=message[:120])
        return
    meter = services.usage
    wait = await meter.budget_retry_after(identity.user_id) if meter is not None else None
    if wait is not None:
        message = (
            f"your daily token budget ({meter.daily_token_budget if meter else 0} tokens) is used up; "
            "voice is available again after 00:00 UTC"
        )
        metrics.voice_session_error("budget")
        await websocket.send_text(protocol.error(message))
        await websocket.close(code=protocol.CLOSE_TRY_AGAIN, reason=message[:120])
        return
    if not service.try_acquire():
        message = f"voice is at capacity ({service.max_sessions} sessions); try again shortly"
        log.warning("voice session refused: at capacity")
        metrics.voice_session_error("capacity")
        await websocket.send_text(protocol.error(message))
        await websocket.close(code=protocol.CLOSE_TRY_AGAIN, reason=message[:120])
        return
    limiter = services.limits
    client = websocket.client
    lease = await limiter.open_voice(caller_key(identity, client and (client.host, client.port)))
    if isinstance(lease, Refusal):
        service.release()
        message = _cap_message(lease, service.settings)
        log.warning("voice session refused: %s cap", lease.limit)
        metrics.voice_session_error("capacity")
        await websocket.send_text(protocol.error(message))
        await websocket.close(code=protocol.CLOSE_TRY_AGAIN, reason=message[:120])
        return
    memory = services.memory
    metering = (
        meter.voice_session(
            identity.user_id,
            identity.tenant_id,
            service.agent(agent).id,
            service.settings.azure_voicelive_model,
        )
        if meter is not None
        else None
    )
    try:
        bridge = VoiceBridge(
            websocket=websocket,
            upstream=service.upstream,
            store=memory.store,
            mirror=memory.queue,
            identity=identity,
            session_id=session_id,
            agent=service.agent(agent),
            resolve_agent=service.agent,
            params=service.params,
            on_usage=metering.on_usage if metering is not None else None,
            settle=service.settle,
            recordings=service.recordings,
        )
        with service.live(identity.user_id, bridge):  # so an erasure can end it
            await bridge.run()
    finally:
        await limiter.close_voice(lease)  # before release: `wait_idle` then means every slot is back
        service.release()
        if metering is not None:
            metering.close()


def _cap_message(refusal: Refusal, settings: Settings) -> str:
    if refusal.limit == "user_sessions":
        return (
            f"you already have {settings.voice_max_sessions_per_user} voice sessions open (the limit); "
            "close one and try again"
        )
    return f"voice is at capacity ({settings.voice_max_sessions_deployment} sessions); try again shortly"


def _refusal(service: VoiceService, session_id: str, agent: str) -> tuple[int, str, str] | None:
    """(close code, message, metric reason) when the session cannot start."""
    if not protocol.valid_session_id(session_id):
        message = "invalid session id: use 1-128 letters, digits, '-', '_', '.' or ':'"
        return protocol.CLOSE_POLICY, message, "bad_request"
    if not service.upstream.configured:
        message = "voice is not configured: set AZURE_VOICELIVE_ENDPOINT"
        return protocol.CLOSE_INTERNAL, message, "not_configured"
    try:
        service.agent(agent)
    except AgentNotFound as exc:
        return protocol.CLOSE_POLICY, str(exc), "bad_request"
    return None
