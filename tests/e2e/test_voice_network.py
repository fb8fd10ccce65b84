"""Voice through a network loss in real headless Chromium: the browser goes offline for 5 s in the
middle of a conversation, the UI reconnects with the same session id, and the server resumes the
conversation (the new VoiceLive session receives the turns so far), each turn stored exactly once.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import shot
from tests.e2e.harness import Doubles, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.voice]

OFFLINE_MS = 5_000


def session_id(page: Page) -> str:
    value = page.evaluate("sessionStorage.getItem('engram_session_id')")
    assert isinstance(value, str) and value
    return value


def test_offline_for_five_seconds_mid_conversation_resumes_it(
    page: Page, doubles: Doubles, service: str
) -> None:
    loop, voicelive = doubles.loop, doubles.voicelive
    page.goto("/voice")
    expect(page.locator("#voice-panel .agent")).to_have_count(2)
    sid = session_id(page)
    before = len(voicelive.sessions)
    page.get_by_role("button", name="Start conversation").click()
    status = page.locator("#voice-status")
    expect(status).to_have_attribute("data-state", "open")
    first = loop.run(voicelive.session(before))
    loop.run(first.speech_started("item_u1"))
    loop.run(first.speech_stopped("item_u1"))
    loop.run(first.transcription("item_u1", "Our launch moved to June."))
    loop.run(first.reply("item_a1", "Noted, the launch is in June."))
    expect(page.locator(".line.assistant[data-final='true']").first).to_contain_text("launch is in June")

    page.context.set_offline(True)
    expect(status).not_to_have_attribute("data-state", "open")  # the socket dropped; the UI retries
    page.wait_for_timeout(OFFLINE_MS)  # the outage itself, not a wait for work
    page.context.set_offline(False)
    expect(status).to_have_attribute("data-state", "open", timeout=30_000)
    assert session_id(page) == sid

    # The reconnect resumed the conversation: the new VoiceLive session was told what was said.
    wait_until(lambda: len(voicelive.sessions) > before + 1, "a new VoiceLive session")
    second = voicelive.sessions[-1]
    loop.run(second.wait_for("conversation.item.create", count=2))
    assert second.items_created() == [
        ("user", "Our launch moved to June."),
        ("assistant", "Noted, the launch is in June."),
    ]
    loop.run(second.speech_started("item_u1"))  # the new session reuses item ids
    loop.run(second.speech_stopped("item_u1"))
    loop.run(second.transcription("item_u1", "What else changed?"))
    loop.run(second.reply("item_a1", "Nothing else."))
    expect(page.locator(".line.assistant[data-final='true']").last).to_contain_text("Nothing else.")
    shot(page, "voice-offline-resumed")

    def transcript() -> list[tuple[str, str]]:
        response = httpx.get(f"{service}/api/v1/memory/episodes/{sid}", timeout=5)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return [(t["role"], t["content"]) for t in body["transcript"]]

    wait_until(lambda: len(transcript()) >= 4, "four turns in the episode")
    assert transcript() == [
        ("user", "Our launch moved to June."),
        ("assistant", "Noted, the launch is in June."),
        ("user", "What else changed?"),
        ("assistant", "Nothing else."),
    ]
    page.get_by_role("button", name="End conversation").click()
    expect(status).to_have_attribute("data-state", "closed")
