"""Accessibility (SOP 5.1): axe-core in the real page, and chat used with the keyboard alone.

axe-core comes from app/web's node_modules (a devDependency, `npm ci` installs it; never a CDN) and is
evaluated into the page through the driver, so the build's Content-Security-Policy stays as shipped.
The chat page, the voice page idle and the voice page live (a session open, transcripts and an answer
shown) must have no serious or critical violation, and so must every state with real content on screen
(the empty state, a pending answer, a long answer with headings, code and a table, a stopped answer,
voice turns in the chat with the live indicator, an interrupted transcript line, reconnecting); every
violation found is kept as a JSON artifact (test-artifacts/e2e/axe-*.json) for the record. Chat and
voice are also used with the keyboard alone, and the focus ring is checked for 3:1 contrast.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.doubles.openai_server import Step
from tests.e2e.conftest import require, shot, start_conversation, user_says
from tests.e2e.harness import ARTIFACTS, DEPLOYED_BASE_URL, REPO, Doubles, tone_pcm24k

LONG_ANSWER = "\n".join(
    [
        "## Launch plan",
        "",
        "The plan has **three** phases; each ends with a review.",
        "",
        "#### Phase one",
        "",
        "1. Agree the scope with the sponsors",
        "2. Name an owner for every risk",
        "",
        "```python",
        "milestones = [" + ", ".join(f"'milestone-{i}'" for i in range(30)) + "]",
        "```",
        "",
        "| Risk | Owner | Due |",
        "|---|---|---|",
        "| Scope creep | Marcus | May |",
        "| Staffing | Elena | June |",
        "",
        "> Review the plan every **Friday**.",
        "",
        *[f"Paragraph {i}: " + "details of the plan " * 12 for i in range(8)],
    ]
)

pytestmark = [pytest.mark.e2e, pytest.mark.a11y]

AXE = REPO / "app" / "web" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
#: WCAG 2.x A and AA, plus axe's best practices (landmarks, headings, region).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@pytest.fixture(scope="module")
def axe_source() -> str:
    require(AXE.is_file(), f"axe-core is not installed ({AXE}); run `npm ci` in app/web")
    return AXE.read_text()


def audit(page: Page, axe_source: str, name: str) -> list[dict[str, Any]]:
    """Run axe on the page; return its violations (kept under test-artifacts/e2e/axe-<name>.json)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    violations: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const result = await window.axe.run(
                document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
            }));
        }""",
        TAGS,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    Path(ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(violations, indent=2))
    return violations


def assert_no_blocking(violations: list[dict[str, Any]]) -> None:
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, "serious or critical accessibility violations:\n" + json.dumps(blocking, indent=2)


@pytest.mark.chat
def test_chat_page_has_no_serious_violations(
    page: Page, request: pytest.FixtureRequest, axe_source: str
) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    assert_no_blocking(audit(page, axe_source, "chat-empty"))
    if not DEPLOYED_BASE_URL:  # locally the answer carries every markdown element the UI renders
        doubles: Doubles = request.getfixturevalue("doubles")
        doubles.openai.script(
            Step(reply="**Goals first.**\n\n- scope\n- owners\n\n`code` and [a link](https://example.com)")
        )
    page.get_by_role("textbox", name="Message").fill("Where do we start?")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant").first).to_have_attribute("data-done", "true", timeout=60_000)
    assert_no_blocking(audit(page, axe_source, "chat-answered"))


@pytest.mark.voice
def test_voice_idle_has_no_serious_violations(page: Page, axe_source: str) -> None:
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    assert_no_blocking(audit(page, axe_source, "voice-idle"))


@pytest.mark.voice
def test_voice_live_has_no_serious_violations(page: Page, doubles: Doubles, axe_source: str) -> None:
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    session = start_conversation(page, doubles)
    loop = doubles.loop
    user_says(doubles, session, "item_a11y_u", "Is this accessible?")
    loop.run(session.reply("item_a11y_a", "Let us check with axe.", pcm=tone_pcm24k(330, 0.2)))
    expect(page.locator(".line.assistant[data-final='true']").first).to_contain_text("Let us check with axe.")
    assert_no_blocking(audit(page, axe_source, "voice-live"))
    shot(page, "a11y-voice-live")
    page.get_by_role("button", name="End conversation").click()
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "closed")


def focused(page: Page) -> str:
    """The focused element as `tag#id[name]`, for asserting where Tab went."""
    return str(
        page.evaluate(
            "(() => { const e = document.activeElement; if (!e) return '';"
            " const what = e.getAttribute('name') || e.textContent?.trim().slice(0, 20) || '';"
            " return `${e.tagName.toLowerCase()}#${e.id}[${what}]`; })()"
        )
    )


def tab_to(page: Page, selector: str, limit: int = 25) -> list[str]:
    """Press Tab until `selector` has the focus (bounded); returns the stops on the way."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return stops
    raise AssertionError(f"Tab never reached {selector}; stops: {stops}")


