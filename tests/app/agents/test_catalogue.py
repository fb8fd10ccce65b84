"""The catalogue: Elena and Marcus, their voices from settings, lookups by id."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.agents import AgentNotFound, catalogue, get_agent
from tests.conftest import make_settings


def test_elena_and_marcus_with_distinct_configurable_voices(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        azure_voicelive_voice="en-US-Emma:DragonHDLatestNeural",
        azure_voicelive_voice_marcus="en-US-Davis:DragonHDLatestNeural",
    )
    agents = {a.id: a for a in catalogue(settings)}
    assert set(agents) >= {"elena", "marcus"}
    assert agents["elena"].voice == "en-US-Emma:DragonHDLatestNeural"
    assert agents["marcus"].voice == "en-US-Davis:DragonHDLatestNeural"


def test_defaults_are_distinct_dragon_hd_voices(tmp_path: Path) -> None:
    voices = [a.voice for a in catalogue(make_settings(tmp_path))]
    assert len(set(voices)) == len(voices)
    assert all("DragonHD" in v for v in voices)
    assert voices[0] == "en-US-Ava:DragonHDLatestNeural"


def test_every_agent_is_complete(tmp_path: Path) -> None:
    for agent in catalogue(make_settings(tmp_path)):
        assert agent.name in agent.persona and agent.name in agent.spoken_persona
        assert agent.title and agent.expertise
        assert agent.accent_color.startswith("#") and len(agent.accent_color) == 7


def test_lookup_is_case_insensitive_and_unknown_names_the_choices(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert get_agent(settings, "Marcus").id == "marcus"
    with pytest.raises(AgentNotFound, match="elena, marcus"):
        get_agent(settings, "zed")
