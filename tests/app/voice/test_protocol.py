"""Browser message parsing: each accepted shape, each refusal and its message, the frame cap."""

from __future__ import annotations

import base64

import orjson
import pytest

from app.voice import protocol
from app.voice.protocol import (
    AgentSwitch,
    AudioIn,
    Cancel,
    Consent,
    ProtocolError,
    TextIn,
    parse_client_message,
    recording_state,
)

CAP = 4096


def test_audio_keeps_the_base64_as_received() -> None:
    data = base64.b64encode(b"\x01\x02" * 100).decode()
    parsed = parse_client_message(orjson.dumps({"type": "audio", "data": data}), CAP)
    assert parsed == AudioIn(data, 200)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "agent", "agent_id": " Marcus "}, AgentSwitch("marcus")),
        ({"type": "cancel"}, Cancel()),
        ({"type": "text", "content": " hi "}, TextIn("hi")),
        ({"type": "consent", "recording": True}, Consent(True)),
        ({"type": "consent", "recording": False}, Consent(False)),
    ],
)
def test_control_messages(message: dict[str, object], expected: object) -> None:
    assert parse_client_message(orjson.dumps(message).decode(), CAP) == expected


def test_frame_cap_boundary() -> None:
    at_cap = base64.b64encode(b"\x00" * CAP).decode()
    assert parse_client_message(f'{{"type":"audio","data":"{at_cap}"}}', CAP) == AudioIn(at_cap, CAP)
    over = base64.b64encode(b"\x00" * (CAP + 2)).decode()
    with pytest.raises(ProtocolError, match=f"audio frame too large: {CAP + 2} bytes"):
        parse_client_message(f'{{"type":"audio","data":"{over}"}}', CAP)


def test_huge_messages_are_refused_before_parsing() -> None:
    with pytest.raises(ProtocolError, match="message too large"):
        parse_client_message("x" * (protocol.max_message_chars(CAP) + 1), CAP)


def test_text_length_cap() -> None:
    with pytest.raises(ProtocolError, match="at most 4000 characters"):
        parse_client_message(orjson.dumps({"type": "text", "content": "a" * 4001}), CAP)


@pytest.mark.parametrize(
    ("session_id", "ok"),
    [("abc", True), ("a" * 128, True), ("a" * 129, False), ("", False), ("-x", False), ("a/b", False)],
)
def test_session_ids(session_id: str, ok: bool) -> None:
    assert protocol.valid_session_id(session_id) is ok


def test_server_messages_are_json() -> None:
    assert orjson.loads(protocol.audio_out("AAAA")) == {
        "type": "audio",
        "data": "AAAA",
        "format": "audio/pcm16",
    }
    assert orjson.loads(protocol.transcription("user", "complete", 'say "hi"'))["text"] == 'say "hi"'
    assert orjson.loads(protocol.stop_playback()) == {"type": "stop_playback"}
    assert orjson.loads(protocol.error("x")) == {"type": "error", "message": "x"}


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_consent_needs_a_boolean(value: object) -> None:
    with pytest.raises(ProtocolError, match='"recording": true or false'):
        parse_client_message(orjson.dumps({"type": "consent", "recording": value}).decode(), CAP)


def test_recording_state_messages() -> None:
    assert orjson.loads(recording_state("on")) == {"type": "recording", "state": "on"}
    off = orjson.loads(recording_state("off", "not enabled"))
    assert off == {"type": "recording", "state": "off", "reason": "not enabled"}
