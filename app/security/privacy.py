"""Erasure (GDPR right to be forgotten) and retention, each leaving an audit record.

The SQL store is the system of record and is erased synchronously. Zep deletes users and threads
asynchronously (it answers with a task): we start the deletion and record whether Zep accepted it.
Both operations are idempotent: erasing an erased user or purging an already purged window
removes nothing and says so.

Erasure order matters: first the user's live voice sessions in this process end (their pending
transcript writes are discarded) and their queued Zep writes settle, then SQL is erased (leaving an
erasure marker), then Zep is asked, then the user's unredeemed websocket tickets go. Sessions on
other replicas are not reachable from here: the marker makes the store refuse their next transcript
write, and the session then ends the same way (see docs/voice-protocol.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from app.audit.trail import AuditEvent, AuditTrail
from app.memory.store import Purged
from app.security.identity import Identity
from app.security.periodic import every
from app.security.recordings import RecordingBlobs, RecordingsOutcome, erase_recordings

log = logging.getLogger("engram.privacy")

RETENTION_INTERVAL_SECONDS = 3600.0  # the service purges hourly; the CLI purges on demand

ZepOutcome = Literal["requested", "failed", "not_configured"]


class ErasableStore(Protocol):
    async def erase_owner(self, owner_id: str) -> dict[str, int]: ...

    async def purge_before(self, cutoff: datetime) -> Purged: ...


class ZepUsers(Protocol):
    async def delete_user(self, owner_id: str) -> bool: ...


class ZepThreads(Protocol):
    async def delete_threads(self, thread_uuids: Sequence[str]) -> tuple[int, int]: ...


class PendingMirrorWrites(Protocol):
    async def settle_owner(self, owner_id: str, timeout_s: float) -> int: ...


class UsageRows(Protocol):
    async def erase_usage(self, user_id: str) -> int: ...


class LiveSessions(Protocol):
    async def close_user(self, user_id: str) -> int: ...


class Tickets(Protocol):
    async def revoke_user(self, user_id: str) -> int: ...


#: How long an erasure waits for the user's in-flight Zep writes before cutting them off.
MIRROR_SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class ErasureResult:
    removed: dict[str, int] = field(default_factory=dict)  # episodes, turns, facts, tickets
    zep: ZepOutcome = "not_configured"
    voice_sessions: int = 0  # live sessions of the user this process ended
    recordings: RecordingsOutcome = "not_configured"


@dataclass(frozen=True)
class PurgeResult:
    episodes: int
    zep: ZepOutcome = "not_configured"
    zep_threads_requested: int = 0
    zep_threads_failed: int = 0  # counted in memory_degraded too; the SQL purge went ahead regardless


async def erase_user(
    user_id: str,
    *,
    store: ErasableStore,
    zep: ZepUsers | None,
    trail: AuditTrail,
    actor: Identity,
    request_id: str | None = None,
    pending: PendingMirrorWrites | None = None,
    voice: LiveSessions | None = None,
    tickets: Tickets | None = None,
    usage: UsageRows | None = None,
    recordings: RecordingBlobs | None = None,
) -> ErasureResult:
    """Remove everything stored about `user_id` and record who asked (pseudonymously).

    The user's live voice sessions here end first (`voice`, their unwritten transcripts dropped),
    then the queued Zep writes (`pending`) finish or are cut off, so none lands after the erasure
    and brings the user back. Unredeemed tickets (`tickets`) would keep the user id: they go too, and
    so do the user's voice recordings (`recordings`), found by the same pseudonym the trail uses.
    Usage rows (`usage`) are kept as anonymous aggregates: the user's pseudonym is replaced by
    "erased", so tenant totals stay right and nothing links them to the person.
    """
    closed = await voice.close_user(user_id) if voice is not None else 0
    if pending is not None:
        await pending.settle_owner(user_id, MIRROR_SETTLE_SECONDS)
    removed = dict(await store.erase_owner(user_id))
    outcome: ZepOutcome = "not_configured"
    if zep is not None:
        outcome = "requested" if await zep.delete_user(user_id) else "failed"
    if tickets is not None:
        removed["tickets"] = await tickets.revoke_user(user_id)
    if usage is not None:
        removed["usage_rows_anonymised"] = await usage.erase_usage(user_id)
    recorded, blobs = await erase_recordings(recordings, trail.user_ref(user_id))
    if recorded == "deleted":
        removed["recordings"] = blobs
    await trail.append(
        AuditEvent.by(
            actor,
            "erasure",
            request_id,
            # The subject as a pseudonym, like every user id in the trail.
            {
                "subject": trail.user_ref(user_id),
                "removed": removed,
                "zep": outcome,
                "voice_sessions": closed,
                "recordings": recorded,
            },
        )
    )
    return ErasureResult(removed=removed, zep=outcome, voice_sessions=closed, recordings=recorded)


async def purge_expired(
    store: ErasableStore,
    trail: AuditTrail,
    retention_days: int,
    now: datetime | None = None,
    zep: ZepThreads | None = None,
) -> PurgeResult:
    """Delete episodes idle for more than `retention_days`, then ask Zep to delete their threads.

    The Zep side is best-effort and after the SQL purge, which it never blocks: failures are counted
    (`memory_degraded`) and reported in the result and the audit record. A thread whose delete
    failed is not retried (its mapping went with the episode); Zep's user deletion on erasure
    still covers it.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    purged = await store.purge_before(cutoff)
    result = PurgeResult(episodes=purged.episodes)
    if zep is not None:
        requested, failed = await zep.delete_threads(purged.zep_threads)
        result = PurgeResult(
            episodes=purged.episodes,
            zep="failed" if failed else "requested",
            zep_threads_requested=requested,
            zep_threads_failed=failed,
        )
    await trail.append(
        AuditEvent(
            event="retention",
            detail={
                "cutoff": cutoff.isoformat(),
                "episodes": result.episodes,
                "retention_days": retention_days,
                "zep": result.zep,
                "zep_threads": {
                    "requested": result.zep_threads_requested,
                    "failed": result.zep_threads_failed,
                },
            },
        )
    )
    return result


@contextlib.asynccontextmanager
async def retention_task(
    store: ErasableStore,
    trail: AuditTrail,
    retention_days: int | None,
    interval: float = RETENTION_INTERVAL_SECONDS,
    zep: ZepThreads | None = None,
) -> AsyncIterator[None]:
    """Run `purge_expired` now and then every `interval` seconds for the life of the service."""
    if retention_days is None:
        yield
        return

    async def _purge() -> PurgeResult:
        return await purge_expired(store, trail, retention_days, zep=zep)

    async with every(interval, _purge, name="retention-purge", failure="retention purge failed"):
        yield
