"""Fixtures for the browser end-to-end tests (see harness.py).

They need the built UI (`make web`) and Debian's Chromium (`make test` installs both). Without them
the tests skip with the reason locally, and fail under CI (CI=true) so a green run always ran them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.voicelive_server import DoubleSession, VoiceLiveDouble
from tests.e2e.harness import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    DEPLOYED_API_URL,
    DEPLOYED_BASE_URL,
    DEPLOYED_TOKEN,
    DOUBLE_ONLY,
    VOICELIVE_KEY,
    WEB_DIST,
    Doubles,
    LoopThread,
    start_engram,
    write_tone_wav,
)


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"e2e prerequisite missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def doubles() -> Iterator[Doubles]:
    if DEPLOYED_BASE_URL:
        pytest.skip(DOUBLE_ONLY)
    loop = LoopThread()
    openai = OpenAIDouble()
    voicelive = VoiceLiveDouble(api_key=VOICELIVE_KEY)
    loop.run(openai.__aenter__())
    loop.run(voicelive.__aenter__())
    try:
        yield Doubles(loop, openai, voicelive)
    finally:
        loop.run(voicelive.__aexit__(None, None, None))
        loop.run(openai.__aexit__(None, None, None))
        loop.stop()


@pytest.fixture(scope="module")
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running `engram serve` that serves the built UI and talks to the doubles; or the
    deployed stack's (E2E_BASE_URL), when the tests run against one."""
    if DEPLOYED_BASE_URL:
        yield DEPLOYED_BASE_URL
        return
    require((WEB_DIST / "index.html").is_file(), f"the UI is not built ({WEB_DIST}); run `make web`")
    doubles: Doubles = request.getfixturevalue("doubles")
    proc, base = start_engram(tmp_path_factory.mktemp("engram"), doubles)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    require(os.access(CHROMIUM, os.X_OK), f"no Chromium at {CHROMIUM}; `make chromium` installs Debian's")
    wav = write_tone_wav(tmp_path_factory.mktemp("audio") / "mic.wav")
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={wav}"],
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Browser, base_url: str, name: str, **context_options: Any) -> Iterator[Page]:
    """A fresh tab (new sessionStorage, so a new session id); a screenshot is kept when it ends and
    any uncaught page error or Content-Security-Policy violation fails the test. `context_options` go
    to Playwright's new_context (e.g. ignore_https_errors for the local OpenID provider's certificate)."""
    # Against a deployed stack the service principal's token rides on every request (the UI's own
    # sign-in is interactive and a service principal cannot do it).
    headers = {"Authorization": f"Bearer {DEPLOYED_TOKEN}"} if DEPLOYED_TOKEN else None
    context = browser.new_context(
        base_url=base_url,
        viewport={"width": 1100, "height": 900},
        extra_http_headers=headers,
        **context_options,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The build's Content-Security-Policy must never block the UI itself: a violation fails the test.
    page.on(
        "console",
        lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
    )
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-final.png"), full_page=True
        )
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(browser: Browser, service: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(browser, service, request.node.name) as page:
        yield page


def api_headers() -> dict[str, str]:
    """Headers for calls the tests make to the API themselves (the token, against a deployed stack)."""
    return {"Authorization": f"Bearer {DEPLOYED_TOKEN}"} if DEPLOYED_TOKEN else {}


def api_url(service: str) -> str:
    """Where the tests call the API themselves: the service locally; E2E_API_URL (else the UI's URL)
    against a deployed stack."""
    return DEPLOYED_API_URL or service


def shot(page: Page, name: str) -> Path:
    """Keep a screenshot of the current state as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def start_conversation(
    page: Page, doubles: Doubles, attribute: str = "data-state", value: str = "open"
) -> DoubleSession:
    """Press Start conversation on the voice page, wait until #voice-status has `attribute=value` (the
    socket open, or a phase), and return the VoiceLive session that the press opened."""
    before = len(doubles.voicelive.sessions)
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#voice-status")).to_have_attribute(attribute, value)
    return doubles.loop.run(doubles.voicelive.session(before))


def user_says(doubles: Doubles, session: DoubleSession, item: str, text: str) -> None:
    """VoiceLive hears the user: speech starts and stops on `item`, and its transcription is `text`."""
    doubles.loop.run(session.speech_started(item))
    doubles.loop.run(session.speech_stopped(item))
    doubles.loop.run(session.transcription(item, text))
