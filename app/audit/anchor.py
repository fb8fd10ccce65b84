"""Anchors the audit chain's head outside the database: a periodic `audit_head` log line.

The hash chain cannot show that its newest records were deleted (see `app/audit/trail.py`). Every
AUDIT_ANCHOR_INTERVAL_SECONDS the service logs the current head as message `audit_head` with two
fields, `seq` and `hash` (nothing about any user). The logs leave the process for Log Analytics /
Application Insights, where a database administrator cannot rewrite them, so the latest line is an
anchor: `engram audit verify --expect-head SEQ:HASH` fails if that record is gone or changed.
Records written after the latest anchor are not covered; the interval bounds that window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from app.audit.trail import AuditHead, AuditTrail

log = logging.getLogger("engram.audit")

HEAD_EVENT = "audit_head"
# On shutdown a head read in flight may finish (rather than be cancelled mid-query) for this long.
_STOP_GRACE_SECONDS = 5.0


async def log_head(trail: AuditTrail) -> AuditHead | None:
    """Log the current head (nothing while the trail is empty) and return it."""
    head = await trail.head()
    if head is not None:
        log.info(HEAD_EVENT, extra={"seq": head.seq, "hash": head.hash})
    return head


async def wait_interval(stop: asyncio.Event, interval: float) -> None:
    """The loop's clock: return after `interval` seconds, or sooner when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), interval)


@contextlib.asynccontextmanager
async def head_anchor_task(
    trail: AuditTrail,
    interval: float,
    *,
    pause: Callable[[asyncio.Event, float], Awaitable[None]] = wait_interval,
    stop_grace: float = _STOP_GRACE_SECONDS,
) -> AsyncIterator[None]:
    """Log the head now and then every `interval` seconds for the life of the service (0: never).

    `pause` and `stop_grace` exist for tests: a manual clock makes each interval an explicit tick.
    """
    if interval <= 0:
        yield
        return
    stop = asyncio.Event()

    async def _loop() -> None:
        while not stop.is_set():
            try:
                await log_head(trail)
            except Exception as exc:  # a failed read is retried next interval; it must not kill the app
                log.error("audit head not logged", extra={"error": type(exc).__name__})
            await pause(stop, interval)

    task = asyncio.create_task(_loop(), name="audit-head-anchor")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):  # wait_for cancels the task when the grace runs out
            await asyncio.wait_for(task, stop_grace)
