"""A local Azure AI VoiceLive realtime server for tests and the relay benchmark (never shipped).

It speaks the wire protocol the `azure-ai-voicelive` SDK speaks: a websocket at
`/voice-live/realtime?api-version=..&model=..`, the key in the `api-key` header (or a bearer token),
`session.created` on connect, `session.updated` echoing each `session.update`, `conversation.item.created`,
`conversation.item.truncated`, and `response.cancel` answered with a cancelled `response.done` or the
`response_cancel_not_active` error. Everything else the real service would say is scripted by the
test through `DoubleSession` helpers (speech started/stopped, transcription, an assistant reply with
audio and transcript, errors, disconnect), so a test states the exact event sequence it relies on.

`echo_audio=True` turns it into the benchmark's upstream: each `input_audio_buffer.append` is
answered at once with a `response.audio.delta` carrying the same audio, with the server's receive and
send times (monotonic ns) written into bytes 12-27 of the payload.

Faults, for the renewal tests and the benchmark's fault mode: `DoubleSession.stall()` (the session
stops answering but stays open), `DoubleSession.expire()` (the `session_expired` error, then a 1001
close, as realtime services do at their duration cap), `VoiceLiveDouble.refuse_next` (the next n
handshakes get a 503), `VoiceLiveDouble.refuse_all` and `expire_after_s` (every session expires that
long after it opened).

`auto_turn_frames=n` turns it into the load tests' upstream (tests/load): every n-th appended frame
of a session ends a user turn by itself, as server VAD would: speech started and stopped, the
transcription, then a whole answer with `auto_answer_ms` of audio. Appended audio is counted there,
not recorded, so a long load run does not hold every frame in memory.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import struct
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

PATH = "/voice-live/realtime"
WAIT_S = 5.0  # a test waiting on an event fails after this long instead of hanging

Event = dict[str, Any]


#: The `usage` of every `response.done` unless a test gives its own (the service's TokenUsage shape).
RESPONSE_USAGE: dict[str, Any] = {
    "total_tokens": 350,
    "input_tokens": 120,
    "output_tokens": 230,
    "input_token_details": {"cached_tokens": 0, "text_tokens": 20, "audio_tokens": 100, "image_tokens": 0},
    "output_token_details": {"text_tokens": 30, "audio_tokens": 200},
}


class DoubleSession:
    """One client connection: what it sent, and helpers to script what the server says."""

    def __init__(self, ws: ServerConnection, query: dict[str, str], headers: Headers) -> None:
        self.ws = ws
        self.query = query
        self.headers = headers
        self.received: list[Event] = []
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self.response_active: str | None = None
        self.closed = asyncio.Event()
        self.stalled = False  # set by `stall()`: nothing is answered any more
        self.appended = 0  # frames counted, not recorded (VoiceLiveDouble.auto_turn_frames)

    # --- what the client sent ---

    @property
    def session_updates(self) -> list[Event]:
        return [e["session"] for e in self.received if e.get("type") == "session.update"]

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.received if e.get("type") == kind]

    async def wait_for(
        self, kind: str, count: int = 1, where: Callable[[Event], bool] | None = None
    ) -> Event:
        """The `count`-th received event of `kind` (matching `where`), waiting for it if needed."""

        def matches() -> list[Event]:
            return [e for e in self.of_type(kind) if where is None or where(e)]

        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: len(matches()) >= count)
        return matches()[count - 1]

    async def _record(self, event: Event) -> None:
        self.received.append(event)
        async with self._changed:
            self._changed.notify_all()

    # --- what the server says ---

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    async def emit(self, *events: Event) -> None:
        for event in events:
            event.setdefault("event_id", self.next_id("event"))
            await self.ws.send(orjson.dumps(event).decode())

    async def speech_started(self, item_id: str, audio_start_ms: int = 0) -> None:
        await self.emit(
            {
                "type": "input_audio_buffer.speech_started",
                "item_id": item_id,
                "audio_start_ms": audio_start_ms,
            }
        )

    async def speech_stopped(self, item_id: str, audio_end_ms: int = 1000) -> None:
        """VAD end of speech: speech_stopped, then the buffer committed as a user item."""
        await self.emit(
            {"type": "input_audio_buffer.speech_stopped", "item_id": item_id, "audio_end_ms": audio_end_ms},
            {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": None},
            {
                "type": "conversation.item.created",
                "previous_item_id": None,
                "item": {"id": item_id, "type": "message", "role": "user", "content": []},
            },
        )

    async def transcription(self, item_id: str, transcript: str) -> None:
        await self.emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript,
            }
        )

    async def transcription_failed(self, item_id: str) -> None:
        await self.emit(
            {
                "type": "conversation.item.input_audio_transcription.failed",
                "item_id": item_id,
                "content_index": 0,
                "error": {"type": "transcription_error", "code": "audio_unintelligible", "message": "x"},
            }
        )

    async def start_response(self, item_id: str) -> str:
        response_id = self.next_id("resp")
        self.response_active = response_id
        await self.emit(
            {
                "type": "response.created",
                "response": {"id": response_id, "status": "in_progress", "output": []},
            },
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": 0,
                "item": {
                    "id": item_id,
                    "type": "message",
                    "role": "assistant",
                    "status": "in_progress",
                    "content": [],
                },
            },
        )
        return response_id

    async def audio_delta(self, response_id: str, item_id: str, pcm: bytes) -> None:
        await self.emit(
            {
                "type": "response.audio.delta",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": base64.b64encode(pcm).decode(),
            }
        )

    async def transcript_delta(self, response_id: str, item_id: str, delta: str) -> None:
        await self.emit(
            {
                "type": "response.audio_transcript.delta",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": delta,
            }
        )

    async def transcript_done(self, response_id: str, item_id: str, transcript: str) -> None:
        await self.emit(
            {"type": "response.audio.done", "response_id": response_id, "item_id": item_id},
            {
                "type": "response.audio_transcript.done",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "transcript": transcript,
            },
        )

    async def text_done(self, response_id: str, item_id: str, text: str) -> None:
        await self.emit(
            {
                "type": "response.text.done",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "text": text,
            }
        )

    async def response_done(
        self,
        response_id: str,
        item_id: str,
        transcript: str | None,
        status: str = "completed",
        usage: dict[str, Any] | None = None,
    ) -> None:
        content = [] if transcript is None else [{"type": "audio", "transcript": transcript}]
        self.response_active = None
        await self.emit(
            {
                "type": "response.done",
                "response": {
                    "id": response_id,
                    "status": status,
                    "usage": usage or RESPONSE_USAGE,
                    "output": [
                        {
                            "id": item_id,
                            "type": "message",
                            "role": "assistant",
                            "status": status,
                            "content": content,
                        }
                    ],
                },
            }
        )

    async def reply(self, item_id: str, transcript: str, pcm: bytes = b"\x01\x00" * 480) -> str:
        """A whole assistant answer: created, audio, transcript deltas and done, response done."""
        response_id = await self.start_response(item_id)
        await self.audio_delta(response_id, item_id, pcm)
        await self.transcript_delta(response_id, item_id, transcript)
        await self.transcript_done(response_id, item_id, transcript)
        await self.response_done(response_id, item_id, transcript)
        return response_id

    async def error(self, code: str, message: str = "something failed", event_id: str | None = None) -> None:
        await self.emit(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "event_id": event_id,
                },
            }
        )

    async def disconnect(self, code: int = 1011, reason: str = "server going away") -> None:
        await self.ws.close(code=code, reason=reason)

    async def expire(self) -> None:
        """The duration cap: the `session_expired` error, then a 1001 close."""
        await self.error("session_expired", "Your session hit the maximum duration.")
        await self.disconnect(1001, "session expired")

    def stall(self) -> None:
        """From now on the session answers nothing (pings still get pongs: the socket stays up)."""
        self.stalled = True

    def items_created(self) -> list[tuple[str, str]]:
        """(role, text) of each `conversation.item.create` this session received, in order."""
        out = []
        for event in self.of_type("conversation.item.create"):
            item = event["item"]
            text = " ".join(part.get("text", "") for part in item.get("content") or ())
            out.append((item.get("role", ""), text))
        return out


class VoiceLiveDouble:
    """Start with `async with VoiceLiveDouble() as double:`; `double.endpoint` is what the SDK needs."""

    def __init__(
        self,
        *,
        api_key: str = "test-voicelive-key",
        echo_audio: bool = False,
        auto_turn_frames: int | None = None,
        auto_answer_ms: int = 200,
        expire_after_s: float | None = None,
    ) -> None:
        self.api_key = api_key
        self.echo_audio = echo_audio
        self.auto_turn_frames = auto_turn_frames
        self.auto_answer_ms = auto_answer_ms
        self.expire_after_s = expire_after_s
        self.refuse_next = 0  # the next n handshakes are refused with 503
        self.refuse_all = False
        self.sessions: list[DoubleSession] = []
        self.refused: list[str] = []  # why handshakes were refused
        self.unavailable_voices: set[str] = set()  # session.update naming one gets an error
        self._new_session = asyncio.Condition()
        self._server: Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> VoiceLiveDouble:
        # A double stopped and started again keeps its port, so the service finds it where it was
        # (tests of a VoiceLive outage: `__aexit__`, then `__aenter__`).
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            process_request=self._check_request,
            max_size=2**22,
            compression=None,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def session(self, index: int = 0) -> DoubleSession:
        """The `index`-th connection, waiting for it to arrive."""
        async with asyncio.timeout(WAIT_S), self._new_session:
            await self._new_session.wait_for(lambda: len(self.sessions) > index)
        return self.sessions[index]

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path != PATH:
            return self._refuse(connection, HTTPStatus.NOT_FOUND, f"path {parts.path}")
        if "api-version" not in query or "model" not in query:
            return self._refuse(connection, HTTPStatus.BAD_REQUEST, "api-version and model are required")
        key = request.headers.get("api-key")
        bearer = request.headers.get("authorization", "")
        if key != self.api_key and not bearer.startswith("Bearer "):
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED, "bad credentials")
        if self.refuse_all or self.refuse_next > 0:
            self.refuse_next = max(0, self.refuse_next - 1)
            return self._refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "unavailable (fault injected)")
        return None

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, why: str) -> Response:
        self.refused.append(why)
        return connection.respond(status, f"{why}\n")

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = {k: v[0] for k, v in parse_qs(urlsplit(ws.request.path).query).items()}
        session = DoubleSession(ws, query, ws.request.headers)
        async with self._new_session:
            self.sessions.append(session)
            self._new_session.notify_all()
        expiry = None
        if self.expire_after_s is not None:
            expiry = asyncio.get_running_loop().call_later(
                self.expire_after_s, lambda: asyncio.ensure_future(session.expire())
            )
        try:
            await session.emit(
                {
                    "type": "session.created",
                    "session": {"id": session.next_id("sess"), "model": query["model"]},
                }
            )
            async for message in ws:
                if session.stalled:
                    continue
                event = orjson.loads(message)
                kind = event.get("type")
                if kind == "input_audio_buffer.append" and self.echo_audio:
                    await self._echo(ws, event["audio"])
                    continue
                if kind == "input_audio_buffer.append" and self.auto_turn_frames:
                    await self._auto_turn(session)
                    continue
                await session._record(event)
                await self._answer(session, kind, event)
        except ConnectionClosed:
            pass
        finally:
            if expiry is not None:
                expiry.cancel()
            session.closed.set()

    async def _answer(self, session: DoubleSession, kind: str | None, event: Event) -> None:
        """What the real service says by itself (everything else is scripted by the test)."""
        if kind == "session.update":
            voice = (event["session"].get("voice") or {}).get("name")
            if voice in self.unavailable_voices:
                await session.error("invalid_voice", f"voice {voice} is not available", event.get("event_id"))
            else:
                await session.emit({"type": "session.updated", "session": event["session"]})
        elif kind == "conversation.item.create":
            await session.emit({"type": "conversation.item.created", "item": event["item"]})
        elif kind == "conversation.item.truncate":
            await session.emit(
                {
                    "type": "conversation.item.truncated",
                    "item_id": event["item_id"],
                    "content_index": event["content_index"],
                    "audio_end_ms": event["audio_end_ms"],
                }
            )
        elif kind == "response.cancel":
            if session.response_active is None:
                await session.error("response_cancel_not_active", "no active response to cancel")
            else:
                response_id, session.response_active = session.response_active, None
                await session.emit(
                    {
                        "type": "response.done",
                        "response": {"id": response_id, "status": "cancelled", "output": []},
                    }
                )

    async def _auto_turn(self, session: DoubleSession) -> None:
        """Count one appended frame; every `auto_turn_frames`-th ends the user's turn and is answered."""
        session.appended += 1
        assert self.auto_turn_frames is not None
        if session.appended % self.auto_turn_frames:
            return
        turn = session.appended // self.auto_turn_frames
        user, answer = f"item_u{turn}", f"item_a{turn}"
        await session.speech_started(user)
        await session.speech_stopped(user)
        await session.transcription(user, f"load test turn {turn}")
        pcm = b"\x01\x00" * (24 * self.auto_answer_ms)
        await session.reply(answer, f"answer to turn {turn}", pcm=pcm)

    async def _echo(self, ws: ServerConnection, audio: str) -> None:
        """Echo with stamps in bytes 12-27; only the first 30 bytes (40 base64 chars) are re-encoded."""
        received = time.monotonic_ns()
        head = bytearray(base64.b64decode(audio[:40]))
        if len(head) == 30:
            struct.pack_into("<QQ", head, 12, received, time.monotonic_ns())
            audio = base64.b64encode(head).decode() + audio[40:]
        await ws.send(
            '{"type":"response.audio.delta","response_id":"resp_bench","item_id":"item_bench",'
            '"output_index":0,"content_index":0,"delta":"' + audio + '"}'
        )
