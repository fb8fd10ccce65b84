"""The user acceptance scenarios of SOP 5.5, one browser test each (Debian Chromium, fake microphone).

Voice: start a session with Elena; speak and see the transcription; switch to Marcus mid-conversation
(VoiceLive's session update carries Marcus's voice); barge-in stops the answer's audio.
Chat: send a text and see the answer; a multi-turn conversation; memory that survives a reload; agent
switching; a fact stored through the API reaches the next answer's system prompt.

Locally everything runs against `engram serve` and the doubles (tests/e2e/harness.py). Against a deployed
stack (E2E_BASE_URL, the e2e-tests workflow on dispatch) the chat scenarios run with the checks that hold
for a real model (an answer arrives, the episode API holds the turns) and skip their double-only checks
with the reason; the voice scenarios need VoiceLive scripted (a fake microphone's tone is not speech to
the real one), so they skip there.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.doubles.openai_server import Step
from tests.doubles.voicelive_server import DoubleSession
from tests.e2e.conftest import api_headers, api_url, shot, start_conversation
from tests.e2e.harness import DEPLOYED_BASE_URL, DOUBLE_ONLY, Doubles, tone_pcm24k, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.uat]

FRAME_BYTES = 960 * 2  # 40 ms of 24 kHz mono PCM16
ANSWER_TIMEOUT_MS = 60_000  # a real model (deployed stack) may take a while


def local_doubles(request: pytest.FixtureRequest) -> Doubles | None:
    """The doubles locally; None against a deployed stack (double-only checks are then skipped)."""
    if DEPLOYED_BASE_URL:
        return None
    doubles: Doubles = request.getfixturevalue("doubles")
    return doubles


def episode(service: str, session_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{api_url(service)}/api/v1/memory/episodes/{session_id}", headers=api_headers(), timeout=10
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def session_id(page: Page) -> str:
    value = page.evaluate("sessionStorage.getItem('engram_session_id')")
    assert isinstance(value, str) and value
    return value


def send(page: Page, text: str, index: int) -> Any:
    """Type and send a chat message; wait for the `index`-th answer to finish and return it."""
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("textbox", name="Message").press("Enter")
    answer = page.locator(".message.assistant").nth(index)
    expect(answer).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    expect(answer.locator(".body")).not_to_be_empty()
    return answer


def open_chat(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)


def open_voice(page: Page, doubles: Doubles) -> DoubleSession:
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    expect(page.locator("#voice-panel").get_by_label("Elena")).to_be_checked()
    session = start_conversation(page, doubles)
    expect(page.locator("#voice-agent")).to_contain_text("Talking with Elena")
    return session


def voice_of(service: str, agent: str) -> str:
    name = httpx.get(f"{service}/api/v1/voice/config/{agent}", headers=api_headers(), timeout=10).json()
    return str(name["voice_name"])


def user_turn(doubles: Doubles, session: DoubleSession, item: str, text: str) -> None:
    doubles.loop.run(session.speech_started(item))
    doubles.loop.run(session.speech_stopped(item))
    doubles.loop.run(session.transcription(item, text))


# --- voice ---


@pytest.mark.voice
def test_uat_start_a_voice_session_with_elena(page: Page, doubles: Doubles, service: str) -> None:
    session = open_voice(page, doubles)
    update = doubles.loop.run(session.wait_for("session.update"))
    assert voice_of(service, "elena") in str(update["session"].get("voice"))
    assert "Elena" in str(update["session"].get("instructions"))
    shot(page, "uat-voice-elena")
    page.get_by_role("button", name="End conversation").click()
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "closed")


@pytest.mark.voice
def test_uat_speak_and_see_the_transcription(page: Page, doubles: Doubles) -> None:
    session = open_voice(page, doubles)
    # The fake microphone is heard: 40 ms PCM16 frames reach VoiceLive.
    doubles.loop.run(session.wait_for("input_audio_buffer.append", count=10))
    frames = [base64.b64decode(e["audio"]) for e in session.of_type("input_audio_buffer.append")]
    assert {len(f) for f in frames} == {FRAME_BYTES}
    doubles.loop.run(session.speech_started("item_s1"))
    expect(page.locator(".line.user").first).to_be_visible()  # listening shows at once
    doubles.loop.run(session.speech_stopped("item_s1"))
    doubles.loop.run(session.transcription("item_s1", "Book the review for Thursday."))
    expect(page.locator(".line.user[data-final='true']").first).to_contain_text(
        "Book the review for Thursday."
    )
    doubles.loop.run(session.reply("item_s2", "Thursday it is.", pcm=tone_pcm24k(330, 0.2)))
    expect(page.locator(".line.assistant[data-final='true']").first).to_contain_text("Thursday it is.")
    shot(page, "uat-voice-transcription")


@pytest.mark.voice
def test_uat_switch_to_marcus_mid_conversation(page: Page, doubles: Doubles, service: str) -> None:
    session = open_voice(page, doubles)
    user_turn(doubles, session, "item_m1", "Elena, what are the risks?")
    doubles.loop.run(session.reply("item_m2", "Scope and staffing."))
    expect(page.locator(".line.assistant[data-final='true']").first).to_contain_text("Scope and staffing.")
    marcus = voice_of(service, "marcus")
    assert marcus != voice_of(service, "elena")
    page.locator("#voice-panel").get_by_label("Marcus").check()
    update = doubles.loop.run(
        session.wait_for("session.update", where=lambda e: marcus in str(e["session"].get("voice")))
    )
    assert "Marcus" in str(update["session"].get("instructions"))
    expect(page.locator("#voice-agent")).to_contain_text("Talking with Marcus")
    # The conversation goes on in the same upstream session, now answered by Marcus.
    assert len(doubles.voicelive.sessions) and doubles.voicelive.sessions[-1] is session
    user_turn(doubles, session, "item_m3", "Marcus, the plan?")
    doubles.loop.run(session.reply("item_m4", "Two sprints."))
    expect(page.locator(".line.assistant[data-final='true']").nth(1)).to_contain_text("Two sprints.")
    shot(page, "uat-voice-marcus")


@pytest.mark.voice
def test_uat_barge_in_stops_the_answer_audio(page: Page, doubles: Doubles) -> None:
    session = open_voice(page, doubles)
    user_turn(doubles, session, "item_b1", "Tell me everything.")
    response_id = doubles.loop.run(session.start_response("item_b2"))
    doubles.loop.run(session.audio_delta(response_id, "item_b2", tone_pcm24k(330, 5.0)))
    audio = page.locator("#voice-audio")
    expect(audio).to_have_attribute("data-playing", "true")
    doubles.loop.run(session.speech_started("item_b3"))  # the user talks over the answer
    expect(audio).to_have_attribute("data-playing", "false")
    # The service cancels the answer upstream and truncates it where the user stopped hearing it.
    doubles.loop.run(session.wait_for("response.cancel"))
    truncate = doubles.loop.run(session.wait_for("conversation.item.truncate"))
    assert truncate["item_id"] == "item_b2" and 0 <= truncate["audio_end_ms"] < 5000
    shot(page, "uat-voice-barge-in")


# --- chat ---


@pytest.mark.chat
def test_uat_send_a_text_and_see_the_answer(page: Page, request: pytest.FixtureRequest) -> None:
    doubles = local_doubles(request)
    open_chat(page)
    if doubles is not None:
        doubles.openai.script(Step(reply="Hello! **Elena** here."))
    answer = send(page, "Hello, who am I talking to?", 0)
    expect(answer.locator(".who")).to_have_text("Elena")
    expect(page.locator(".message.user .body").first).to_have_text("Hello, who am I talking to?")
    if doubles is not None:
        expect(answer.locator(".body strong")).to_have_text("Elena")
    shot(page, "uat-chat-answer")


@pytest.mark.chat
def test_uat_multi_turn_conversation(page: Page, service: str, request: pytest.FixtureRequest) -> None:
    doubles = local_doubles(request)
    open_chat(page)
    questions = ["We are planning the Orion launch.", "Who should sign it off?", "And by when?"]
    for index, question in enumerate(questions):
        send(page, question, index)
    expect(page.locator(".message.assistant")).to_have_count(3)
    sid = session_id(page)
    wait_until(lambda: len(episode(service, sid)["transcript"]) >= 6, "six turns in the episode")
    users = [t["content"] for t in episode(service, sid)["transcript"] if t["role"] == "user"]
    assert users == questions
    if doubles is not None:  # the model saw the earlier turns with the last question
        sent = str(doubles.openai.requests[-1].messages)
        assert "We are planning the Orion launch." in sent and "Who should sign it off?" in sent


@pytest.mark.chat
def test_uat_memory_persists_across_reload(page: Page, service: str, request: pytest.FixtureRequest) -> None:
    """The tab keeps its session across a reload, the earlier messages are drawn again from the
    episode, and the conversation continues from memory."""
    doubles = local_doubles(request)
    open_chat(page)
    sid = session_id(page)
    send(page, "Remember: my project is called Bluebird.", 0)
    page.reload()
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    assert session_id(page) == sid
    expect(page.locator(".message.user .body").first).to_have_text("Remember: my project is called Bluebird.")
    expect(page.locator(".message.assistant").first).to_have_attribute("data-restored", "true")
    send(page, "What is my project called?", 1)
    wait_until(lambda: len(episode(service, sid)["transcript"]) >= 4, "both exchanges in one episode")
    contents = [t["content"] for t in episode(service, sid)["transcript"]]
    assert "Remember: my project is called Bluebird." in contents
    assert "What is my project called?" in contents
    if doubles is not None:
        assert "Bluebird" in str(doubles.openai.requests[-1].messages)
    shot(page, "uat-chat-reload")


@pytest.mark.chat
def test_uat_agent_switching_in_chat(page: Page, request: pytest.FixtureRequest) -> None:
    doubles = local_doubles(request)
    open_chat(page)
    first = send(page, "Elena, summarise the goals.", 0)
    expect(first).to_have_attribute("data-agent", "elena")
    page.locator("#chat-panel").get_by_label("Marcus").check()
    second = send(page, "Marcus, what is the plan?", 1)
    expect(second).to_have_attribute("data-agent", "marcus")
    expect(second.locator(".who")).to_have_text("Marcus")
    page.locator("#chat-panel").get_by_label("Elena").check()
    third = send(page, "Elena again: anything missing?", 2)
    expect(third).to_have_attribute("data-agent", "elena")
    if doubles is not None:
        system = [m for m in doubles.openai.requests[-1].messages if m["role"] == "system"]
        assert system and "Elena" in str(system[0]["content"])
    shot(page, "uat-chat-agents")


@pytest.mark.chat
def test_uat_a_stored_fact_reaches_the_next_system_prompt(
    page: Page, service: str, request: pytest.FixtureRequest
) -> None:
    if DEPLOYED_BASE_URL:
        pytest.skip(DOUBLE_ONLY)
    doubles = local_doubles(request)
    assert doubles is not None
    fact = "The Orion launch date is 14 May."
    stored = httpx.post(
        f"{service}/api/v1/memory/facts", json={"content": fact}, headers=api_headers(), timeout=10
    )
    assert stored.status_code == 201, stored.text
    open_chat(page)
    before = len(doubles.openai.requests)
    send(page, "When is the Orion launch date?", 0)
    assert len(doubles.openai.requests) > before
    system = [m for m in doubles.openai.requests[-1].messages if m["role"] == "system"]
    assert system and fact in str(system[0]["content"]), system