@pytest.mark.chat
def test_chat_with_the_keyboard_only(page: Page) -> None:
    """No click and no programmatic focus: skip link, Tab, arrows, typing, Enter."""
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    page.keyboard.press("Tab")
    assert "skip" in (page.evaluate("document.activeElement.className") or ""), focused(page)
    page.keyboard.press("Enter")  # skip to content: the next Tab stop is inside <main>
    stops = tab_to(page, "#chat-panel input[type=radio]:checked")
    assert not any(stop.startswith("a#") for stop in stops[:-1]), (
        f"skip link did not skip the header: {stops}"
    )
    page.keyboard.press("ArrowRight")
    expect(page.locator("#chat-panel").get_by_label("Marcus")).to_be_checked()
    tab_to(page, "#chat-input")
    page.keyboard.type("Plan the week, please.")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Short answer.")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").first
    expect(answer).to_have_attribute("data-done", "true")
    expect(answer).to_have_attribute("data-agent", "marcus")
    expect(page.locator(".message.user .body").first).to_have_text("Plan the week, please.\nShort answer.")
    # The Send button is reachable too, and sends with Space.
    page.keyboard.type("And Monday?")
    tab_to(page, "#chat-send")
    page.keyboard.press("Space")
    expect(page.locator(".message.assistant")).to_have_count(2)
    expect(page.locator(".message.assistant").nth(1)).to_have_attribute("data-done", "true")
    shot(page, "a11y-keyboard-chat")


@pytest.mark.chat
def test_the_audit_can_fail(page: Page, axe_source: str) -> None:
    """A planted fault (an image without alt text, a button without a name) is reported as blocking, so
    the empty results above mean a clean page, not an audit that never ran."""
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    page.evaluate(
        "document.querySelector('#main').insertAdjacentHTML('beforeend',"
        ' \'<img src="data:," id="planted-img"><button id="planted-button"></button>\')'
    )
    found = {v["id"]: v["impact"] for v in audit(page, axe_source, "planted")}
    assert found.get("image-alt") == "critical" and found.get("button-name") == "critical", found


@pytest.mark.chat
@pytest.mark.voice
def test_every_state_with_real_content_has_no_serious_violations(
    page: Page, doubles: Doubles, axe_source: str
) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    expect(page.locator("#chat-log .starter")).to_have_count(3)
    assert_no_blocking(audit(page, axe_source, "state-empty"))

    doubles.openai.script(Step(reply=LONG_ANSWER, delay_s=1.5))
    page.get_by_role("textbox", name="Message").fill("Plan the launch, in detail.")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant .pending")).to_be_visible()
    assert_no_blocking(audit(page, axe_source, "state-pending"))
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-done", "true")
    expect(answer.locator("h3")).to_have_text("Launch plan")
    expect(answer.locator("h4")).to_have_text("Phase one")  # ## and #### -> h3, h4: no level skipped
    assert_no_blocking(audit(page, axe_source, "state-long-answer"))

    doubles.openai.script(Step(reply="word " * 300, chunk_delay_s=0.05))
    page.get_by_role("textbox", name="Message").fill("Another long one.")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant").last.locator(".body")).to_contain_text("word")
    page.keyboard.press("Escape")
    expect(page.locator(".message.assistant").last).to_have_attribute("data-stopped", "true")
    assert_no_blocking(audit(page, axe_source, "state-stopped"))

    page.get_by_role("link", name="Voice").click()
    session = start_conversation(page, doubles, "data-phase", "listening")
    loop = doubles.loop
    user_says(doubles, session, "item_s_u", "Read me the plan.")
    loop.run(session.reply("item_s_a", "The plan has three phases.", pcm=tone_pcm24k(330, 0.2)))
    expect(page.locator("#voice-audio")).to_have_attribute("data-played-ms", "200")  # heard in full
    user_says(doubles, session, "item_s_u2", "And the risks?")
    response_id = loop.run(session.start_response("item_s_a2"))
    loop.run(session.transcript_delta(response_id, "item_s_a2", "The first risk is " + "scope " * 30))
    loop.run(session.audio_delta(response_id, "item_s_a2", tone_pcm24k(330, 4.0)))
    expect(page.locator("#voice-status")).to_have_attribute("data-phase", "speaking")
    page.get_by_role("button", name="Stop the answer").click()
    expect(page.locator(".line.assistant[data-interrupted='true']")).to_have_count(1)
    assert_no_blocking(audit(page, axe_source, "state-voice-transcripts"))

    page.get_by_role("link", name="Chat").click()
    expect(page.locator("#voice-live")).to_be_visible()
    expect(page.locator("#chat-log .message[data-channel='voice']")).to_have_count(4)
    assert_no_blocking(audit(page, axe_source, "state-chat-with-live-voice"))

    doubles.loop.run(doubles.voicelive.__aexit__(None, None, None))
    try:
        expect(page.locator("#voice-live")).to_have_attribute("data-phase", "reconnecting")
        assert_no_blocking(audit(page, axe_source, "state-reconnecting"))
    finally:
        doubles.loop.run(doubles.voicelive.__aenter__())
    page.locator("#voice-live").get_by_role("button", name="End voice").click()
    expect(page.locator("#voice-live")).to_be_hidden()
    shot(page, "a11y-states")


