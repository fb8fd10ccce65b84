"""The browser side of the voice websocket (SOP 10.2): parsing what the browser sends, building replies.

Client -> server (JSON text frames):
  {"type": "audio", "data": "<base64 PCM16 24 kHz mono>"}
  {"type": "agent", "agent_id": "marcus"}
  {"type": "cancel"}
  {"type": "text", "content": "typed input"}
  {"type": "consent", "recording": true|false}   (recording consent for this session; false withdraws)

Server -> client:
  {"type": "agent_switched", "agent_id": ...}
  {"type": "transcription", "speaker": "user"|"assistant", "status": "listening"|"processing"|"complete",
   "text": ..., "delta": ...}   (assistant "processing": `text` is the answer so far, `delta` the new part)
  {"type": "audio", "data": "<base64>", "format": "audio/pcm16"}
  {"type": "stop_playback"}      (barge-in: drop any audio queued for playback)
  {"type": "session_renewed"}    (VoiceLive's session was replaced; the conversation goes on)
  {"type": "session_resumed", "turns": n}   (a reconnect: the conversation's last n turns restored)
  {"type": "error", "message": ...}
  {"type": "recording", "state": "on"|"off", "reason": ...}   (answers consent; "off" on a store failure)

Audio is the hot path: it is parsed with orjson and the base64 text is forwarded untouched; it is
decoded once only to check it and to enforce the frame cap. See docs/voice-protocol.md.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Literal

import orjson

Speaker = Literal["user", "assistant"]
Status = Literal["listening", "processing", "complete"]

# Close codes (RFC 6455 and the IANA registry), one meaning each.
CLOSE_NORMAL = 1000  # the client left, or the session reached its maximum length
CLOSE_POLICY = 1008  # authentication, permission, origin or session ownership refused
CLOSE_INTERNAL = 1011  # voice is not configured, or an unexpected server fault
CLOSE_TRY_AGAIN = 1013  # at the concurrent-session limit, or VoiceLive could not be renewed: reconnect
CLOSE_BAD_GATEWAY = 1014  # the VoiceLive session failed or disconnected
CLOSE_ERASED = 4410  # private range (4000-4999), "410 Gone": the user's data was erased mid-session

_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_MAX_TEXT_CHARS = 4_000
_MAX_AGENT_ID_CHARS = 64
_JSON_OVERHEAD = 256  # bytes of envelope allowed around the base64 of a maximal frame


class ProtocolError(ValueError):
    """A browser message we cannot act on; `str(error)` is the message sent back to the client."""


@dataclass(frozen=True, slots=True)
class AudioIn:
    data: str  # base64 exactly as received, forwarded untouched
    size: int  # decoded bytes


@dataclass(frozen=True, slots=True)
class AgentSwitch:
    agent_id: str


@dataclass(frozen=True, slots=True)
class Cancel:
    pass


@dataclass(frozen=True, slots=True)
class TextIn:
    content: str


@dataclass(frozen=True, slots=True)
class Consent:
    recording: bool


ClientMessage = AudioIn | AgentSwitch | Cancel | TextIn | Consent

CLIENT_TYPES = ("audio", "agent", "cancel", "text", "consent")


def valid_session_id(session_id: str) -> bool:
    """Session ids are the chat episode ids: 1-128 URL-safe characters."""
    return bool(_SESSION_ID.match(session_id))


def max_message_chars(max_frame_bytes: int) -> int:
    """The longest text frame worth parsing: the base64 of a maximal frame plus its envelope."""
    return (max_frame_bytes + 2) // 3 * 4 + _JSON_OVERHEAD


def parse_client_message(raw: str | bytes, max_frame_bytes: int) -> ClientMessage:
    """One browser frame -> a typed message, or `ProtocolError` with a message fit for the client."""
    if len(raw) > max_message_chars(max_frame_bytes):
        raise ProtocolError(f"message too large: audio frames may carry at most {max_frame_bytes} bytes")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError("invalid JSON: send one JSON object per websocket message") from None
    if not isinstance(message, dict):
        raise ProtocolError('invalid message: expected a JSON object with a "type" field')
    kind = message.get("type")
    if kind == "audio":
        return _audio(message.get("data"), max_frame_bytes)
    if kind == "agent":
        agent_id = message.get("agent_id")
        if not isinstance(agent_id, str) or not 0 < len(agent_id.strip()) <= _MAX_AGENT_ID_CHARS:
            raise ProtocolError('agent messages need "agent_id": a non-empty string')
        return AgentSwitch(agent_id.strip().lower())
    if kind == "cancel":
        return Cancel()
    if kind == "text":
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ProtocolError('text messages need "content": a non-empty string')
        if len(content) > _MAX_TEXT_CHARS:
            raise ProtocolError(f"text messages may hold at most {_MAX_TEXT_CHARS} characters")
        return TextIn(content.strip())
    if kind == "consent":
        recording = message.get("recording")
        if not isinstance(recording, bool):
            raise ProtocolError('consent messages need "recording": true or false')
        return Consent(recording)
    if not isinstance(kind, str):
        raise ProtocolError('invalid message: missing "type" (one of: ' + ", ".join(CLIENT_TYPES) + ")")
    raise ProtocolError(f"unknown message type {kind[:32]!r}; expected one of: " + ", ".join(CLIENT_TYPES))


def _audio(data: object, max_frame_bytes: int) -> AudioIn:
    if not isinstance(data, str) or not data:
        raise ProtocolError('audio messages need "data": base64-encoded PCM16')
    try:
        # strict_mode rejects characters outside the alphabet and bad padding; C speed, no copy kept.
        size = len(binascii.a2b_base64(data, strict_mode=True))
    except (binascii.Error, ValueError):
        raise ProtocolError("audio data is not valid base64") from None
    if size > max_frame_bytes:
        raise ProtocolError(f"audio frame too large: {size} bytes (at most {max_frame_bytes})")
    if size % 2:
        raise ProtocolError("audio data must be 16-bit PCM (an even number of bytes)")
    return AudioIn(data, size)


# --- server -> client -------------------------------------------------------------------------------
# Built as str: Starlette sends text frames from str, and orjson's bytes decode without re-escaping.


def audio_out(delta: str) -> str:
    return orjson.dumps({"type": "audio", "data": delta, "format": "audio/pcm16"}).decode()


def transcription(speaker: Speaker, status: Status, text: str = "", delta: str | None = None) -> str:
    """`text` is the whole line so far; `delta` (assistant "processing" only) is what it just gained."""
    message = {"type": "transcription", "speaker": speaker, "status": status, "text": text}
    if delta is not None:
        message["delta"] = delta
    return orjson.dumps(message).decode()


def agent_switched(agent_id: str) -> str:
    return orjson.dumps({"type": "agent_switched", "agent_id": agent_id}).decode()


def stop_playback() -> str:
    return '{"type":"stop_playback"}'


def session_renewed() -> str:
    return '{"type":"session_renewed"}'


def session_resumed(turns: int) -> str:
    return orjson.dumps({"type": "session_resumed", "turns": turns}).decode()


def recording_state(state: Literal["on", "off"], reason: str | None = None) -> str:
    """Whether this session is being recorded now; `reason` says why not when consent was refused."""
    message = {"type": "recording", "state": state}
    if reason is not None:
        message["reason"] = reason
    return orjson.dumps(message).decode()


def error(message: str) -> str:
    return orjson.dumps({"type": "error", "message": message}).decode()
