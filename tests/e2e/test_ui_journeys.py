"""The UI as its users live it, in headless Chromium against `engram serve` and the wire doubles.

Covers: voice resuming by itself (same session id) after VoiceLive is killed and restarted; the
live indicator on every page with Mute and End; voice turns in the chat history; a chat answer
that shows it is working and that Stop/Escape aborts (the server stores nothing); a reload that
redraws the conversation; New conversation with Undo; a phone's keyboard hints and line breaks.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.doubles.openai_server import Step
from tests.e2e.conftest import shot, start_conversation, user_says
from tests.e2e.harness import Doubles, tone_pcm24k, wait_until

pytestmark = pytest.mark.e2e

RESUME_TIMEOUT_MS = 30_000  # backoff 0.5 s doubling: the restarted double is found within ~8 s


def session_id(page: Page) -> str:
    value = page.evaluate("sessionStorage.getItem('engram_session_id')")
    assert isinstance(value, str) and value
    return value


def episode(service: str, sid: str) -> httpx.Response:
    return httpx.get(f"{service}/api/v1/memory/episodes/{sid}", timeout=5)


def turns(service: str, sid: str) -> list[tuple[str, str, str]]:
    response = episode(service, sid)
    if response.status_code == 404:
        return []
    body: dict[str, Any] = response.json()
    return [(t["metadata"]["channel"], t["role"], t["content"]) for t in body["transcript"]]


@pytest.mark.voice
def test_voice_resumes_by_itself_after_the_service_comes_back(
    page: Page, doubles: Doubles, service: str
) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url) if "/voice/" in ws.url else None)
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    sid = session_id(page)
    status = page.locator("#voice-status")
    before = len(doubles.voicelive.sessions)
    page.get_by_role("button", name="Start conversation").click()
    expect(status).to_have_attribute("data-state", "open")
    expect(status).to_have_attribute("data-phase", "listening")  # after the microphone was granted
    first = doubles.loop.run(doubles.voicelive.session(before))
    doubles.loop.run(first.wait_for("input_audio_buffer.append", count=3))

    # VoiceLive goes away: the page says it is reconnecting, and the conversation stays live.
    doubles.loop.run(doubles.voicelive.__aexit__(None, None, None))
    expect(status).to_have_attribute("data-state", "reconnecting")
    expect(status).to_contain_text("Reconnecting in")
    expect(page.locator("#voice-live")).to_be_visible()
    expect(page.locator("#announcer")).to_contain_text("Connection lost")
    shot(page, "voice-reconnecting")
    restarted = len(doubles.voicelive.sessions)
    doubles.loop.run(doubles.voicelive.__aenter__())

    # It comes back by itself, on the same session, and the microphone streams again.
    expect(status).to_have_attribute("data-state", "open", timeout=RESUME_TIMEOUT_MS)
    expect(page.locator("#announcer")).to_have_text("Reconnected. Listening.")
    second = doubles.loop.run(doubles.voicelive.session(restarted), timeout=30)
    doubles.loop.run(second.wait_for("input_audio_buffer.append", count=3))
    assert len(sockets) >= 2 and all(url.split("?")[0].endswith(f"/{sid}") for url in sockets), sockets
    expect(page.get_by_role("button", name="End conversation")).to_be_visible()

    loop = doubles.loop
    user_says(doubles, second, "item_back_u", "Are you back?")
    loop.run(second.reply("item_back_a", "I am back."))
    expect(page.locator(".line.assistant[data-final='true']").last).to_contain_text("I am back.")
    wait_until(lambda: ("voice", "assistant", "I am back.") in turns(service, sid), "the resumed turn stored")
    page.get_by_role("button", name="End conversation").click()
    expect(status).to_have_attribute("data-state", "closed")
    expect(page.locator("#voice-live")).to_be_hidden()


@pytest.mark.voice
def test_live_indicator_on_every_page_and_voice_turns_in_the_chat(page: Page, doubles: Doubles) -> None:
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    session = start_conversation(page, doubles, "data-phase", "listening")
    loop = doubles.loop

    # Distinct phases: hearing the user, thinking, speaking; no diagnostics on screen.
    loop.run(session.speech_started("item_p_u"))
    expect(page.locator("#voice-status")).to_have_attribute("data-phase", "hearing")
    loop.run(session.speech_stopped("item_p_u"))
    loop.run(session.transcription("item_p_u", "Summarise the plan."))
    expect(page.locator("#voice-status")).to_have_attribute("data-phase", "thinking")
    loop.run(session.reply("item_p_a", "The plan has three steps.", pcm=tone_pcm24k(330, 1.5)))
    expect(page.locator("#voice-status")).to_have_attribute("data-phase", "speaking")
    expect(page.locator("#voice-audio")).to_be_hidden()
    assert "received" not in (page.locator("#voice-panel").inner_text())

    # On the chat page: the indicator shows, the voice turns are in the history.
    page.get_by_role("link", name="Chat").click()
    live = page.locator("#voice-live")
    expect(live).to_be_visible()
    expect(live).to_contain_text("Voice is live")
    voice_turns = page.locator("#chat-log .message[data-channel='voice']")
    expect(voice_turns.nth(0)).to_contain_text("Summarise the plan.")
    expect(voice_turns.nth(1)).to_contain_text("The plan has three steps.")

    # Mute from the chat page: no more microphone frames reach VoiceLive.
    live.get_by_role("button", name="Mute").click()
    expect(live).to_have_attribute("data-muted", "true")
    expect(live.get_by_role("button", name="Unmute")).to_be_visible()
    frames = len(session.of_type("input_audio_buffer.append"))
    page.wait_for_timeout(400)  # the only way to show nothing is sent: look again after a while
    assert len(session.of_type("input_audio_buffer.append")) <= frames + 1
    shot(page, "live-indicator-on-chat")
    live.get_by_role("button", name="End voice").click()
    expect(live).to_be_hidden()
    page.get_by_role("link", name="Voice").click()
    expect(page.get_by_role("button", name="Start conversation")).to_be_visible()


@pytest.mark.voice
def test_talk_over_cuts_the_line_to_what_was_heard(page: Page, doubles: Doubles) -> None:
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    session = start_conversation(page, doubles, "data-phase", "listening")
    loop = doubles.loop
    user_says(doubles, session, "item_c_u", "Tell me everything.")
    words = " ".join(f"word{i}" for i in range(40))
    response_id = loop.run(session.start_response("item_c_a"))
    loop.run(session.transcript_delta(response_id, "item_c_a", words))
    loop.run(session.audio_delta(response_id, "item_c_a", tone_pcm24k(330, 6.0)))
    expect(page.locator("#voice-audio")).to_have_attribute("data-playing", "true")
    loop.run(session.speech_started("item_c_u2"))  # the user talks over the answer
    cut = page.locator(".line.assistant[data-interrupted='true']")
    expect(cut).to_contain_text("interrupted")
    # The late end of the cancelled answer does not form a phantom line.
    loop.run(session.transcript_done(response_id, "item_c_a", words + " and more."))
    loop.run(session.speech_stopped("item_c_u2"))
    loop.run(session.transcription("item_c_u2", "Stop."))
    expect(page.locator(".line.user[data-final='true']")).to_have_count(2)
    expect(page.locator(".line.assistant")).to_have_count(1)
    shown = cut.locator(".text").inner_text()
    assert len(shown) < len(words), "the line must keep only what was heard"
    page.get_by_role("button", name="End conversation").click()


@pytest.mark.chat
def test_stop_aborts_the_answer_and_nothing_is_stored(page: Page, doubles: Doubles, service: str) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    sid = session_id(page)
    aborted = doubles.openai.streams_aborted
    doubles.openai.script(Step(reply="word " * 400, chunk_delay_s=0.05, delay_s=0.5))
    box = page.get_by_role("textbox", name="Message")
    box.fill("Write me a very long answer.")
    box.press("Enter")
    # At once: the message is shown, the answer is pending, Stop replaces Send.
    expect(page.locator(".message.user").last).to_be_in_viewport()
    reply = page.locator(".message.assistant").last
    expect(reply.locator(".pending")).to_have_text(re.compile(r"Elena is thinking"))
    expect(page.locator("#announcer")).to_contain_text("Elena is answering")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(reply.locator(".body")).to_contain_text("word")
    box.press("Escape")
    expect(reply).to_have_attribute("data-stopped", "true")
    expect(reply.locator(".meta")).to_contain_text("not saved")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(box).to_be_focused()
    wait_until(lambda: doubles.openai.streams_aborted > aborted, "the model call closed by the service")
    assert turns(service, sid) == []  # nothing half-done stored

    # The Stop button does the same.
    doubles.openai.script(Step(reply="word " * 400, chunk_delay_s=0.05))
    box.fill("Again, long.")
    box.press("Enter")
    expect(page.locator(".message.assistant").last.locator(".body")).to_contain_text("word")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".message.assistant").last).to_have_attribute("data-stopped", "true")
    shot(page, "chat-stopped")


@pytest.mark.chat
@pytest.mark.voice
def test_reload_redraws_chat_and_voice_turns(page: Page, doubles: Doubles, service: str) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    sid = session_id(page)
    doubles.openai.script(Step(reply="## Plan\n\n```python\nprint('first step')\n```"))
    page.get_by_role("textbox", name="Message").fill("Line one\nLine two")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.assistant").first).to_have_attribute("data-done", "true")
    page.get_by_role("link", name="Voice").click()
    before = len(doubles.voicelive.sessions)
    page.get_by_role("button", name="Start conversation").click()
    session = doubles.loop.run(doubles.voicelive.session(before))
    user_says(doubles, session, "item_r_u", "Said by voice.")
    doubles.loop.run(session.reply("item_r_a", "Answered by voice."))
    expect(page.locator(".line.assistant[data-final='true']")).to_contain_text("Answered by voice.")
    page.get_by_role("button", name="End conversation").click()
    wait_until(lambda: len(turns(service, sid)) >= 4, "chat and voice turns stored")

    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    assert session_id(page) == sid
    log = page.locator("#chat-log")
    expect(log.locator(".message")).to_have_count(4)
    user = log.locator(".message.user .body").first
    expect(user).to_have_text("Line one\nLine two")
    assert user.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"  # line breaks kept
    expect(log.locator(".message.assistant h3")).to_have_text("Plan")
    expect(log.locator(".message.assistant pre")).to_have_attribute("tabindex", "0")
    expect(log.locator(".message[data-channel='voice']").nth(0)).to_contain_text("Said by voice.")
    expect(log.locator(".message[data-channel='voice']").nth(1)).to_contain_text("Answered by voice.")
    shot(page, "chat-restored")


@pytest.mark.chat
def test_new_conversation_can_be_undone(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    expect(page.locator("#chat-log .empty")).to_contain_text("Hello, I'm Elena")
    first = session_id(page)
    page.locator("#chat-log .starter").first.click()  # a starter prompt sends itself
    expect(page.locator(".message.assistant").first).to_have_attribute("data-done", "true")
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#chat-log .message")).to_have_count(0)
    expect(page.locator("#chat-log .empty")).to_be_visible()
    assert session_id(page) != first
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#chat-log .message")).to_have_count(2)
    assert session_id(page) == first
    expect(page.get_by_role("button", name="Undo")).to_have_count(0)


@pytest.mark.chat
def test_phone_layout_keeps_the_box_in_view_and_enter_breaks_lines(browser: Browser, service: str) -> None:
    context = browser.new_context(
        base_url=service, viewport={"width": 390, "height": 740}, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.locator("#chat-panel .agent")).to_have_count(2)
        expect(page.locator("#chat-hint")).to_contain_text("Tap Send")
        box = page.get_by_role("textbox", name="Message")
        box.tap()
        page.keyboard.type("first line")
        page.keyboard.press("Enter")
        page.keyboard.type("second line")
        expect(box).to_have_value("first line\nsecond line")  # Enter did not send
        expect(page.locator(".message")).to_have_count(0)
        page.get_by_role("button", name="Send").tap()
        expect(page.locator(".message.assistant").first).to_have_attribute("data-done", "true")
        for _ in range(4):  # a long conversation: the page itself never scrolls, the box stays put
            box.fill("more " * 60)
            page.get_by_role("button", name="Send").tap()
            expect(page.locator(".message.assistant").last).to_have_attribute("data-done", "true")
        expect(box).to_be_in_viewport()
        assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight + 1")
        shot(page, "phone-chat")
    finally:
        context.close()
