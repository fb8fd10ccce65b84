"""The voice page's recording consent in a real browser: the prompt, the confirmed-only indicator and
withdrawal mid-session, against `engram serve` recording to Azurite (tests/azurite).

Checked: nothing is asked or recorded before the conversation starts; the prompt appears once
connected; "Allow recording" shows the indicator only after the server's confirmation; "Stop
recording" withdraws at once; the microphone audio up to the withdrawal is stored as a WAV.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient
from playwright.sync_api import Page, expect

from tests.azurite.server import Azurite
from tests.e2e.conftest import require, shot, start_conversation
from tests.e2e.harness import DEPLOYED_BASE_URL, WEB_DIST, Doubles, start_engram, wait_until

CONTAINER = "recordings-e2e"


@pytest.fixture(scope="module")
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, azurite_server: Azurite
) -> Iterator[str]:
    """`engram serve` on the doubles with RECORDING_MODE=consent and Azurite as the store."""
    if DEPLOYED_BASE_URL:
        pytest.skip("scripts the local doubles and reads the Azurite store")
    require((WEB_DIST / "index.html").is_file(), f"the UI is not built ({WEB_DIST}); run `make web`")
    doubles: Doubles = request.getfixturevalue("doubles")
    proc, base = start_engram(
        tmp_path_factory.mktemp("engram-rec"),
        doubles,
        RECORDING_MODE="consent",
        RECORDING_STORAGE_CONNECTION_STRING=azurite_server.connection_string,
        RECORDING_CONTAINER=CONTAINER,
        RECORDING_RETENTION_DAYS="30",
    )
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def user_tracks(azurite: Azurite) -> list[bytes]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        return []
    return [
        container.download_blob(b.name).readall()
        for b in container.list_blobs()
        if b.name.endswith("user.wav")
    ]


@pytest.mark.voice
def test_consent_prompt_indicator_and_withdrawal(
    page: Page, doubles: Doubles, azurite_server: Azurite
) -> None:
    page.goto("/voice")
    expect(page.locator("#voice-consent")).to_be_hidden()  # nothing is asked before a conversation
    session = start_conversation(page, doubles)

    prompt = page.locator("#voice-consent")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text("May we record this conversation")
    indicator = page.locator("#voice-recording")
    expect(indicator).to_be_hidden()
    shot(page, "voice-consent-prompt")

    page.get_by_role("button", name="Allow recording").click()
    expect(indicator).to_have_attribute("data-state", "recording")  # confirmed by the server
    expect(indicator).to_contain_text("Recording this conversation")
    expect(prompt).to_be_hidden()
    appended = len(session.of_type("input_audio_buffer.append"))  # some frames went before consent
    doubles.loop.run(session.wait_for("input_audio_buffer.append", count=appended + 20))
    shot(page, "voice-recording-on")

    page.get_by_role("button", name="Stop recording").click()
    expect(indicator).to_have_attribute("data-state", "declined")
    expect(indicator).to_have_text("Not recording.")
    at_click = len(session.of_type("input_audio_buffer.append"))
    doubles.loop.run(session.wait_for("input_audio_buffer.append", count=at_click + 20))  # call goes on
    page.get_by_role("button", name="End conversation").click()
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "closed")
    sent = len(session.of_type("input_audio_buffer.append"))

    wait_until(lambda: bool(user_tracks(azurite_server)), "the recording to be committed")
    (track,) = user_tracks(azurite_server)
    with wave.open(io.BytesIO(track)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 24_000)
        # At least the frames since consent; none of the 20 sent after the withdrawal (a frame or two
        # may have been in flight when the count at the click was taken, hence the margin).
        assert 20 * 960 <= reader.getnframes() <= (sent - 15) * 960
