"""The UI in real headless Chromium against `engram serve` and the wire doubles.

Covers: the chat round trip with an agent switch (streamed, sanitized markdown, keyboard only);
the /voice deep link; a voice round trip with the fake microphone (40 ms PCM16 frames at 24 kHz
reach VoiceLive, transcripts show, the answer's audio plays, barge-in stops it, the agent switches);
and chat plus voice in one tab landing in one episode. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.doubles.openai_server import Step
from tests.doubles.voicelive_server import DoubleSession
from tests.e2e.conftest import shot, start_conversation, user_says
from tests.e2e.harness import Doubles, dominant_rate, tone_pcm24k, wait_until

pytestmark = pytest.mark.e2e

FRAME_BYTES = 960 * 2  # 40 ms of 24 kHz mono PCM16


def session_id(page: Page) -> str:
    value = page.evaluate("sessionStorage.getItem('engram_session_id')")
    assert isinstance(value, str) and value
    return value


@pytest.mark.voice
def test_deep_link_to_voice_loads_the_voice_panel(page: Page, service: str) -> None:
    response = page.goto("/voice")
    assert response is not None and response.status == 200
    expect(page.locator("#voice-panel")).to_be_visible()
    expect(page.locator("#chat-panel")).to_be_hidden()
    expect(page).to_have_title("Voice · Engram")
    expect(page.get_by_role("link", name="Voice")).to_have_attribute("aria-current", "page")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    policy = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content") or ""
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy, policy  # same-origin build
    shot(page, "voice-deep-link")
    # Client-side navigation back to chat, and the API still answers JSON next to the UI.
    page.get_by_role("link", name="Chat").click()
    expect(page.locator("#chat-panel")).to_be_visible()
    assert httpx.get(f"{service}/api/v1/no-such-route").json() == {"detail": "Not Found"}


@pytest.mark.chat
def test_chat_round_trip_with_agent_switch(page: Page, doubles: Doubles) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    expect(page.locator("#chat-panel").get_by_label("Elena")).to_be_checked()

    answer = "**Start with stakeholders.**\n\n- goals\n- <img src=x onerror=alert(1)>"
    doubles.openai.script(Step(reply=answer))
    before = len(doubles.openai.requests)
    page.get_by_role("textbox", name="Message").fill("What should we capture first?")
    page.get_by_role("textbox", name="Message").press("Enter")
    first = page.locator(".message.assistant").nth(0)
    expect(first).to_have_attribute("data-done", "true")
    expect(first.locator(".who")).to_have_text("Elena")
    expect(first.locator(".body strong")).to_have_text("Start with stakeholders.")
    expect(first.locator(".body li")).to_have_count(2)
    assert first.locator(".body img").count() == 0  # the markup arrived as text, not as an element
    expect(first.locator(".body li").nth(1)).to_contain_text("<img src=x onerror=alert(1)>")
    assert doubles.openai.requests[before].body.get("stream") is True  # streamed, not the fallback

    # Switch agent with the keyboard only: focus the radio group, arrow to Marcus, back to the box.
    page.locator("#chat-panel").get_by_label("Elena").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#chat-panel").get_by_label("Marcus")).to_be_checked()
    page.get_by_role("textbox", name="Message").fill("And the plan?")
    page.get_by_role("textbox", name="Message").press("Enter")
    second = page.locator(".message.assistant").nth(1)
    expect(second).to_have_attribute("data-done", "true")
    expect(second).to_have_attribute("data-agent", "marcus")
    expect(second.locator(".who")).to_have_text("Marcus")
    expect(second.locator(".body")).to_contain_text("to: And the plan?")

    # The model saw one conversation: Marcus's request carries Elena's earlier turn.
    messages = doubles.openai.requests[-1].messages
    assert any("What should we capture first?" in str(m.get("content")) for m in messages)
    assert any("Marcus" in str(m.get("content")) for m in messages if m["role"] == "system")
    shot(page, "chat-round-trip")


@pytest.mark.chat
def test_chat_errors_are_plain_words(page: Page, doubles: Doubles) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    doubles.openai.script(Step(status=500))  # the gateway does not retry a 5xx: one step is consumed
    page.get_by_role("textbox", name="Message").fill("Hello?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat-error")).to_have_text("The AI service had a problem answering. Try again.")
    expect(page.get_by_role("textbox", name="Message")).to_have_value("Hello?")  # kept for a retry
    expect(page.locator(".message")).to_have_count(0)


def start_voice(page: Page, doubles: Doubles) -> DoubleSession:
    session = start_conversation(page, doubles)
    expect(page.locator("#voice-agent")).to_contain_text("Talking with Elena")
    return session


@pytest.mark.voice
def test_voice_round_trip_with_fake_microphone(page: Page, doubles: Doubles, service: str) -> None:
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    session = start_voice(page, doubles)
    loop = doubles.loop

    # The microphone (a 440 Hz WAV) reaches VoiceLive as 40 ms PCM16 frames at 24 kHz.
    loop.run(session.wait_for("input_audio_buffer.append", count=25))
    frames = [base64.b64decode(e["audio"]) for e in session.of_type("input_audio_buffer.append")]
    assert {len(f) for f in frames} == {FRAME_BYTES}
    pitch = dominant_rate(b"".join(frames[5:]))
    assert 400 < pitch < 480, f"microphone tone arrived at {pitch:.0f} Hz, not 440 Hz (resampling is off)"

    # The user speaks; then the assistant answers with text and 0.6 s of audio.
    loop.run(session.speech_started("item_u1"))
    expect(page.locator(".line.user").first).to_be_visible()
    loop.run(session.speech_stopped("item_u1"))
    loop.run(session.transcription("item_u1", "What are the main risks?"))
    user = page.locator(".line.user[data-final='true']").first
    expect(user).to_contain_text("What are the main risks?")
    loop.run(session.reply("item_a1", "Scope creep is the main risk.", pcm=tone_pcm24k(330, 0.6)))
    assistant = page.locator(".line.assistant[data-final='true']").first
    expect(assistant).to_contain_text("Scope creep is the main risk.")
    audio = page.locator("#voice-audio")
    expect(audio).to_have_attribute("data-received-ms", "600")
    expect(audio).to_have_attribute("data-played-ms", "600")  # every chunk played to its end
    shot(page, "voice-round-trip")

    # Barge-in: a long answer is playing, the user starts speaking, playback stops at once.
    user_says(doubles, session, "item_u2", "Wait.")
    response_id = loop.run(session.start_response("item_a2"))
    loop.run(session.audio_delta(response_id, "item_a2", tone_pcm24k(330, 5.0)))
    expect(audio).to_have_attribute("data-playing", "true")
    loop.run(session.speech_started("item_u3"))
    expect(audio).to_have_attribute("data-playing", "false")
    played = int(audio.get_attribute("data-played-ms") or 0)
    assert played == 600, "the interrupted answer must not count as played"

    # Switch agent mid-conversation: VoiceLive gets Marcus's voice, the UI shows him.
    marcus_voice = httpx.get(f"{service}/api/v1/voice/config/marcus").json()["voice_name"]
    page.locator("#voice-panel").get_by_label("Marcus").check()
    loop.run(
        session.wait_for("session.update", where=lambda e: marcus_voice in str(e["session"].get("voice")))
    )
    expect(page.locator("#voice-agent")).to_contain_text("Talking with Marcus")

    # Cancel: the client asks VoiceLive to stop the answer.
    page.get_by_role("button", name="Stop the answer").click()
    loop.run(session.wait_for("response.cancel"))
    shot(page, "voice-agent-switched")
    page.get_by_role("button", name="End conversation").click()
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "closed")


@pytest.mark.chat
@pytest.mark.voice
def test_chat_and_voice_share_the_session_id(page: Page, doubles: Doubles, service: str) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    sid = session_id(page)
    assert re.fullmatch(r"[0-9a-f-]{36}", sid)
    page.get_by_role("textbox", name="Message").fill("Note: the launch is in May.")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant").first).to_have_attribute("data-done", "true")

    page.get_by_role("link", name="Voice").click()  # same tab, same session
    expect(page).to_have_url(re.compile(r"/voice$"))
    assert session_id(page) == sid
    session = start_voice(page, doubles)
    loop = doubles.loop
    user_says(doubles, session, "item_v1", "When is the launch?")
    loop.run(session.reply("item_v2", "The launch is in May."))
    expect(page.locator(".line.assistant[data-final='true']").first).to_contain_text("The launch is in May.")

    def episode() -> dict[str, Any]:
        response = httpx.get(f"{service}/api/v1/memory/episodes/{sid}", timeout=5)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    wait_until(lambda: len(episode()["transcript"]) >= 4, "chat and voice turns in the episode")
    body = episode()
    assert set(body["channels"]) == {"chat", "voice"}
    turns = [(t["metadata"]["channel"], t["role"], t["content"]) for t in body["transcript"]]
    assert ("chat", "user", "Note: the launch is in May.") in turns
    assert ("voice", "user", "When is the launch?") in turns
    assert ("voice", "assistant", "The launch is in May.") in turns
    shot(page, "shared-session")
