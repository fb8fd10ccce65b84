"""How a voice session ends: the `Ending`s the bridge can reach and the one teardown that serves them all.

The bridge's first task to finish (or `VoiceBridge.end`, on erasure) names an `Ending`; `tear_down`
then runs once for it, every wait bounded: the connection's tasks are cancelled, on erasure the
transcript writer is stopped with its queue discarded before anything else, the VoiceLive session is
closed, the browser is told why and closed with the ending's code, what the conversation said last is
handed to the writer, the writer is drained, and the recorder commits (or, on erasure, discards).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.observability import metrics
from app.voice import protocol
from app.voice.link import UpstreamLink
from app.voice.params import CLOSE_TIMEOUT_S
from app.voice.recording import SessionRecorder
from app.voice.transcripts import TurnWriter

log = logging.getLogger("engram.voice")

#: What sending to (or closing) a browser socket that has gone may raise.
SendError = (WebSocketDisconnect, RuntimeError, OSError)


@dataclass(frozen=True)
class Ending:
    """Why the session ended: what the browser is told and how its socket is closed."""

    code: int
    message: str | None = None  # sent as an error message before the close
    metric_reason: str | None = None  # counted as a failed voice session when set
    client_gone: bool = False
    discard_transcripts: bool = False  # erasure: transcripts not yet written are dropped, not written


CLIENT_LEFT = Ending(protocol.CLOSE_NORMAL, client_gone=True)
ERASED = Ending(
    protocol.CLOSE_ERASED,
    "your stored data was erased, so this session has ended; start a new session to continue",
    discard_transcripts=True,
)
RENEWAL_FAILED = Ending(
    protocol.CLOSE_TRY_AGAIN,
    "the voice service is unavailable right now; reconnect to continue the conversation",
    "renewal_failed",
)


async def tear_down(
    ending: Ending,
    *,
    tasks: Sequence[asyncio.Task[Ending]],
    link: UpstreamLink,
    websocket: WebSocket,
    send: Callable[[str], Awaitable[None]],
    close_conversation: Callable[[], object],
    writer: TurnWriter,
    drain_timeout_s: float,
    recorder: SessionRecorder | None,
    connection_id: str,
) -> None:
    """Close both sides of one connection for `ending` (the caller makes it run once)."""
    current = asyncio.current_task()
    for task in tasks:
        if task is not current:
            task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    # On erasure, before the bounded closes: nothing more may be written.
    if ending.discard_transcripts:
        await writer.stop(drain_timeout_s, discard=True)
    if ending.metric_reason:
        metrics.voice_session_error(ending.metric_reason)
    await link.close()
    if not ending.client_gone and websocket.client_state is WebSocketState.CONNECTED:
        if ending.message:
            await send(protocol.error(ending.message))
        with contextlib.suppress(TimeoutError, *SendError):
            await asyncio.wait_for(
                websocket.close(code=ending.code, reason=(ending.message or "")[:120]), CLOSE_TIMEOUT_S
            )
    close_conversation()
    await writer.stop(drain_timeout_s)  # after an erasure's stop above, a no-op
    if recorder is not None:
        await recorder.close(discard=ending.discard_transcripts)
    log.info(
        "voice session ended",
        extra={
            "connection_id": connection_id,
            "close_code": ending.code,
            "reason": ending.metric_reason,
            "renewals": link.generation,
        },
    )
