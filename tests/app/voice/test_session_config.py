"""The session.update an agent gets: voice and persona from the catalogue, facts, audio settings."""

from __future__ import annotations

from pathlib import Path

from app.agents import get_agent
from app.voice.session_config import MAX_FACT_CHARS, instructions, session_for
from tests.conftest import make_settings


def test_without_facts_the_instructions_are_the_spoken_persona(tmp_path: Path) -> None:
    elena = get_agent(make_settings(tmp_path), "elena")
    assert instructions(elena, []) == elena.spoken_persona


def test_facts_are_listed_and_clipped(tmp_path: Path) -> None:
    elena = get_agent(make_settings(tmp_path), "elena")
    text = instructions(elena, ["Works in Lyon.", " ", "x" * 1000])
    assert "- Works in Lyon." in text
    assert "- " + "x" * MAX_FACT_CHARS + "\n" not in text and text.endswith("x" * MAX_FACT_CHARS)
    assert "\n- \n" not in text


def test_voice_comes_from_the_catalogue(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, azure_voicelive_voice="en-US-Emma:DragonHDLatestNeural")
    session = session_for(get_agent(settings, "elena"), []).as_dict()
    assert session["voice"] == {"type": "azure-standard", "name": "en-US-Emma:DragonHDLatestNeural"}
    assert session["turn_detection"]["interrupt_response"] is True
