"""A development build on its own origin: build-time VITE_API_URL, the dev-token sign-in, CORS, and
the websocket bearer subprotocol, in Chromium against `engram serve` with AUTH_REQUIRED=true.

This is how the UI runs in Azure (Static Web Apps on one host, the API on another), minus Entra.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import open_page, require, shot
from tests.e2e.harness import WEB, Doubles, free_port, start_engram, static_ui, wait_http

pytestmark = pytest.mark.e2e

TOKEN = "dev_alice_analyst"


@pytest.fixture(scope="module")
def dev_site(doubles: Doubles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(UI origin, API origin): a dev-mode build served by a plain static server, and the API."""
    require((WEB / "node_modules" / ".bin" / "vite").exists(), "UI dependencies missing; run `make web`")
    require(shutil.which("npx") is not None, "npx (Node) is not installed")
    api_port, ui_port = free_port(), free_port()
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    out = tmp_path_factory.mktemp("dev-build") / "dist"
    static = static_ui(out, ui_port, VITE_AUTH_MODE="dev", VITE_API_URL=api)
    engram, _ = start_engram(
        tmp_path_factory.mktemp("engram-dev"),
        doubles,
        port=api_port,
        AUTH_REQUIRED="true",
        CORS_ORIGINS=json.dumps([ui]),
    )
    try:
        wait_http(ui, static, "the static server")
        yield ui, api
    finally:
        engram.terminate()
        static.terminate()
        engram.wait(10)
        static.wait(10)


@pytest.fixture
def dev_page(browser: Browser, dev_site: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(browser, dev_site[0], request.node.name) as page:
        yield page


@pytest.mark.chat
@pytest.mark.voice
def test_dev_token_sign_in_chat_and_voice_across_origins(
    dev_page: Page, dev_site: tuple[str, str], doubles: Doubles
) -> None:
    page, (_, api) = dev_page, dev_site
    page.goto("/")
    # The build's policy names the API origin and its websocket twin, and nothing else remote.
    policy = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content") or ""
    assert f"connect-src 'self' {api} {api.replace('http://', 'ws://')};" in policy, policy
    # Signed out: the agent catalogue is an open route (SOP 10.1), so it loads cross-origin anyway.
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    token = page.get_by_label("Dev token")
    token.fill("alice")
    token.press("Enter")
    expect(page.locator("#dev-token-error")).to_contain_text("dev_<name>_<role>")
    expect(token).to_have_attribute("aria-invalid", "true")

    token.fill(TOKEN)
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_test_id("account")).to_have_text("Signed in as alice (analyst)")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)

    page.get_by_role("textbox", name="Message").fill("Hello from another origin")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant").first).to_have_attribute("data-done", "true")

    # The websocket offers `engram.v1, bearer.<token>`; Chromium only connects if the server echoes
    # engram.v1, and the server only accepts with a valid token from an allowed origin.
    before = len(doubles.voicelive.sessions)
    page.get_by_role("link", name="Voice").click()
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "open")
    session = doubles.loop.run(doubles.voicelive.session(before))
    doubles.loop.run(session.wait_for("input_audio_buffer.append"))
    shot(page, "dev-auth-cross-origin")
    page.get_by_role("button", name="End conversation").click()

    sid = page.evaluate("sessionStorage.getItem('engram_session_id')")
    episode = httpx.get(f"{api}/api/v1/memory/episodes/{sid}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert episode.status_code == 200
    assert "chat" in episode.json()["channels"]
    assert httpx.get(f"{api}/api/v1/memory/episodes/{sid}").status_code == 401
    other = httpx.get(
        f"{api}/api/v1/memory/episodes/{sid}", headers={"Authorization": "Bearer dev_bob_analyst"}
    )
    assert other.status_code == 404  # someone else's episode does not exist for bob


@pytest.mark.chat
@pytest.mark.a11y
def test_accessibility_basics(dev_page: Page) -> None:
    page = dev_page
    page.goto("/")
    # The first Tab reaches the skip link, and it moves focus into the main content.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    # Every control has an accessible name; live regions announce chat and transcripts.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, textarea, button, select')]
            .filter((el) => !el.hidden && !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !(el.textContent || '').trim())
            .map((el) => el.outerHTML)"""
    )
    assert unnamed == []
    assert page.locator("#chat-log").get_attribute("role") == "log"
    assert page.locator("#chat-log").get_attribute("aria-live") == "off"
    assert page.locator("#voice-transcript").get_attribute("aria-live") == "off"
    assert page.locator("#announcer").get_attribute("role") == "status"
    assert page.locator("html").get_attribute("lang") == "en"


@pytest.mark.chat
@pytest.mark.voice
def test_shared_machine_sign_out_leaves_a_clean_screen(dev_page: Page, doubles: Doubles) -> None:
    """Alice signs out with voice live and a conversation on screen; Bob signs in on the same tab:
    nothing of Alice's stays, voice is off, and Bob's first message is his own new session."""
    page = dev_page
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    page.get_by_label("Dev token").fill(TOKEN)
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_test_id("account")).to_have_text("Signed in as alice (analyst)")
    page.get_by_role("textbox", name="Message").fill("Alice's private note")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant").first).to_have_attribute("data-done", "true")
    page.get_by_role("textbox", name="Message").fill("an unsent draft")
    alice_session = page.evaluate("sessionStorage.getItem('engram_session_id')")
    page.get_by_role("link", name="Voice").click()
    before = len(doubles.voicelive.sessions)
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "open")
    doubles.loop.run(doubles.voicelive.session(before))

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Dev token")).to_be_visible()
    expect(page.locator("#voice-live")).to_be_hidden()  # the microphone went off with the account
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "closed")
    page.get_by_role("link", name="Chat").click()
    expect(page.locator("#chat-log .message")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Message")).to_have_value("")
    assert "Alice" not in page.locator("main").inner_text()
    assert page.evaluate("sessionStorage.getItem('engram_session_id')") != alice_session

    page.get_by_label("Dev token").fill("dev_bob_analyst")
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_test_id("account")).to_have_text("Signed in as bob (analyst)")
    page.get_by_role("textbox", name="Message").fill("Bob's first message")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant").first).to_have_attribute("data-done", "true")
    expect(page.locator("#chat-error")).to_be_empty()
    shot(page, "dev-auth-shared-machine")
