"""One browser websocket <-> a succession of VoiceLive sessions: the relay and the conversation's events.

Three tasks run per connection: the client pump (browser -> VoiceLive), the upstream pump (VoiceLive
-> browser) and a housekeeping tick (session length, transcript order, stalls, proactive renewal). The
first to finish decides how the session ends (`teardown.py`: the `Ending`s and the one idempotent
teardown that closes both sides with bounded waits). Turns go to memory through the transcript ledger
and its writer (`transcripts.py`), which runs in its own task so audio never waits on memory.

The VoiceLive side lives in `link.py`. When VoiceLive ends a session under a live browser, the
upstream pump has it renewed (`renewal.py`: the same configuration and the episode's last turns for the
new session, `session_renewed` to the browser, or an error and 1013 when no session can be had); a
browser that reconnects to a recent episode of its own gets the same restoration (a resume).

Single points where the recording tap and usage metering hook in: `_forward_mic_audio` (every mic
frame upstream), `_forward_agent_audio` (every answer audio chunk to the browser), `_response_done`
(each `response.done`) and `_record` (every turn handed to memory).

An erasure of the user ends the session from outside (`end`, called by `VoiceService.close_user`),
and so does the store refusing a transcript write because the user was erased on another replica.
Either way the transcripts not yet written are discarded, never written late.

Audio stays lean both ways: browser audio is forwarded as the base64 text it arrived in, and upstream
events are parsed with orjson (no SDK models), looking only at `type` and the few fields each event
needs; audio deltas go back to the browser untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from azure.ai.voicelive.models import InputTextContentPart, UserMessageItem
from starlette.websockets import WebSocket, WebSocketState

from app.agents import Agent, AgentNotFound
from app.memory.outbox import MirrorOutbox
from app.memory.store import MemoryStore
from app.observability import metrics
from app.security.identity import Identity
from app.voice import protocol
from app.voice.link import LINK_ERRORS, ConnectFailed, UpstreamLink, UpstreamLost
from app.voice.params import BYTES_PER_SECOND, CONNECT_TIMEOUT_S, OWNER_CHECK_TIMEOUT_S, VoiceParams
from app.voice.recording import Recordings
from app.voice.renewal import NOTHING_RESTORED, Renewal, configuration
from app.voice.session_config import session_for
from app.voice.teardown import CLIENT_LEFT, ERASED, Ending, SendError, tear_down
from app.voice.transcripts import ReadyTurn, TranscriptLedger, TurnWriter
from app.voice.upstream import VoiceLiveUpstream

log = logging.getLogger("engram.voice")

#: How often the housekeeping task wakes at most (session deadline, overdue transcript slots, stalls).
TICK_S = 1.0
_MAX_PARTIAL_ITEMS = 8  # assistant items whose text so far is kept (one is usual; bounded regardless)
#: Upstream error codes that follow from our own best-effort requests and mean nothing to the user.
_BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active", "item_truncate_invalid_item_id"})
#: Upstream error codes that mean the VoiceLive session is over (its close follows): renew at once.
_SESSION_ENDING_CODES = frozenset({"session_expired"})

AgentResolver = Callable[[str], Agent]


class VoiceBridge:
    def __init__(
        self,
        *,
        websocket: WebSocket,
        upstream: VoiceLiveUpstream,
        store: MemoryStore | None,
        mirror: MirrorOutbox | None = None,
        identity: Identity,
        session_id: str,
        agent: Agent,
        resolve_agent: AgentResolver,
        params: VoiceParams,
        on_usage: Callable[[str, object], None] | None = None,
        settle: Callable[[VoiceBridge], Awaitable[None]] | None = None,
        recordings: Recordings | None = None,
    ) -> None:
        self.connection_id = uuid.uuid4().hex[:12]
        self.user_id = identity.user_id
        self.session_id = session_id
        self._ws = websocket
        self._store = store
        self._agent = agent
        self._resolve_agent = resolve_agent
        self._params = params
        self._on_usage = on_usage  # (agent id, `response.done` usage): metering, app/usage
        self._link = UpstreamLink(upstream, params, self.connection_id)
        self.facts: list[str] = []  # the memory facts every session of this connection is told
        self._client_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Ending]] = []
        self._torn_down = False
        # Conversation state, all owned by this connection's tasks on one event loop.
        self._ready = False
        self._resumed_turns = 0  # restored at start (a resume); told to the browser once ready
        self._pending_switch: tuple[str, Agent] | None = None  # (session.update event id, agent)
        self._response_id: str | None = None
        self._user_speaking = False
        self._audio_item_id: str | None = None
        self._audio_sent_bytes = 0
        self._audio_started: float | None = None  # monotonic time of the item's first audio delta
        self._speech_stopped: float | None = None
        self._completed_items: set[str] = set()  # assistant items whose "complete" the client has
        self._partial: dict[str, str] = {}  # assistant item id -> its text so far (while processing)
        self._ledger = TranscriptLedger(params.transcript_wait_s)
        # When this conversation began: the store refuses its writes if the user is erased after it.
        self._writer = TurnWriter(
            store=store,
            mirror=mirror,
            identity=identity,
            session_id=session_id,
            opened_at=datetime.now(UTC),
            on_erased=lambda: self.end(ERASED),
            log_extra=self._log_extra,
        )
        self._renewal = Renewal(
            conversation=self,
            link=self._link,
            params=params,
            store=store,
            writer=self._writer,
            user_id=self.user_id,
            session_id=session_id,
            send=self._send,
            settle=(lambda: settle(self)) if settle is not None else None,
            connection_id=self.connection_id,
        )
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
        owner: str | None = None
        if self._store is not None:
            # An early, friendly refusal; `append_turn` enforces ownership on every write regardless,
            # so a slow database only skips this check instead of stalling the session start.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(OWNER_CHECK_TIMEOUT_S):
                    owner = await self._store.episode_owner(self.session_id)
            if owner is not None and owner != self.user_id:
                # Same answer as a missing episode elsewhere: never reveal that the id exists.
                return Ending(protocol.CLOSE_POLICY, "this session id cannot be used; start a new session")
        facts, resumed, failed = await asyncio.gather(
            self._renewal.facts(), self._renewal.resume(owner == self.user_id), self._link_open()
        )
        if failed is not None:
            return failed
        self.facts = facts
        self._writer.start(f"voice-writer-{self.connection_id}")
        history = resumed or NOTHING_RESTORED
        if resumed is not None and resumed.items:
            self._resumed_turns = len(resumed.items)
            metrics.voice_session_resumed()
        for index, event in enumerate(configuration(self._agent, self.facts, history)):
            await self._link.send(event, owed=index == 0 or event["type"] == "response.create")
        self._tasks = [
            asyncio.create_task(self._client_pump(), name=f"voice-client-{self.connection_id}"),
            asyncio.create_task(self._upstream_pump(), name=f"voice-upstream-{self.connection_id}"),
            asyncio.create_task(self._housekeeping(), name=f"voice-tick-{self.connection_id}"),
        ]
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()

    async def _link_open(self) -> Ending | None:
        """Open the first VoiceLive session (alongside the memory reads); an Ending when it fails."""
        try:
            await self._link.open(CONNECT_TIMEOUT_S)
        except ConnectFailed as exc:
            if exc.refused:
                # A configuration fault, not a blip: say so, so `engram verify` can point at the RBAC fix.
                return Ending(
                    protocol.CLOSE_BAD_GATEWAY,
                    f"the voice service refused the app's credentials (HTTP {exc.status})",
                    "connect_refused",
                )
            return Ending(
                protocol.CLOSE_BAD_GATEWAY, "could not reach the voice service; try again", "connect_failed"
            )
        return None

    async def _teardown(self, ending: Ending) -> None:
        """The one exit path (`teardown.py`): idempotent, each wait bounded."""
        if self._torn_down:
            return
        self._torn_down = True
        await tear_down(
            ending,
            tasks=self._tasks,
            link=self._link,
            websocket=self._ws,
            send=self._send,
            close_conversation=self.close_conversation,
            writer=self._writer,
            drain_timeout_s=self._params.memory_drain_timeout_s,
            recorder=self._recorder,
            connection_id=self.connection_id,
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
                await self._forward_mic_audio(parsed.data)
            elif isinstance(parsed, protocol.AgentSwitch):
                await self._switch_agent(parsed.agent_id)
            elif isinstance(parsed, protocol.Cancel):
                await self._interrupt(time.monotonic())
            elif isinstance(parsed, protocol.Consent):
                await self._consent(parsed.recording)
            elif isinstance(parsed, protocol.TextIn):
                await self._typed_input(parsed.content)

    def _forward_mic_audio(self, data: str) -> Awaitable[None]:
        """Every microphone frame (base64 PCM16, validated) goes upstream here, and only here (a plain
        function returning the send: one coroutine less per frame on the hot path)."""
        if self._recorder is not None:
            self._recorder.user_audio(data)
        return self._link.send_audio(data)

    async def _to_upstream(self, event: dict[str, Any], *, owed: bool = False) -> bool:
        return await self._link.send(event, owed=owed)

    async def _consent(self, granted: bool) -> None:
        if self._recorder is None:
            await self._send(protocol.recording_state("off", "recording is not enabled in this environment"))
        else:
            await self._recorder.consent(granted)

    async def _send_session_update(self, agent: Agent) -> str:
        event_id = f"evt_{uuid.uuid4().hex[:20]}"
        session = session_for(agent, self.facts).as_dict()
        await self._to_upstream(
            {"type": "session.update", "session": session, "event_id": event_id}, owed=True
        )
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
        if self._link.in_gap:  # no session to update: the renewed one is configured for this agent
            self._agent, self._pending_switch = agent, None
            await self._send(protocol.agent_switched(agent.id))
            return
        # Same facts, same conversation: only the voice and the persona change. During a renewal gap
        # the update is not sent; the renewed session is configured for the pending agent instead.
        event_id = await self._send_session_update(agent)
        self._pending_switch = (event_id, agent)

    async def _typed_input(self, content: str) -> None:
        item_id = f"txt_{uuid.uuid4().hex[:20]}"
        now = time.monotonic()
        await self._interrupt(now)
        self._record(self._ledger.fill(item_id, "user", self._agent.id, content, now))
        # During a renewal gap both sends are dropped: the turn is recorded, so the renewed session
        # gets it with the restored conversation and is asked to answer it.
        item = UserMessageItem(id=item_id, content=[InputTextContentPart(text=content)])
        await self._to_upstream({"type": "conversation.item.create", "item": item.as_dict()})
        await self._to_upstream({"type": "response.create"}, owed=True)

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
        link = self._link
        loads = orjson.loads
        while True:
            try:
                # The hot path reads the session's socket directly (one coroutine less per event).
                read = link.reader()
                raw = link.data(await read()) if read is not None else await link.receive()
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
            except (UpstreamLost, *LINK_ERRORS) as exc:
                lost = link.loss(exc)
                ending = await self._renewal.renew(lost.reason, lost.code)
                if ending is not None:
                    return ending

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
        await self._forward_agent_audio(delta)

    def _forward_agent_audio(self, delta: str) -> Awaitable[None]:
        """Every chunk of answer audio (base64 PCM16, untouched) goes to the browser here, and only here
        (a plain function returning the send, like `_forward_mic_audio`)."""
        if self._recorder is not None:
            self._recorder.agent_audio(delta)
        return self._send(protocol.audio_out(delta))

    async def _on_event(self, kind: str, event: dict[str, Any]) -> None:
        now = time.monotonic()
        if self._recorder is not None:
            self._recorder.event(kind, self._agent.id)  # turn markers
        if kind == "input_audio_buffer.speech_started":
            self._user_speaking = True
            await self._interrupt(now)
            await self._send(protocol.transcription("user", "listening"))
        elif kind == "input_audio_buffer.speech_stopped":
            self._user_speaking = False
            self._speech_stopped = now
            await self._send(protocol.transcription("user", "processing"))
        elif kind == "input_audio_buffer.committed":
            self._ledger.expect(_str(event, "item_id"), "user", self._agent.id, now)
        elif kind == "conversation.item.input_audio_transcription.completed":
            text = _str(event, "transcript").strip()
            item_id = _str(event, "item_id")
            await self._send(protocol.transcription("user", "complete", text))
            if text:
                self._record(self._ledger.fill(item_id, "user", self._agent.id, text, now))
            else:
                self._record(self._ledger.drop(item_id, now))
        elif kind == "conversation.item.input_audio_transcription.failed":
            self._record(self._ledger.drop(_str(event, "item_id"), now))
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
            self._record(self._ledger.fill(item_id, "assistant", self._agent.id, text, now))

    async def _response_done(self, response: object, now: float) -> None:
        """The last word on a reply (every `response.done` passes here): fills any item whose
        text/transcript event never came."""
        self._response_id = None
        if not isinstance(response, dict):
            return
        if self._on_usage is not None:
            self._on_usage(self._agent.id, response.get("usage"))
        for item in response.get("output") or ():
            if not isinstance(item, dict) or item.get("type") != "message":
                continue
            item_id = _str(item, "id")
            parts = [p for p in item.get("content") or () if isinstance(p, dict)]
            text = " ".join(_str(p, "text") or _str(p, "transcript") for p in parts).strip()
            if text:
                await self._assistant_done(item_id, text, now)
            else:
                self._record(self._ledger.drop(item_id, now))
        if response.get("status") == "failed":
            await self._send(protocol.error("the voice service could not answer; please say that again"))

    async def _session_updated(self) -> None:
        if not self._ready:
            self._ready = True
            await self._send(protocol.agent_switched(self._agent.id))
            if self._resumed_turns:
                await self._send(protocol.session_resumed(self._resumed_turns))
        elif (switched := self.adopt_pending_switch()) is not None:
            await self._send(protocol.agent_switched(switched.id))

    async def _upstream_error(self, error: object) -> None:
        details = error if isinstance(error, dict) else {}
        code = _str(details, "code") or _str(details, "type") or "unknown"
        if code in _BENIGN_ERROR_CODES:
            return
        if code in _SESSION_ENDING_CODES:
            raise UpstreamLost("expired")  # the close follows; renew now instead of waiting for it
        log.warning("voicelive error event: %s", code[:64], extra=self._log_extra)
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

    # --- the conversation, as renewal and teardown see it (`renewal.Conversation`) ----------------

    @property
    def agent(self) -> Agent:
        return self._agent

    def adopt_pending_switch(self) -> Agent | None:
        """Make an agent switch still awaiting its `session.updated` current; the agent, if any."""
        if self._pending_switch is None:
            return None
        _, self._agent = self._pending_switch
        self._pending_switch = None
        return self._agent

    def close_conversation(self) -> list[str]:
        """The current VoiceLive session's conversation is over: record what it said (an answer cut
        off is recorded as far as it got; its texts are returned), forget its item ids (a new session
        may reuse them)."""
        now = time.monotonic()
        cut = [(item_id, text.strip()) for item_id, text in self._partial.items() if text.strip()]
        for item_id, text in cut:
            self._record(self._ledger.fill(item_id, "assistant", self._agent.id, text, now))
        self._record(self._ledger.close())
        self._ledger = TranscriptLedger(self._params.transcript_wait_s)
        self._partial.clear()
        self._completed_items.clear()
        self._response_id = None
        self._user_speaking = False
        self._audio_item_id = None
        self._audio_started = None
        self._audio_sent_bytes = 0
        self._speech_stopped = None
        return [text for _, text in cut]

    # --- memory ----------------------------------------------------------------------------------

    def _record(self, turns: list[ReadyTurn]) -> None:
        """Every turn handed to memory passes here, keyed by the VoiceLive session it came from."""
        if turns:
            self._writer.put(turns, self._link.key)

    # --- housekeeping ----------------------------------------------------------------------------

    async def _housekeeping(self) -> Ending:
        params = self._params
        deadline = time.monotonic() + params.max_session_seconds
        tick = min(TICK_S, params.stall_timeout_s / 3)
        while True:
            now = time.monotonic()
            if now >= deadline:
                limit = params.max_session_seconds
                return Ending(protocol.CLOSE_NORMAL, f"the session reached its maximum length ({limit:g} s)")
            self._record(self._ledger.release(now))
            self._watch_upstream(now)
            await asyncio.sleep(min(tick, deadline - now))

    def _watch_upstream(self, now: float) -> None:
        """Stall detection and proactive renewal; both end the current session on purpose and the
        upstream pump renews it."""
        link, params = self._link, self._params
        if link.in_gap:
            return
        owed = link.owed_for(now)
        silent = link.silence(now)
        if (owed is not None and owed > params.stall_timeout_s) or (
            self._response_id is not None and silent > params.stall_timeout_s
        ):
            link.request_renewal("stalled")
            return
        age = now - link.opened_at
        cap = params.upstream_max_session_s
        quiet = (
            self._response_id is None
            and not self._user_speaking
            and owed is None
            and self._ledger.pending == 0
        )
        if age >= cap - params.proactive_deadline_s or (quiet and age >= cap - params.proactive_window_s):
            link.request_renewal("proactive")

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


def _str(source: object, key: str) -> str:
    value = source.get(key) if isinstance(source, dict) else None
    return value if isinstance(value, str) else ""
