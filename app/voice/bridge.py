"""One browser websocket <-> one VoiceLive session: the relay, the events, the transcripts, the teardown.

Three tasks run per connection: the client pump (browser -> VoiceLive), the upstream pump (VoiceLive
-> browser) and a housekeeping tick (session length, transcript order). The first to finish decides
how the session ends; one idempotent `_teardown()` then closes both sides with bounded waits and
drains the transcript writer. Transcript writes (SQL, then the Zep mirror queue) run in their own task
so audio never waits on them.

An erasure of the user ends the session from outside (`end`, called by `VoiceService.close_user`),
and so does the store refusing a transcript write because the user was erased on another replica
(`OwnerErased`). Either way the transcripts not yet written are discarded, never written late.

Audio stays lean both ways: browser audio is forwarded as the base64 text it arrived in, and upstream
events are read as raw bytes and parsed with orjson (no SDK models), looking only at `type` and the
few fields each event needs; audio deltas go back to the browser untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from azure.ai.voicelive.aio import ConnectionClosed, VoiceLiveConnection
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError
from azure.ai.voicelive.models import InputTextContentPart, UserMessageItem
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.agents import Agent, AgentNotFound
from app.memory.store import EpisodeOwnedByAnother, MemoryStore, NewTurn, OwnerErased
from app.memory.zep import MirrorQueue
from app.observability import metrics
from app.security.identity import Identity
from app.voice import protocol
from app.voice.params import (
    BYTES_PER_SECOND,
    CLOSE_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    OWNER_CHECK_TIMEOUT_S,
    VoiceParams,
)
from app.voice.recording import Recordings
from app.voice.session_config import session_for
from app.voice.transcripts import ReadyTurn, TranscriptLedger
from app.voice.upstream import VoiceLiveUpstream

log = logging.getLogger("engram.voice")

#: How often the housekeeping task wakes (session deadline, overdue transcript slots).
TICK_S = 1.0
#: Upstream error codes that follow from our own best-effort requests and mean nothing to the user.
_MAX_PARTIAL_ITEMS = 8  # assistant items whose text so far is kept (one is usual; bounded regardless)
_BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active", "item_truncate_invalid_item_id"})

AgentResolver = Callable[[str], Agent]
SendError = (WebSocketDisconnect, RuntimeError, OSError)


@dataclass(frozen=True)
class Ending:
    """Why the session ended: what the browser is told and how its socket is closed."""

    code: int
    message: str | None = None  # sent as an error message before the close
    metric_reason: str | None = None  # counted as a voice error when set
    client_gone: bool = False
    discard_transcripts: bool = False  # erasure: transcripts not yet written are dropped, not written


CLIENT_LEFT = Ending(protocol.CLOSE_NORMAL, client_gone=True)
ERASED = Ending(
    protocol.CLOSE_ERASED,
    "your stored data was erased, so this session has ended; start a new session to continue",
    discard_transcripts=True,
)
UPSTREAM_LOST = Ending(
    protocol.CLOSE_BAD_GATEWAY, "the voice service ended the session", "upstream_disconnect"
)


class VoiceBridge:
    def __init__(
        self,
        *,
        websocket: WebSocket,
        upstream: VoiceLiveUpstream,
        store: MemoryStore | None,
        mirror: MirrorQueue | None = None,
        identity: Identity,
        session_id: str,
        agent: Agent,
        resolve_agent: AgentResolver,
        params: VoiceParams,
        recordings: Recordings | None = None,
    ) -> None:
        self.connection_id = uuid.uuid4().hex[:12]
        self._ws = websocket
        self._upstream = upstream
        self._store = store
        self._mirror = mirror
        self._identity = identity
        self._session_id = session_id
        self._agent = agent
        self._resolve_agent = resolve_agent
        self._params = params
        self._conn: VoiceLiveConnection | None = None
        self._raw_upstream: aiohttp.ClientWebSocketResponse | None = None
        self._facts: list[str] = []
        self._client_lock = asyncio.Lock()
        self._upstream_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Ending]] = []
        self._torn_down = False
        # Conversation state, all owned by this connection's tasks on one event loop.
        self._ready = False
        self._pending_switch: tuple[str, Agent] | None = None  # (session.update event id, agent)
        self._response_id: str | None = None
        self._audio_item_id: str | None = None
        self._audio_sent_bytes = 0
        self._audio_started: float | None = None  # monotonic time of the item's first audio delta
        self._speech_stopped: float | None = None
        self._completed_items: set[str] = set()  # assistant items whose "complete" the client has
        self._partial: dict[str, str] = {}  # assistant item id -> its text so far (while processing)
        self._ledger = TranscriptLedger(params.transcript_wait_s)
        self._writes: asyncio.Queue[ReadyTurn | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._discarding = False  # set on erasure: the writer skips whatever is still queued
        # When this conversation began: the store refuses its writes if the user is erased after it.
        self._opened_at = datetime.now(UTC)
        self._stop: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()
        self._closed = asyncio.Event()
        # Recording taps (app/voice/recording.py): a flag check and a non-blocking queue put each.
        self._recorder = recordings.session(identity, session_id, self._send) if recordings else None

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve an accepted websocket until either side (or `end`) ends it; never raises."""
        ending = CLIENT_LEFT
        serve = asyncio.create_task(self._serve(), name=f"voice-serve-{self.connection_id}")
        try:
            await asyncio.wait({serve, self._stop}, return_when=asyncio.FIRST_COMPLETED)
            ending = self._stop.result() if self._stop.done() else serve.result()
        except Exception:
            log.exception("voice session failed", extra=self._log_extra)
            ending = Ending(protocol.CLOSE_INTERNAL, "internal error in the voice service", "internal")
        finally:
            if not serve.done():
                serve.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await serve
            await self._teardown(ending)
            self._closed.set()

    def end(self, ending: Ending) -> None:
        """End the session from outside (erasure); the first ending asked for wins. Idempotent."""
        if not self._stop.done():
            self._stop.set_result(ending)

    async def wait_closed(self) -> None:
        """Until `run` has torn down: both sides closed, transcripts written or discarded."""
        await self._closed.wait()

    async def _serve(self) -> Ending:
        metrics.voice_session_started(self._agent.id)
        if self._store is not None:
            # An early, friendly refusal; `append_turn` enforces ownership on every write regardless,
            # so a slow database only skips this check instead of stalling the session start.
            owner: str | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(OWNER_CHECK_TIMEOUT_S):
                    owner = await self._store.episode_owner(self._session_id)
            if owner is not None and owner != self._identity.user_id:
                # Same answer as a missing episode elsewhere: never reveal that the id exists.
                return Ending(protocol.CLOSE_POLICY, "this session id cannot be used; start a new session")
        self._facts = await self._fetch_facts()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                self._conn = await self._upstream.connect().__aenter__()
        except (TimeoutError, VoiceLiveConnectionError) as exc:
            log.warning(
                "voicelive connect failed: %s",
                type(exc).__name__,
                extra=self._log_extra,
            )
            status = getattr(exc.__cause__, "status", None)  # aiohttp's handshake error carries it
            if status in (401, 403):
                # A configuration fault, not a blip: say so, so `engram verify` can point at the RBAC fix.
                return Ending(
                    protocol.CLOSE_BAD_GATEWAY,
                    f"the voice service refused the app's credentials (HTTP {status})",
                    "connect_refused",
                )
            return Ending(
                protocol.CLOSE_BAD_GATEWAY, "could not reach the voice service; try again", "connect_failed"
            )
        self._raw_upstream = raw_websocket(self._conn)
        self._writer = asyncio.create_task(self._write_turns(), name=f"voice-writer-{self.connection_id}")
        await self._send_session_update(self._agent)
        self._tasks = [
            asyncio.create_task(self._client_pump(), name=f"voice-client-{self.connection_id}"),
            asyncio.create_task(self._upstream_pump(), name=f"voice-upstream-{self.connection_id}"),
            asyncio.create_task(self._housekeeping(), name=f"voice-tick-{self.connection_id}"),
        ]
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        first = next(iter(done))
        if isinstance(first.exception(), VoiceLiveConnectionError):  # a send found the upstream gone
            return UPSTREAM_LOST
        return first.result()

    async def _teardown(self, ending: Ending) -> None:
        """The one exit path: idempotent, each wait bounded."""
        if self._torn_down:
            return
        self._torn_down = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if ending.discard_transcripts:  # before the bounded closes: nothing more may be written
            await self._discard_writes()
        if ending.metric_reason:
            metrics.voice_session_error(ending.metric_reason)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._raw_upstream = None
            with contextlib.suppress(TimeoutError, VoiceLiveConnectionError):
                await asyncio.wait_for(conn.close(), CLOSE_TIMEOUT_S)
        if not ending.client_gone and self._ws.client_state is WebSocketState.CONNECTED:
            if ending.message:
                await self._send(protocol.error(ending.message))
            with contextlib.suppress(TimeoutError, *SendError):
                await asyncio.wait_for(
                    self._ws.close(code=ending.code, reason=(ending.message or "")[:120]), CLOSE_TIMEOUT_S
                )
        await self._drain_writes()
        if self._recorder is not None:
            await self._recorder.close(discard=ending.discard_transcripts)
        log.info(
            "voice session ended",
            extra={
                "connection_id": self.connection_id,
                "close_code": ending.code,
                "reason": ending.metric_reason,
            },
        )

    # --- browser -> VoiceLive --------------------------------------------------------------------

    async def _client_pump(self) -> Ending:
        max_frame = self._params.max_frame_bytes
        receive = self._ws.receive
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return CLIENT_LEFT
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            try:
                parsed = protocol.parse_client_message(raw, max_frame)
            except protocol.ProtocolError as exc:
                await self._send(protocol.error(str(exc)))
                continue
            if isinstance(parsed, protocol.AudioIn):
                await self._append_audio(parsed.data)
            elif isinstance(parsed, protocol.AgentSwitch):
                await self._switch_agent(parsed.agent_id)
            elif isinstance(parsed, protocol.Cancel):
                await self._interrupt(time.monotonic())
            elif isinstance(parsed, protocol.Consent):
                await self._consent(parsed.recording)
            elif isinstance(parsed, protocol.TextIn):
                await self._typed_input(parsed.content)

    async def _append_audio(self, data: str) -> None:
        """The hot path: the append event is built by concatenation (the base64 was validated, so it
        needs no JSON escaping) and written to the SDK's websocket, skipping a json.dumps per frame."""
        if self._recorder is not None:
            self._recorder.user_audio(data)
        raw = self._raw_upstream
        if raw is None:
            await self._to_upstream({"type": "input_audio_buffer.append", "audio": data})
            return
        async with self._upstream_lock:
            try:
                await raw.send_str('{"type":"input_audio_buffer.append","audio":"' + data + '"}')
            except (aiohttp.ClientError, ConnectionResetError, RuntimeError) as exc:
                raise VoiceLiveConnectionError(f"send failed: {type(exc).__name__}") from exc

    async def _consent(self, granted: bool) -> None:
        if self._recorder is None:
            await self._send(protocol.recording_state("off", "recording is not enabled in this environment"))
        else:
            await self._recorder.consent(granted)

    async def _to_upstream(self, event: dict[str, Any]) -> None:
        conn = self._conn
        if conn is None:
            return
        async with self._upstream_lock:
            await conn.send(event)

    async def _send_session_update(self, agent: Agent) -> str:
        event_id = f"evt_{uuid.uuid4().hex[:20]}"
        session = session_for(agent, self._facts).as_dict()
        await self._to_upstream({"type": "session.update", "session": session, "event_id": event_id})
        return event_id

    async def _switch_agent(self, agent_id: str) -> None:
        try:
            agent = self._resolve_agent(agent_id)
        except AgentNotFound as exc:
            await self._send(protocol.error(str(exc)))
            return
        if agent.id == self._agent.id and self._pending_switch is None:
            await self._send(protocol.agent_switched(agent.id))
            return
        # Same facts, same conversation: only the voice and the persona change.
        event_id = await self._send_session_update(agent)
        self._pending_switch = (event_id, agent)

    async def _typed_input(self, content: str) -> None:
        item_id = f"txt_{uuid.uuid4().hex[:20]}"
        now = time.monotonic()
        await self._interrupt(now)
        self._queue(self._ledger.fill(item_id, "user", self._agent.id, content, now))
        item = UserMessageItem(id=item_id, content=[InputTextContentPart(text=content)])
        await self._to_upstream({"type": "conversation.item.create", "item": item.as_dict()})
        await self._to_upstream({"type": "response.create"})

    async def _interrupt(self, now: float) -> None:
        """Barge-in: stop the browser's playback, cancel the reply, cut the item at what was heard."""
        playing = self._audio_item_id is not None and self._audio_started is not None
        heard_ms = 0
        if playing and self._audio_started is not None:
            sent_ms = self._audio_sent_bytes * 1000 // BYTES_PER_SECOND
            heard_ms = min(sent_ms, int((now - self._audio_started) * 1000))
            playing = heard_ms < sent_ms or self._response_id is not None
        if playing:
            await self._send(protocol.stop_playback())
        if self._response_id is not None:
            await self._to_upstream({"type": "response.cancel"})
        if playing and self._audio_item_id is not None:
            await self._to_upstream(
                {
                    "type": "conversation.item.truncate",
                    "item_id": self._audio_item_id,
                    "content_index": 0,
                    "audio_end_ms": heard_ms,
                }
            )
        self._audio_item_id = None
        self._audio_started = None
        self._audio_sent_bytes = 0

    # --- VoiceLive -> browser --------------------------------------------------------------------

    async def _upstream_pump(self) -> Ending:
        conn = self._conn
        assert conn is not None
        loads = orjson.loads
        while True:
            try:
                raw = await conn.recv_bytes()
            except ConnectionClosed as exc:
                log.warning(
                    "voicelive closed the session (code %s)",
                    exc.code,
                    extra=self._log_extra,
                )
                return UPSTREAM_LOST
            if not raw:
                continue
            try:
                event = loads(raw)
                kind = event["type"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.warning("unreadable voicelive event skipped", extra=self._log_extra)
                continue
            if kind == "response.audio.delta":
                await self._on_audio_delta(event)
            else:
                await self._on_event(kind, event)

    async def _on_audio_delta(self, event: dict[str, Any]) -> None:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return
        now = time.monotonic()
        item_id = event.get("item_id")
        if item_id != self._audio_item_id:
            self._audio_item_id = item_id
            self._audio_sent_bytes = 0
            self._audio_started = now
        if self._speech_stopped is not None:
            metrics.voice_first_audio_latency((now - self._speech_stopped) * 1000, self._agent.id)
            self._speech_stopped = None
        self._audio_sent_bytes += len(delta) * 3 // 4
        if self._recorder is not None:
            self._recorder.agent_audio(delta)
        await self._send(protocol.audio_out(delta))

    async def _on_event(self, kind: str, event: dict[str, Any]) -> None:
        now = time.monotonic()
        if self._recorder is not None:
            self._recorder.event(kind, self._agent.id)  # turn markers
        if kind == "input_audio_buffer.speech_started":
            await self._interrupt(now)
            await self._send(protocol.transcription("user", "listening"))
        elif kind == "input_audio_buffer.speech_stopped":
            self._speech_stopped = now
            await self._send(protocol.transcription("user", "processing"))
        elif kind == "input_audio_buffer.committed":
            self._ledger.expect(_str(event, "item_id"), "user", self._agent.id, now)
        elif kind == "conversation.item.input_audio_transcription.completed":
            text = _str(event, "transcript").strip()
            item_id = _str(event, "item_id")
            await self._send(protocol.transcription("user", "complete", text))
            if text:
                self._queue(self._ledger.fill(item_id, "user", self._agent.id, text, now))
            else:
                self._queue(self._ledger.drop(item_id, now))
        elif kind == "conversation.item.input_audio_transcription.failed":
            self._queue(self._ledger.drop(_str(event, "item_id"), now))
        elif kind == "response.created":
            self._response_id = _str(event.get("response"), "id") or "response"
        elif kind == "response.output_item.added":
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "message":
                self._ledger.expect(_str(item, "id"), "assistant", self._agent.id, now)
        elif kind in ("response.text.delta", "response.audio_transcript.delta"):
            await self._assistant_delta(_str(event, "item_id"), _str(event, "delta"))
        elif kind == "response.text.done":
            await self._assistant_done(_str(event, "item_id"), _str(event, "text"), now)
        elif kind == "response.audio_transcript.done":
            await self._assistant_done(_str(event, "item_id"), _str(event, "transcript"), now)
        elif kind == "response.done":
            await self._response_done(event.get("response"), now)
        elif kind == "session.updated":
            await self._session_updated()
        elif kind == "error":
            await self._upstream_error(event.get("error"))
        elif kind == "warning":
            log.info("voicelive warning", extra=self._log_extra)

    async def _assistant_delta(self, item_id: str, delta: str) -> None:
        """The client gets the answer so far (`text`, for clients that replace the line) and the new
        piece (`delta`, for clients that append)."""
        if item_id in self._completed_items:
            return  # a late delta after the line was completed is not shown again
        so_far = self._partial.get(item_id, "") + delta
        if len(self._partial) < _MAX_PARTIAL_ITEMS or item_id in self._partial:
            self._partial[item_id] = so_far
        await self._send(protocol.transcription("assistant", "processing", so_far, delta=delta))

    async def _assistant_done(self, item_id: str, text: str, now: float) -> None:
        self._partial.pop(item_id, None)
        text = text.strip()
        if item_id and item_id not in self._completed_items:
            self._completed_items.add(item_id)
            await self._send(protocol.transcription("assistant", "complete", text))
        if text:
            self._queue(self._ledger.fill(item_id, "assistant", self._agent.id, text, now))

    async def _response_done(self, response: object, now: float) -> None:
        """The last word on a reply: fills any item whose text/transcript event never came."""
        self._response_id = None
        if not isinstance(response, dict):
            return
        for item in response.get("output") or ():
            if not isinstance(item, dict) or item.get("type") != "message":
                continue
            item_id = _str(item, "id")
            parts = [p for p in item.get("content") or () if isinstance(p, dict)]
            text = " ".join(_str(p, "text") or _str(p, "transcript") for p in parts).strip()
            if text:
                await self._assistant_done(item_id, text, now)
            else:
                self._queue(self._ledger.drop(item_id, now))
        if response.get("status") == "failed":
            await self._send(protocol.error("the voice service could not answer; please say that again"))

    async def _session_updated(self) -> None:
        if not self._ready:
            self._ready = True
            await self._send(protocol.agent_switched(self._agent.id))
        elif self._pending_switch is not None:
            _, self._agent = self._pending_switch
            self._pending_switch = None
            await self._send(protocol.agent_switched(self._agent.id))

    async def _upstream_error(self, error: object) -> None:
        details = error if isinstance(error, dict) else {}
        code = _str(details, "code") or _str(details, "type") or "unknown"
        if code in _BENIGN_ERROR_CODES:
            return
        log.warning("voicelive error event: %s", code[:64], extra=self._log_extra)
        metrics.voice_session_error("upstream_error")
        pending = self._pending_switch
        if pending is not None and _str(details, "event_id") == pending[0]:
            self._pending_switch = None
            await self._send(
                protocol.error(f"could not switch to {pending[1].id}; still talking to {self._agent.id}")
            )
            return
        # The upstream's own message may quote input; the client gets the code only.
        safe = code if code.replace("_", "").isalnum() and len(code) <= 64 else "unknown"
        await self._send(protocol.error(f"the voice service reported an error ({safe})"))

    # --- housekeeping, transcripts ---------------------------------------------------------------

    async def _housekeeping(self) -> Ending:
        deadline = time.monotonic() + self._params.max_session_seconds
        while True:
            now = time.monotonic()
            if now >= deadline:
                limit = self._params.max_session_seconds
                return Ending(protocol.CLOSE_NORMAL, f"the session reached its maximum length ({limit:g} s)")
            self._queue(self._ledger.release(now))
            await asyncio.sleep(min(TICK_S, deadline - now))

    def _event_key(self, item_id: str) -> str:
        """A turn's idempotency key: the item id within this connection's VoiceLive session.

        Item ids are only unique within one upstream session (a second connection on the same
        session id may see the same ids again), so the key names the session too. One connection
        holds exactly one VoiceLive session; its connection id stands for that session.
        """
        return f"vl:{self.connection_id}:{item_id}"[:128]

    def _queue(self, turns: list[ReadyTurn]) -> None:
        for turn in turns:
            self._writes.put_nowait(turn)

    async def _write_turns(self) -> None:
        """Writes transcripts in order, off the audio path; a failed write is logged and skipped."""
        while (turn := await self._writes.get()) is not None:
            if self._store is None or self._discarding:
                continue
            new = NewTurn(
                session_id=self._session_id,
                owner_id=self._identity.user_id,
                tenant_id=self._identity.tenant_id,
                role=turn.role,
                content=turn.text,
                agent_id=turn.agent_id,
                channel="voice",
                source_event_id=self._event_key(turn.item_id),
                created_at=turn.created_at,
                opened_at=self._opened_at,
            )
            try:
                if await self._store.append_turn(new) and self._mirror is not None:
                    self._mirror.submit([new])  # Zep, best-effort, in the background
            except OwnerErased:  # erased on another replica: this session must not write again
                log.warning(
                    "voice turn refused: the user was erased; ending the session", extra=self._log_extra
                )
                self._discarding = True
                self.end(ERASED)
            except EpisodeOwnedByAnother:
                log.warning("voice turn refused: episode owned by another user", extra=self._log_extra)
            except Exception:
                log.exception("voice turn not recorded", extra=self._log_extra)

    async def _discard_writes(self) -> None:
        """Erasure: let a write already under way finish (the erasure runs after it), skip the rest."""
        self._discarding = True
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self._writes.put_nowait(None)
        try:
            await asyncio.wait_for(writer, self._params.memory_drain_timeout_s)
        except TimeoutError:
            log.error("voice transcript write cut off at erasure", extra=self._log_extra)

    async def _drain_writes(self) -> None:
        self._queue(self._ledger.close())
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self._writes.put_nowait(None)
        try:
            await asyncio.wait_for(writer, self._params.memory_drain_timeout_s)
        except TimeoutError:
            log.error("voice transcripts still pending at close were dropped", extra=self._log_extra)

    async def _fetch_facts(self) -> list[str]:
        """Up to N memory facts for the instructions; best-effort within a short budget."""
        if self._store is None or self._params.memory_facts == 0:
            return []
        try:
            async with asyncio.timeout(self._params.facts_timeout_s):
                facts = await self._store.search_facts(self._identity.user_id, "", self._params.memory_facts)
        except TimeoutError:
            log.warning("memory facts skipped: timed out", extra=self._log_extra)
            return []
        except Exception:
            log.exception("memory facts skipped", extra=self._log_extra)
            return []
        return [fact.text for fact in facts]

    # --- sending to the browser ------------------------------------------------------------------

    async def _send(self, text: str) -> None:
        """Send to the browser; a browser that has gone is noticed by the client pump, not here."""
        if self._ws.client_state is not WebSocketState.CONNECTED:
            return
        async with self._client_lock:
            with contextlib.suppress(*SendError):
                await self._ws.send_text(text)

    @property
    def _log_extra(self) -> dict[str, str]:
        return {"connection_id": self.connection_id}


def raw_websocket(conn: VoiceLiveConnection) -> aiohttp.ClientWebSocketResponse | None:
    """The aiohttp websocket under the SDK connection, when this SDK version has it where 1.x does.

    `VoiceLiveConnection.send` only takes mappings or models and json-encodes each one; for 25 audio
    frames a second per session that encode is a measurable share of the relay's CPU. Receiving
    needs no such trick (`recv_bytes` is public). Any other SDK layout falls back to `send`.
    """
    ws = getattr(conn, "_connection", None)
    return ws if isinstance(ws, aiohttp.ClientWebSocketResponse) else None


def _str(source: object, key: str) -> str:
    value = source.get(key) if isinstance(source, dict) else None
    return value if isinstance(value, str) else ""
