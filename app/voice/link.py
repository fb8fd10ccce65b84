"""One browser connection's hold on VoiceLive: the current upstream session, replaced when it ends.

VoiceLive sessions end under a live conversation: a maximum duration (`session_expired`), a service
deployment, a network blip, or a session that stops answering. The link owns whichever VoiceLive
session is current and the gap between two of them:

- `send_audio` is the one way microphone audio goes upstream. While no session is open (the gap) frames
  are kept up to `gap_buffer_ms` and sent first thing to the next session; beyond that they are dropped
  and counted. Nothing is ever written to a closed socket.
- `receive` reads the current session and raises `UpstreamLost` (with the reason) when it ends or when
  `request_renewal` broke it on purpose (a stall, or proactive renewal before the duration cap).
- `reconnect` opens the next session: bounded attempts with exponential backoff, each bounded in time;
  a refusal of the app's credentials (401/403) is a configuration fault and is not retried.
- `end_gap` sends the new session its configuration and the restored conversation, then the buffered
  audio, and only then lets live audio through, so the order upstream is always config, history, audio.

Audio is sent as the base64 text it arrived in, concatenated into the append event (no json encode per
frame), on the aiohttp websocket under the SDK connection (`raw_websocket`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiohttp
import orjson
from azure.ai.voicelive.aio import ConnectionClosed, VoiceLiveConnection
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError

from app.voice.params import BYTES_PER_SECOND, CLOSE_TIMEOUT_S, VoiceParams
from app.voice.upstream import VoiceLiveUpstream

log = logging.getLogger("engram.voice")

LossReason = Literal["expired", "closed", "network", "stalled", "proactive"]
_SEND_ERRORS = (aiohttp.ClientError, ConnectionResetError, RuntimeError)
_DATA = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
#: What reading a session's socket may raise besides `UpstreamLost` (see `UpstreamLink.loss`).
LINK_ERRORS = (aiohttp.ClientError,)


class UpstreamLost(Exception):
    """The current VoiceLive session is over; `reason` says why (a metric attribute)."""

    def __init__(self, reason: LossReason, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason: LossReason = reason
        self.code = code


class ConnectFailed(Exception):
    """No VoiceLive session could be opened; `status` is the handshake's HTTP status when known."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"connect failed (HTTP {status})" if status else "connect failed")
        self.status = status

    @property
    def refused(self) -> bool:
        """The service refused the app's credentials: a configuration fault, never worth a retry."""
        return self.status in (401, 403)


def raw_websocket(conn: VoiceLiveConnection) -> aiohttp.ClientWebSocketResponse | None:
    """The aiohttp websocket under the SDK connection, when this SDK version has it where 1.x does.

    `VoiceLiveConnection.send` only takes mappings or models and json-encodes each one; for 25 audio
    frames a second per session that encode is a measurable share of the relay's CPU. Any other SDK
    layout falls back to the SDK's `send` and `recv_bytes`.
    """
    ws = getattr(conn, "_connection", None)
    return ws if isinstance(ws, aiohttp.ClientWebSocketResponse) else None


