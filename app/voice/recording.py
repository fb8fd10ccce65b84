"""Consented voice recordings: the per-session recorder beside the bridge and its background writer.

Nothing is recorded unless RECORDING_MODE=consent, a store is configured, and the user sent
`{"type": "consent", "recording": true}` in this session; `"recording": false` stops it at once
(frames after it are never queued) and the server confirms each change with
`{"type": "recording", "state": "on"|"off"}`. Each consent span is one recording: a `user.wav`
(microphone), an `agent.wav` (the agent's audio) and a `markers.json` (turn markers with their
offset in each track), see `app.recordings.store` for names.

The bridge's taps (`user_audio`, `agent_audio`, `event`) only check a flag and `put_nowait` onto a
bounded queue: the audio path never waits on storage. One writer task per recording decodes the
frames, stages 1 MiB blocks and commits the WAV tracks when the span ends. A full queue drops the
frame (a gap, counted); a slow or failing store stops the recording (counted, the client is told
`state: off`), and the call goes on. Both show on `/health` under `recordings` and in the
`recording_degradations` metric.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from app.audit.trail import pseudonymise
from app.observability import metrics
from app.recordings import wav
from app.recordings.store import NO_TENANT, Part, RecordingKey, RecordingStore
from app.security.identity import Identity
from app.settings import Settings
from app.voice import protocol

log = logging.getLogger("engram.voice.recording")

#: Frames (both directions together) a recording may have waiting for its writer; ~10 s of a busy
#: two-way conversation at 25 frames a second each way. More are dropped (a counted gap).
QUEUE_FRAMES = 500
#: Audio is staged to the store in blocks of this many bytes (~5.5 s of PCM16 at 24 kHz): with the
#: queue, what a recording session holds in memory stays under ~2 MB (two buffers + 500 frames).
BLOCK_BYTES = 256 * 1024
#: Each store call (stage, commit, put) must finish within this long, or the recording stops.
STORE_TIMEOUT_S = 10.0
#: At session end the recording gets this long to commit its tracks.
FINISH_TIMEOUT_S = 20.0
#: `/health` shows the recordings as degraded for this long after a dropped frame or a store failure.
DEGRADED_WINDOW_S = 300.0
_HEADER_BLOCK = "hdr-0000"  # block ids of one blob must all have the same length
_MARKERS: dict[str, str] = {
    "input_audio_buffer.speech_started": "user_speech_started",
    "input_audio_buffer.speech_stopped": "user_speech_stopped",
    "response.created": "agent_response_started",
    "response.done": "agent_response_done",
    "session.updated": "agent_session_updated",
}
_TRACKS: dict[str, Part] = {"user": "user.wav", "agent": "agent.wav"}

Notify = Callable[[str], Awaitable[None]]


@dataclass
class RecordingHealth:
    """Process-wide counters behind `/health` (`recordings`)."""

    dropped_frames: int = 0
    store_failures: int = 0
    last_problem: float | None = None  # monotonic time

    def problem(self, reason: str, count: int = 1) -> None:
        if reason == "queue_full":
            self.dropped_frames += count
        else:
            self.store_failures += count
        self.last_problem = time.monotonic()
        metrics.recording_degraded(reason)

    @property
    def degraded(self) -> bool:
        return self.last_problem is not None and time.monotonic() - self.last_problem < DEGRADED_WINDOW_S


class Recordings:
    """Process-wide: the mode, the store, the pseudonym key and the health counters."""

    def __init__(self, settings: Settings, store: RecordingStore | None, pseudonym_key: bytes) -> None:
        self.mode = settings.recording_mode
        self.store = store
        self.health = RecordingHealth()
        self._key = pseudonym_key

    @property
    def enabled(self) -> bool:
        return self.mode == "consent" and self.store is not None

    def user_ref(self, user_id: str) -> str:
        return pseudonymise(self._key, user_id)

    def session(self, identity: Identity, session_id: str, notify: Notify) -> SessionRecorder:
        return SessionRecorder(self, identity, session_id, notify)

    async def aclose(self) -> None:
        if self.store is not None:
            await self.store.aclose()


@dataclass
class _Span:
    """One consent span: its queue, its writer and what it has written so far."""

    key: RecordingKey
    consent_at: datetime
    queue: asyncio.Queue[tuple[str, str] | None] = field(default_factory=asyncio.Queue)
    accepting: bool = True
    discard: bool = False
    failed: str | None = None
    dropped: int = 0
    started: float = field(default_factory=time.monotonic)
    writer: asyncio.Task[None] | None = None


class SessionRecorder:
    """One voice connection's recordings. Taps are synchronous and never wait."""

    def __init__(self, recordings: Recordings, identity: Identity, session_id: str, notify: Notify) -> None:
        self._recordings = recordings
        self._identity = identity
        self._session_id = session_id
        self._notify = notify
        self._span: _Span | None = None
        self._spans: list[_Span] = []  # every span of this connection, for `close(discard=True)`
        self._finishing: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def recording(self) -> bool:
        return self._span is not None and self._span.accepting

    # --- the taps (hot path) -----------------------------------------------------------------------

    def user_audio(self, data: str) -> None:
        """Microphone audio as the browser sent it (base64 PCM16), at the point it goes upstream."""
        if self._span is not None:
            self._offer(self._span, ("user", data))

    def agent_audio(self, delta: str) -> None:
        """The agent's audio (base64 PCM16), at the point it goes to the browser."""
        if self._span is not None:
            self._offer(self._span, ("agent", delta))

    def event(self, kind: str, agent_id: str) -> None:
        """An upstream event; the turn-defining ones become markers."""
        if self._span is not None and kind in _MARKERS:
            self._offer(self._span, ("mark", f"{_MARKERS[kind]}:{agent_id}"))

    def _offer(self, span: _Span, item: tuple[str, str]) -> None:
        if not span.accepting:
            return
        if span.queue.qsize() >= QUEUE_FRAMES:
            span.dropped += 1
            self._recordings.health.problem("queue_full")
            return
        span.queue.put_nowait(item)

    # --- consent -----------------------------------------------------------------------------------

    async def consent(self, granted: bool) -> None:
        """The user's choice for this session; answered with the recording state."""
        if not granted:
            self._stop()
            await self._notify(protocol.recording_state("off"))
            return
        if not self._recordings.enabled or self._closed:
            await self._notify(
                protocol.recording_state("off", "recording is not enabled in this environment")
            )
            return
        if self._span is None:
            self._start()
        await self._notify(protocol.recording_state("on"))

    def _start(self) -> None:
        key = RecordingKey(
            tenant=self._identity.tenant_id or NO_TENANT,
            user_ref=self._recordings.user_ref(self._identity.user_id),
            session_id=self._session_id,
            recording_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8],
        )
        span = _Span(key=key, consent_at=datetime.now(UTC))
        span.writer = asyncio.create_task(self._write(span), name=f"recording-{key.recording_id}")
        self._span = span
        self._spans.append(span)
        log.info("recording started", extra={"recording_id": key.recording_id})

    def _stop(self, *, discard: bool = False) -> None:
        """Stop taking frames now; the writer commits (or discards) in the background."""
        if self._span is not None:
            self._detach(self._span, discard=discard)

    def _detach(self, span: _Span, *, discard: bool = False) -> None:
        if self._span is span:
            self._span = None
        if not span.accepting:
            span.discard = span.discard or discard
            return
        span.accepting = False
        span.discard = discard
        span.queue.put_nowait(None)
        if span.writer is not None:
            self._finishing.add(span.writer)
            span.writer.add_done_callback(self._finishing.discard)

    async def close(self, *, discard: bool = False) -> None:
        """At session end: stop, then wait (bounded) for every recording to be committed or discarded."""
        self._closed = True
        for span in self._spans:
            self._detach(span, discard=discard)
        pending = set(self._finishing)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=FINISH_TIMEOUT_S)
        for task in late:
            task.cancel()
            self._recordings.health.problem("finish_timeout")
            log.error("recording not finished in time; its staged audio is dropped")

    # --- the writer (off the audio path) -----------------------------------------------------------

    async def _write(self, span: _Span) -> None:
        buffers = {"user": bytearray(), "agent": bytearray()}
        sizes = {"user": 0, "agent": 0}
        blocks: dict[str, list[str]] = {"user": [], "agent": []}
        markers: list[dict[str, object]] = []
        await self._call(span, "open", self._store.prepare())  # a store that is down shows now
        while (item := await span.queue.get()) is not None:
            if span.failed or span.discard:
                continue  # drain: the recording stopped, the call goes on
            kind, payload = item
            if kind == "mark":
                marker, _, agent_id = payload.partition(":")
                markers.append(
                    {
                        "kind": marker,
                        "agent_id": agent_id,
                        "at_ms": int((time.monotonic() - span.started) * 1000),
                        "user_ms": wav.duration_ms(sizes["user"]),
                        "agent_ms": wav.duration_ms(sizes["agent"]),
                    }
                )
                continue
            try:
                pcm = binascii.a2b_base64(payload)
            except binascii.Error:
                continue  # the relay validated it; an upstream delta that is not base64 is skipped
            if sizes[kind] + len(pcm) > wav.MAX_DATA_BYTES:
                continue
            buffers[kind] += pcm
            sizes[kind] += len(pcm)
            if len(buffers[kind]) >= BLOCK_BYTES:
                await self._stage(span, kind, buffers, blocks)
        if span.discard:
            await self._discard(span)
            return
        for kind in _TRACKS:
            if buffers[kind] and not span.failed:
                await self._stage(span, kind, buffers, blocks)
        await self._commit(span, sizes, blocks, markers)

    async def _stage(
        self, span: _Span, kind: str, buffers: dict[str, bytearray], blocks: dict[str, list[str]]
    ) -> None:
        block_id = f"dat-{len(blocks[kind]) + 1:04d}"
        data = bytes(buffers[kind])
        buffers[kind].clear()
        if await self._call(span, "stage", self._store.stage(span.key.blob(_TRACKS[kind]), block_id, data)):
            blocks[kind].append(block_id)

    async def _commit(
        self,
        span: _Span,
        sizes: dict[str, int],
        blocks: dict[str, list[str]],
        markers: list[dict[str, object]],
    ) -> None:
        """The header first, then the staged audio; markers last. A recording with gaps says so; one
        whose store failed is not committed (its staged blocks are garbage-collected by the service)."""
        if span.failed:
            return
        ended_at = datetime.now(UTC)
        metadata = {
            "consent_at": span.consent_at.isoformat(),
            "ended_at": ended_at.isoformat(),
            "session_id": span.key.session_id,
            "recording_id": span.key.recording_id,
            "sample_rate_hz": str(wav.SAMPLE_RATE_HZ),
            "complete": "false" if span.dropped else "true",
        }
        store = self._store
        for kind, part in _TRACKS.items():
            name = span.key.blob(part)
            if not await self._call(span, "stage", store.stage(name, _HEADER_BLOCK, wav.header(sizes[kind]))):
                return
            if not await self._call(
                span, "commit", store.commit(name, [_HEADER_BLOCK, *blocks[kind]], metadata)
            ):
                return
        document = {
            "recording_id": span.key.recording_id,
            "session_id": span.key.session_id,
            "consent_at": span.consent_at.isoformat(),
            "ended_at": ended_at.isoformat(),
            "sample_rate_hz": wav.SAMPLE_RATE_HZ,
            "tracks": {
                kind: {"blob": part, "duration_ms": wav.duration_ms(sizes[kind])}
                for kind, part in _TRACKS.items()
            },
            "dropped_frames": span.dropped,
            "markers": markers,
        }
        await self._call(
            span,
            "put",
            store.put(span.key.blob("markers.json"), orjson.dumps(document), metadata, "application/json"),
        )

    async def _discard(self, span: _Span) -> None:
        """Erasure mid-session: nothing of this recording may stay, staged blocks included."""
        for part in _TRACKS.values():
            await self._call(span, "discard", self._store.discard(span.key.blob(part)))

    async def _call(self, span: _Span, operation: str, call: Awaitable[None]) -> bool:
        """One bounded store call; a failure stops the recording (counted, the client told)."""
        try:
            async with asyncio.timeout(STORE_TIMEOUT_S):
                await call
        except Exception as exc:  # the store's failure must never reach the call
            reason = "store_timeout" if isinstance(exc, TimeoutError) else "store_error"
            log.warning(
                "recording store %s failed: %s",
                operation,
                type(exc).__name__,
                extra={"recording_id": span.key.recording_id},
            )
            self._recordings.health.problem(reason)
            first = span.failed is None
            span.failed = reason
            if first and span.accepting:
                self._detach(span)
                with contextlib.suppress(Exception):
                    await self._notify(
                        protocol.recording_state(
                            "off", "recording stopped: the recording store is unavailable"
                        )
                    )
            return False
        return True

    @property
    def _store(self) -> RecordingStore:
        store = self._recordings.store
        assert store is not None
        return store
