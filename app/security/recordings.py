"""Recordings under the data duties: erasure of a user's recordings and the retention purge.

Both go through the audit trail like their memory counterparts in `app.security.privacy`. A store
that fails is reported (audit record, `recording_degradations`), never hidden: erasure says
`recordings: "failed"` so the caller can retry (it is idempotent), and a failed purge is retried at
the next interval. The storage account's lifecycle rule deletes expired recordings as a second line.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from app.audit.trail import AuditEvent, AuditTrail
from app.observability import metrics
from app.security.periodic import every

log = logging.getLogger("engram.privacy")

RecordingsOutcome = Literal["deleted", "failed", "not_configured"]


class RecordingBlobs(Protocol):
    async def delete_user(self, user_ref: str) -> int: ...

    async def purge_before(self, cutoff: datetime) -> int: ...


async def erase_recordings(store: RecordingBlobs | None, user_ref: str) -> tuple[RecordingsOutcome, int]:
    """Delete every recording of the pseudonymised user: (outcome, blobs deleted)."""
    if store is None:
        return "not_configured", 0
    try:
        return "deleted", await store.delete_user(user_ref)
    except Exception as exc:  # reported to the caller and the trail; erasure can be asked again
        log.error("recording erasure failed", extra={"error": type(exc).__name__})
        metrics.recording_degraded("erasure_failed")
        return "failed", 0


@dataclass(frozen=True)
class RecordingPurge:
    blobs: int
    cutoff: datetime


async def purge_recordings(
    store: RecordingBlobs, trail: AuditTrail, retention_days: int, now: datetime | None = None
) -> RecordingPurge:
    """Delete recordings last written more than `retention_days` ago; audited."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    deleted = await store.purge_before(cutoff)
    await trail.append(
        AuditEvent(
            event="recording_retention",
            detail={"cutoff": cutoff.isoformat(), "blobs": deleted, "retention_days": retention_days},
        )
    )
    return RecordingPurge(blobs=deleted, cutoff=cutoff)


@contextlib.asynccontextmanager
async def recording_retention_task(
    store: RecordingBlobs | None, trail: AuditTrail, retention_days: int | None, interval: float
) -> AsyncIterator[None]:
    """Run `purge_recordings` now and every `interval` seconds while the service runs."""
    if store is None or retention_days is None:
        yield
        return

    async def _purge() -> RecordingPurge:
        return await purge_recordings(store, trail, retention_days)

    async with every(
        interval,
        _purge,
        name="recording-retention",
        failure="recording retention purge failed",
        on_failure=lambda: metrics.recording_degraded("purge_failed"),
    ):
        yield