def _luminance(css: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", css)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def shift_tab_to(page: Page, selector: str, limit: int = 25) -> None:
    for _ in range(limit):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"Shift+Tab never reached {selector}")


@pytest.mark.voice
def test_voice_with_the_keyboard_only(page: Page, doubles: Doubles) -> None:
    """Start, mute, scroll the transcript, stop and end a voice conversation without a mouse; the
    focus ring stands out (3:1) from the page behind it, and Start/End is a plain button whose
    label says what it does next (no toggle state as well)."""
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # skip link
    tab_to(page, "#voice-start")
    start = page.locator("#voice-start")
    assert start.get_attribute("aria-pressed") is None
    ring = start.evaluate("e => getComputedStyle(e).outlineColor")
    behind = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert contrast(ring, behind) >= 3, f"focus ring {ring} on {behind}"
    before = len(doubles.voicelive.sessions)
    page.keyboard.press("Enter")
    expect(page.locator("#voice-status")).to_have_attribute("data-phase", "listening")
    expect(start).to_have_text("End conversation")
    session = doubles.loop.run(doubles.voicelive.session(before))
    loop = doubles.loop
    user_says(doubles, session, "item_k_u", "Keyboard only.")
    loop.run(session.reply("item_k_a", "Understood.", pcm=tone_pcm24k(330, 0.2)))
    expect(page.locator(".line.assistant[data-final='true']")).to_contain_text("Understood.")

    tab_to(page, "#voice-mute")
    page.keyboard.press("Enter")
    expect(page.locator("#voice-mute")).to_have_text("Unmute")
    page.keyboard.press("Space")
    expect(page.locator("#voice-mute")).to_have_text("Mute")
    tab_to(page, "#voice-transcript")  # the scrolling transcript takes focus
    shift_tab_to(page, "#voice-start")
    page.keyboard.press("Enter")
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "closed")
    expect(start).to_have_text("Start conversation")
    expect(start).to_be_focused()
    shot(page, "a11y-keyboard-voice")


@pytest.mark.chat
def test_escape_stops_an_answer_from_the_keyboard(page: Page, doubles: Doubles) -> None:
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    doubles.openai.script(Step(reply="word " * 300, chunk_delay_s=0.05))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    tab_to(page, "#chat-input")
    page.keyboard.type("Long answer, please.")
    page.keyboard.press("Enter")
    expect(page.locator(".message.assistant").last.locator(".body")).to_contain_text("word")
    tab_to(page, "#chat-log")  # the conversation scrolls, so it takes focus too
    page.keyboard.press("Escape")
    expect(page.locator(".message.assistant").last).to_have_attribute("data-stopped", "true")


@pytest.mark.chat
def test_a_streamed_answer_is_announced_once(page: Page, doubles: Doubles) -> None:
    """Screen readers hear "Elena is answering", then the answer once: not one announcement per token
    (the log itself is not live; the one polite announcer speaks for it)."""
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)
    page.evaluate(
        """() => {
            window.__said = [];
            const announcer = document.getElementById("announcer");
            new MutationObserver(() => {
                if (announcer.textContent) window.__said.push(announcer.textContent);
            }).observe(announcer, {childList: true, characterData: true, subtree: true});
        }"""
    )
    answer = " ".join(f"word{i}" for i in range(23))
    doubles.openai.script(Step(reply=answer, chunk_delay_s=0.02))
    page.get_by_role("textbox", name="Message").fill("Twenty-three words, please.")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant").last).to_have_attribute("data-done", "true")
    expect(page.locator("#announcer")).to_contain_text("word22")
    said: list[str] = page.evaluate("window.__said")
    assert said == ["Sent. Elena is answering.", f"Elena: {answer}"], said
    assert page.locator("#chat-log").get_attribute("aria-live") == "off"
