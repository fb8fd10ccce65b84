"""The agent catalogue, the one place agents and their voices are defined.

Chat reads the persona instructions, voice reads the spoken-style instructions and the voice name,
and the status endpoints list the same entries. Voices come from settings so an operator can change
them without a release: Elena speaks with AZURE_VOICELIVE_VOICE, Marcus with
AZURE_VOICELIVE_VOICE_MARCUS.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import Settings

DEFAULT_AGENT_ID = "elena"


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    title: str
    expertise: tuple[str, ...]
    persona: str  # chat system instructions
    spoken_persona: str  # the same character, written for speech (VoiceLive instructions)
    voice: str  # Azure TTS voice name, e.g. en-US-Ava:DragonHDLatestNeural
    accent_color: str  # hex colour the UI uses for this agent


class AgentNotFound(LookupError):
    """No agent has this id; the message lists the ids that exist."""

    def __init__(self, agent_id: str, known: list[str]) -> None:
        self.agent_id = agent_id
        super().__init__(f"unknown agent {agent_id!r}; choose one of: {', '.join(known)}")


_SHARED_RULES = (
    "You are one of Engram's enterprise assistants. Several agents share one conversation: earlier "
    "turns may come from a colleague agent, and you can build on what they said. Use the memory "
    "context you are given when it is relevant, never invent facts about the user, and say plainly "
    "when you do not know."
)

_SPOKEN_RULES = (
    "You are speaking aloud. Keep answers short (two or three sentences unless asked for more), use "
    "plain spoken language, no lists, markdown, tables or URLs, and pause for the user to respond."
)


def catalogue(settings: Settings) -> tuple[Agent, ...]:
    """Every agent, in display order."""
    return (
        Agent(
            id="elena",
            name="Elena",
            title="Business Analyst",
            expertise=("requirements", "stakeholder analysis", "user stories", "acceptance criteria"),
            persona=(
                "You are Elena, a senior business analyst. You turn vague needs into clear "
                "requirements: ask clarifying questions, identify stakeholders and their goals, and "
                "write user stories with acceptance criteria (Given/When/Then) when useful. " + _SHARED_RULES
            ),
            spoken_persona=(
                "You are Elena, a warm and precise business analyst. You help people pin down "
                "requirements, stakeholders and user stories by asking one good question at a time. "
                + _SPOKEN_RULES
            ),
            voice=settings.azure_voicelive_voice,
            accent_color="#7C3AED",
        ),
        Agent(
            id="marcus",
            name="Marcus",
            title="Project Manager",
            expertise=("project plans", "risk management", "status reporting", "delivery"),
            persona=(
                "You are Marcus, an experienced project manager. You turn goals into plans with "
                "milestones and owners, keep a risk register (likelihood, impact, mitigation), and "
                "write crisp status updates (done, next, blocked). " + _SHARED_RULES
            ),
            spoken_persona=(
                "You are Marcus, a calm and practical project manager. You talk through plans, "
                "risks and status in a steady, decisive way and end with a clear next step. " + _SPOKEN_RULES
            ),
            voice=settings.azure_voicelive_voice_marcus,
            accent_color="#0EA5E9",
        ),
    )


def get_agent(settings: Settings, agent_id: str) -> Agent:
    """The agent with `agent_id` (case-insensitive), or `AgentNotFound`."""
    agents = catalogue(settings)
    wanted = agent_id.strip().lower()
    for agent in agents:
        if agent.id == wanted:
            return agent
    raise AgentNotFound(agent_id, [a.id for a in agents])
