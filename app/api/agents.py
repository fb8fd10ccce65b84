"""`/api/v1/agents`: the agent catalogue for the UI (names, titles, voices, colours).

Open routes (SOP 10.1): no token needed in any environment; the catalogue holds nothing private.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from app.agents import AgentNotFound, catalogue, get_agent
from app.agents.catalogue import Agent
from app.api.contract import AgentIdPath
from app.security.deps import SettingsDep

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


class AgentOut(BaseModel):
    id: str
    name: str
    title: str
    expertise: list[str]
    voice: str
    accent_color: str

    @classmethod
    def of(cls, agent: Agent) -> AgentOut:
        return cls(
            id=agent.id,
            name=agent.name,
            title=agent.title,
            expertise=list(agent.expertise),
            voice=agent.voice,
            accent_color=agent.accent_color,
        )


@router.get("", response_model=list[AgentOut], operation_id="agents-list")
async def list_agents(settings: SettingsDep) -> list[AgentOut]:
    """Every agent, in display order."""
    return [AgentOut.of(a) for a in catalogue(settings)]


@router.get(
    "/{agent_id}",
    response_model=AgentOut,
    operation_id="agents-get",
    responses={404: {"description": "No agent has this id."}},
)
async def get_one(agent_id: AgentIdPath, settings: SettingsDep) -> AgentOut:
    """One agent by id."""
    try:
        return AgentOut.of(get_agent(settings, agent_id))
    except AgentNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