class UpstreamLink:
    def __init__(self, upstream: VoiceLiveUpstream, params: VoiceParams, connection_id: str) -> None:
        self._upstream = upstream
        self._params = params
        self._connection_id = connection_id
        self._log_extra = {"connection_id": connection_id}
        self._conn: VoiceLiveConnection | None = None
        self._raw: aiohttp.ClientWebSocketResponse | None = None
        self._lock = asyncio.Lock()  # one writer at a time on the upstream socket
        self._gap: deque[str] | None = None  # microphone frames kept while no session is open
        self._gap_bytes = 0
        self._gap_limit = params.gap_buffer_ms * BYTES_PER_SECOND // 1000
        self._break_reason: LossReason | None = None
        self._closing: set[asyncio.Task[None]] = set()
        #: How many VoiceLive sessions this connection has had (0 = the first).
        self.generation = 0
        #: Frames kept and dropped during the current (or last) gap.
        self.buffered = 0
        self.dropped = 0
        #: When the current session opened (monotonic), and how many events it has sent: a counter, not
        #: a clock read per event, because this runs for every audio delta.
        self.opened_at = 0.0
        self.heard = 0
        self._owed: tuple[float, int] | None = None  # (when, `heard` then) of the oldest unanswered request
        self._heard_at_tick = 0
        self._quiet_since = 0.0

    @property
    def key(self) -> str:
        """Names the current VoiceLive session in turn keys: the connection id, `.n` after n renewals."""
        return self._connection_id if self.generation == 0 else f"{self._connection_id}.{self.generation}"

    @property
    def in_gap(self) -> bool:
        return self._gap is not None

    # --- opening --------------------------------------------------------------------------------------

    async def open(self, timeout_s: float) -> None:
        """The first session; `ConnectFailed` when it cannot be had within `timeout_s`."""
        self._set(await self._connect(timeout_s))

    async def _connect(self, timeout_s: float) -> VoiceLiveConnection:
        try:
            async with asyncio.timeout(timeout_s):
                return await self._upstream.connect().__aenter__()
        except (TimeoutError, VoiceLiveConnectionError) as exc:
            status = getattr(exc.__cause__, "status", None)  # aiohttp's handshake error carries it
            log.warning("voicelive connect failed: %s", type(exc).__name__, extra=self._log_extra)
            raise ConnectFailed(status if isinstance(status, int) else None) from exc

    def _set(self, conn: VoiceLiveConnection) -> None:
        self._conn = conn
        self._raw = raw_websocket(conn)
        self._break_reason = None
        self.opened_at = self._quiet_since = time.monotonic()
        self.heard = self._heard_at_tick = 0
        self._owed = None

    # --- the gap --------------------------------------------------------------------------------------

    def begin_gap(self) -> None:
        """The current session is over: stop writing to it, keep microphone audio, close it aside."""
        if self._gap is None:
            self._gap = deque()
            self._gap_bytes = 0
            self.buffered = self.dropped = 0
        conn, self._conn, self._raw = self._conn, None, None
        if conn is not None:
            self.close_aside(conn)

    async def reconnect(self) -> VoiceLiveConnection:
        """The next session: bounded attempts with backoff; `ConnectFailed` (the last) when none worked."""
        params = self._params
        last = ConnectFailed(None)
        for attempt in range(params.renewal_attempts):
            if attempt:
                await asyncio.sleep(params.renewal_backoff_s * 2 ** (attempt - 1))
            try:
                return await self._connect(params.renewal_connect_timeout_s)
            except ConnectFailed as exc:
                last = exc
                if exc.refused:
                    break
        raise last

    async def end_gap(self, conn: VoiceLiveConnection, events: list[dict[str, Any]]) -> None:
        """Make `conn` current: its configuration and history first, then the kept audio, then live audio."""
        raw = raw_websocket(conn)
        async with self._lock:
            try:
                for event in events:
                    await self._send_event(conn, raw, event)
                gap = self._gap or deque()
                while gap:  # frames may still arrive while these are sent: drain until none is left
                    await self._send_audio_on(conn, raw, gap.popleft())
            except (VoiceLiveConnectionError, *_SEND_ERRORS) as exc:
                self.close_aside(conn)
                raise UpstreamLost("network") from exc
            self.generation += 1
            self._gap = None
            self._set(conn)

    def _keep(self, data: str) -> None:
        gap = self._gap
        assert gap is not None
        size = len(data) * 3 // 4
        if self._gap_bytes + size > self._gap_limit:
            self.dropped += 1
            return
        gap.append(data)
        self._gap_bytes += size
        self.buffered += 1

    # --- sending --------------------------------------------------------------------------------------

    async def send_audio(self, data: str) -> None:
        """Microphone audio upstream (base64 PCM16, validated): the single point all mic audio passes."""
        raw = self._raw
        if raw is not None and not raw.closed:
            async with self._lock:
                try:
                    await raw.send_str('{"type":"input_audio_buffer.append","audio":"' + data + '"}')
                    return
                except _SEND_ERRORS:
                    self.request_renewal("network")  # the gap starts: this frame is kept below
        elif raw is None and self._gap is None and self._conn is not None:  # an SDK without aiohttp
            await self.send({"type": "input_audio_buffer.append", "audio": data})
            return
        elif raw is not None:  # closed under us, before the reader noticed: the gap starts now
            self.request_renewal("closed")
        if self._gap is not None:
            self._keep(data)

    async def send(self, event: dict[str, Any], *, owed: bool = False) -> bool:
        """A control event to the current session; False (dropped) during a gap. `owed`: the session
        must answer it, so silence after it counts towards a stall."""
        conn = self._conn
        if conn is None:
            return False
        async with self._lock:
            try:
                await self._send_event(conn, self._raw, event)
            except (VoiceLiveConnectionError, *_SEND_ERRORS):
                self.request_renewal("network")
                return False
        if owed and self._owed is None:
            self._owed = (time.monotonic(), self.heard)
        return True

    # --- silence (sampled by the housekeeping tick) -----------------------------------------------------

    def owed_for(self, now: float) -> float | None:
        """How long a request has gone unanswered (no event at all since it was sent); None if none."""
        owed = self._owed
        if owed is None:
            return None
        if self.heard != owed[1]:
            self._owed = None
            return None
        return now - owed[0]

    def silence(self, now: float) -> float:
        """How long the current session has sent nothing, to the precision of the caller's ticks."""
        if self.heard != self._heard_at_tick:
            self._heard_at_tick = self.heard
            self._quiet_since = now
        return now - self._quiet_since

    @staticmethod
    async def _send_event(
        conn: VoiceLiveConnection, raw: aiohttp.ClientWebSocketResponse | None, event: dict[str, Any]
    ) -> None:
        if raw is None:
            await conn.send(event)
        else:
            await raw.send_str(orjson.dumps(event).decode())

    @staticmethod
    async def _send_audio_on(
        conn: VoiceLiveConnection, raw: aiohttp.ClientWebSocketResponse | None, data: str
    ) -> None:
        if raw is None:
            await conn.send({"type": "input_audio_buffer.append", "audio": data})
        else:
            await raw.send_str('{"type":"input_audio_buffer.append","audio":"' + data + '"}')

    # --- receiving ------------------------------------------------------------------------------------

    def reader(self) -> Callable[[], Awaitable[aiohttp.WSMessage]] | None:
        """The current session's `receive` (the hot path reads it directly; pass each message to
        `data`); None when the SDK has another layout (use `receive`) or no session is open."""
        raw = self._raw
        return raw.receive if raw is not None else None

    def data(self, message: aiohttp.WSMessage) -> str | bytes:
        """A received message's payload; `UpstreamLost` when it says the session is over."""
        if message.type in _DATA:
            self.heard += 1
            payload: str | bytes = message.data
            return payload
        reason = self._break_reason or ("network" if message.type is aiohttp.WSMsgType.ERROR else "closed")
        raise UpstreamLost(reason, message.data if isinstance(message.data, int) else None)

    def loss(self, exc: BaseException) -> UpstreamLost:
        """The session's socket failed while being read."""
        return exc if isinstance(exc, UpstreamLost) else UpstreamLost(self._break_reason or "network")

    async def receive(self) -> str | bytes:
        """The next event of the current session (the SDK's API); `UpstreamLost` when it is over."""
        read = self.reader()
        if read is not None:
            try:
                return self.data(await read())
            except aiohttp.ClientError as exc:
                raise self.loss(exc) from exc
        conn = self._conn
        if conn is None:
            raise UpstreamLost(self._break_reason or "closed")
        try:
            body = await conn.recv_bytes()
        except ConnectionClosed as exc:
            raise UpstreamLost(self._break_reason or "closed", exc.code) from exc
        if self._break_reason is not None:
            raise UpstreamLost(self._break_reason)
        self.heard += 1
        return body

    def request_renewal(self, reason: LossReason) -> None:
        """End the current session on purpose (stall, proactive, a failed send): `receive` raises
        `UpstreamLost(reason)` and the bridge renews. Idempotent; the first reason wins."""
        if self._conn is None or self._break_reason is not None:
            return
        self._break_reason = reason
        self.begin_gap()  # audio is kept from now; closing the socket wakes the pending receive

    # --- closing --------------------------------------------------------------------------------------

    def close_aside(self, conn: VoiceLiveConnection) -> None:
        """Close `conn` in the background (bounded); a dead peer never holds up the conversation."""
        task = asyncio.create_task(self._close(conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(conn: VoiceLiveConnection) -> None:
        with contextlib.suppress(TimeoutError, VoiceLiveConnectionError, *_SEND_ERRORS):
            await asyncio.wait_for(conn.close(), CLOSE_TIMEOUT_S)

    async def close(self) -> None:
        """Close the current session and wait (bounded) for any being closed aside."""
        conn, self._conn, self._raw = self._conn, None, None
        self._gap = None
        if conn is not None:
            await self._close(conn)
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=CLOSE_TIMEOUT_S + 1)
