"""The append-only, hash-chained audit trail (SOP 6.7: all API calls logged with user identity).

Each record carries the SHA-256 of its predecessor (`prev_hash`) and of itself over a canonical
JSON form, so editing, deleting or reordering a stored record breaks the chain at that record;
`verify` names the first broken one. User ids are pseudonymised with a keyed hash (HMAC-SHA256,
key AUDIT_PSEUDONYM_KEY or else ENCRYPTION_KEY), so erasing a user never rewrites the trail, and the
trail alone does not say who someone is. Message content never enters it: an `AuditEvent` has no
field for it, and `detail` holds counts and outcomes only.

Appends are serialised: in a process, one writer task drains a queue under an asyncio lock; across
replicas, PostgreSQL takes a transaction-level advisory lock, and `seq` (previous + 1, the primary
key) turns any remaining race into a key conflict that is retried, never a fork.

A chain that verifies proves no record was changed or removed *between* its first and last record;
it cannot show that the newest records were deleted (with the triggers lifted), since the shortened
chain is just as valid. The head (`head()`: seq + hash of the newest record) is therefore anchored
outside the database (the service logs it periodically, see `app/audit/anchor.py`; operators can
store `engram audit head`), and `verify(anchors)` fails when an anchored record is gone or differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Protocol, cast

from sqlalchemy import Connection, Table, and_, case, func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.db.engine import sqlite_runner
from app.db.tables import AuditRow
from app.settings import Settings

log = logging.getLogger("engram.audit")

GENESIS = "0" * 64
ADVISORY_LOCK_ID = 0x656E6772616D  # "engram": one lock for the one chain
_APPEND_ATTEMPTS = 5
_QUEUE_MAX = 10_000
# Only for development without any key: pseudonyms are then stable but not secret (guard refuses
# AUDIT_LOG_ENABLED without a key above development).
_DEVELOPMENT_KEY = b"engram-development-audit-pseudonym-key"


class Actor(Protocol):
    """Who acted, as the trail records them. `app.security.identity.Identity` is one; the trail names
    only what it stores, so it needs nothing from the security layer above it."""

    @property
    def user_id(self) -> str: ...

    @property
    def tenant_id(self) -> str | None: ...

    @property
    def roles(self) -> Collection[str]: ...


@dataclass(frozen=True)
class AuditEvent:
    """What happened; never what was said."""

    event: str  # http | ws.start | ws.end | erasure | retention | reencrypt | access.review
    user_id: str | None = None  # pseudonymised before it is stored
    tenant_id: str | None = None
    roles: Sequence[str] = ()
    request_id: str | None = None
    method: str | None = None
    route: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    client_ip: str | None = None
    detail: dict[str, object] = field(default_factory=dict)
    at: datetime | None = None

    @classmethod
    def by(
        cls, actor: Actor, event: str, request_id: str | None, detail: dict[str, object] | None = None
    ) -> AuditEvent:
        """`event`, done by `actor` (their id pseudonymised when stored, their roles sorted)."""
        return cls(
            event=event,
            user_id=actor.user_id,
            tenant_id=actor.tenant_id,
            roles=sorted(actor.roles),
            request_id=request_id,
            detail=detail or {},
        )


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    event: str
    request_id: str | None
    user_ref: str | None
    tenant_id: str | None
    roles: str
    method: str | None
    route: str | None
    status: int | None
    latency_ms: float | None
    client_ip: str | None
    detail: dict[str, object]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditRecord:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def pseudonym_key(settings: Settings) -> bytes:
    secret = settings.audit_pseudonym_key or settings.encryption_key
    return secret.get_secret_value().encode() if secret else _DEVELOPMENT_KEY


def pseudonymise(key: bytes, user_id: str) -> str:
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def record_hash(fields: dict[str, object]) -> str:
    """SHA-256 over the canonical JSON of every field but `hash` (prev_hash included)."""
    canonical = dict(fields)
    canonical.pop("hash", None)
    at = canonical["at"]
    assert isinstance(at, datetime)
    canonical["at"] = _utc(at).isoformat(timespec="microseconds")
    latency = canonical.get("latency_ms")
    canonical["latency_ms"] = None if latency is None else round(float(latency), 3)  # type: ignore[arg-type]
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


_AUDIT = cast(Table, AuditRow.__table__)
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:id)")
_HEAD = select(_AUDIT.c.seq, _AUDIT.c.hash).order_by(_AUDIT.c.seq.desc()).limit(1)
_HEAD_AT = select(_AUDIT.c.seq, _AUDIT.c.hash, _AUDIT.c.at).order_by(_AUDIT.c.seq.desc()).limit(1)
_INSERT = insert(_AUDIT)


def _on_connection(session: Session, operation: Callable[[Connection], AuditRecord]) -> AuditRecord:
    return operation(session.connection())


@dataclass(frozen=True)
class AuditHead:
    """The newest record: what is stored outside the database as an anchor."""

    seq: int
    hash: str
    at: datetime

    @property
    def anchor(self) -> str:
        """The `SEQ:HASH` form `engram audit verify --expect-head` takes."""
        return f"{self.seq}:{self.hash}"


ANCHOR_FORMAT = (
    "SEQ:HASH (a record number >= 1, a colon, that record's 64-hex SHA-256, as `engram audit head` prints it)"
)
_ANCHOR = re.compile(r"([1-9][0-9]{0,18}):([0-9a-fA-F]{64})")


@dataclass(frozen=True)
class Anchor:
    """A head recorded outside the database earlier: record `seq` must still exist with `hash`."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        match = _ANCHOR.fullmatch(text.strip())
        if match is None:
            shown = text if len(text) <= 80 else text[:80] + "..."
            raise ValueError(f"expected {ANCHOR_FORMAT}, got {shown!r}")
        return cls(int(match.group(1)), match.group(2).lower())

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class ActorActivity:
    """One pseudonymised identity's footprint in the trail (`AuditTrail.actors`)."""

    user_ref: str
    tenant_id: str | None
    first_at: datetime
    last_at: datetime
    records: int
    records_since: int  # records at or after the period's start
    roles: tuple[str, ...]  # as of its newest record


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    first_broken: int | None = None
    reason: str | None = None
    anchor: Anchor | None = None  # the anchor that failed (the chain itself held)
    anchors_matched: int = 0


class AuditTrail:
    """Appends and reads the trail; `start()`/`stop()` run the background writer for the middleware."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key: bytes) -> None:
        self._sessions = sessions
        self._key = key
        # On a SQLite file, appends go through the engine's runner: one thread hop, and the same
        # write queue as the memory store, so the two never fight over SQLite's write lock.
        self._runner = sqlite_runner(sessions.kw.get("bind"))
        self._lock = asyncio.Lock()
        self._queue: asyncio.Queue[AuditEvent] | None = None
        self._writer: asyncio.Task[None] | None = None

    def user_ref(self, user_id: str) -> str:
        return pseudonymise(self._key, user_id)

    # --- writing -------------------------------------------------------------------------------

    async def append(self, event: AuditEvent) -> AuditRecord:
        """Append one record now (erasure and retention wait for theirs; requests use `submit`)."""
        async with self._lock:
            for attempt in range(1, _APPEND_ATTEMPTS + 1):
                try:
                    return await self._append_once(event)
                except (IntegrityError, OperationalError):
                    # Another replica took the same seq (or SQLite's writer lock): re-read the head.
                    if attempt == _APPEND_ATTEMPTS:
                        raise
                    await asyncio.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    async def _append_once(self, event: AuditEvent) -> AuditRecord:
        if self._runner is not None:
            return await self._runner.write(functools.partial(self._append_sync, event))
        async with self._sessions.begin() as session:
            return await session.run_sync(_on_connection, functools.partial(self._append_sync, event))

    def _append_sync(self, event: AuditEvent, connection: Connection) -> AuditRecord:
        if connection.dialect.name == "postgresql":
            connection.execute(_ADVISORY_LOCK, {"id": ADVISORY_LOCK_ID})
        head = connection.execute(_HEAD).first()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        fields: dict[str, object] = {
            "seq": seq,
            "at": _utc(event.at or datetime.now(UTC)),
            "event": event.event,
            "request_id": event.request_id,
            "user_ref": self.user_ref(event.user_id) if event.user_id else None,
            "tenant_id": event.tenant_id,
            "roles": ",".join(sorted(event.roles)),
            "method": event.method,
            "route": event.route,
            "status": event.status,
            "latency_ms": None if event.latency_ms is None else round(event.latency_ms, 3),
            "client_ip": event.client_ip,
            "detail": dict(event.detail),
            "prev_hash": prev,
        }
        fields["hash"] = record_hash(fields)
        connection.execute(_INSERT, fields)
        return AuditRecord(**fields)  # type: ignore[arg-type]

    def submit(self, event: AuditEvent) -> None:
        """Queue a record for the writer task without waiting (the request path)."""
        if self._queue is None:
            raise RuntimeError("the audit writer is not running; call start() in the lifespan")
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.error("audit queue full; record dropped", extra={"event": event.event})

    async def start(self) -> None:
        self._queue = asyncio.Queue(_QUEUE_MAX)
        self._writer = asyncio.create_task(self._drain(self._queue), name="audit-writer")

    async def flush(self) -> None:
        """Wait until every submitted record is stored."""
        if self._queue is not None:
            await self._queue.join()

    async def stop(self) -> None:
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        self._queue, self._writer = None, None

    async def _drain(self, queue: asyncio.Queue[AuditEvent]) -> None:
        while True:
            event = await queue.get()
            try:
                await self.append(event)
            except Exception as exc:  # the trail must not take the service down; the loss is logged
                log.error("audit append failed", extra={"event": event.event, "error": type(exc).__name__})
            finally:
                queue.task_done()

    # --- reading -------------------------------------------------------------------------------

    async def query(
        self,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        statement = select(AuditRow).where(AuditRow.seq > after_seq).order_by(AuditRow.seq).limit(limit)
        if user_id is not None:
            statement = statement.where(AuditRow.user_ref == self.user_ref(user_id))
        if since is not None:
            statement = statement.where(AuditRow.at >= _utc(since))
        if until is not None:
            statement = statement.where(AuditRow.at < _utc(until))
        async with self._sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
        return [AuditRecord.from_row(r) for r in rows]

    async def _all(self, batch: int = 1000) -> AsyncIterator[AuditRecord]:
        after = 0
        while True:
            page = await self.query(after_seq=after, limit=batch)
            for record in page:
                yield record
            if len(page) < batch:
                return
            after = page[-1].seq

    async def actors(self, since: datetime, *, exclude_events: Sequence[str] = ()) -> list[ActorActivity]:
        """Every pseudonymised identity in the trail, per tenant: first and last record, records since
        `since`, and the roles of its newest record (what it held when last seen).

        Two aggregate queries, not a walk of the trail, so a monthly review stays cheap on a long trail.
        """
        actor = and_(AuditRow.user_ref.is_not(None), AuditRow.event.not_in(list(exclude_events)))
        key = (AuditRow.user_ref, AuditRow.tenant_id)
        since_utc = _utc(since)
        in_period = func.sum(case((AuditRow.at >= since_utc, 1), else_=0))
        summary = (
            select(
                *key,
                func.min(AuditRow.at),
                func.max(AuditRow.at),
                func.count(),
                in_period,
                func.max(AuditRow.seq),
            )
            .where(actor)
            .group_by(*key)
        )
        async with self._sessions() as session:
            rows = (await session.execute(summary)).all()
            newest = [row[6] for row in rows]
            roles: dict[int, str] = {}
            for start in range(0, len(newest), 500):  # bounded IN lists
                chunk = newest[start : start + 500]
                found = await session.execute(
                    select(AuditRow.seq, AuditRow.roles).where(AuditRow.seq.in_(chunk))
                )
                roles.update({seq: text_roles for seq, text_roles in found.all()})
        return [
            ActorActivity(
                user_ref=row[0],
                tenant_id=row[1],
                first_at=_utc(row[2]),
                last_at=_utc(row[3]),
                records=int(row[4]),
                records_since=int(row[5] or 0),
                roles=tuple(r for r in roles.get(row[6], "").split(",") if r),
            )
            for row in rows
        ]

    async def count(self) -> int:
        async with self._sessions() as session:
            return int((await session.execute(select(func.count()).select_from(AuditRow))).scalar_one())

    async def head(self) -> AuditHead | None:
        """The newest record's seq, hash and time; None while the trail is empty."""
        async with self._sessions() as session:
            row = (await session.execute(_HEAD_AT)).first()
        return None if row is None else AuditHead(row.seq, row.hash, _utc(row.at))

    async def verify(self, anchors: Sequence[Anchor] = ()) -> VerifyResult:
        """Recompute the chain from the first record; stop at the first that does not hold.

        Then check each anchor (a head stored outside the database earlier): its record must still
        be in the chain with the same hash, which is what catches a deleted tail.
        """
        wanted = {anchor.seq for anchor in anchors}
        found: dict[int, str] = {}
        expected_seq, prev, checked = 1, GENESIS, 0
        async for record in self._all():
            if record.seq in wanted:
                found[record.seq] = record.hash
            fields = asdict(record)
            if record.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, f"record {expected_seq} is missing")
            if record.prev_hash != prev:
                return VerifyResult(
                    False, checked, record.seq, "prev_hash does not match the previous record"
                )
            if record_hash(fields) != record.hash:
                return VerifyResult(
                    False, checked, record.seq, "the record's content does not match its hash"
                )
            prev, expected_seq, checked = record.hash, expected_seq + 1, checked + 1
        # The chain held, so it is records 1..checked without gaps: an anchor past it is a lost tail.
        for anchor in sorted(anchors, key=lambda a: a.seq):
            stored = found.get(anchor.seq)
            if stored is None:
                ends = f"the chain ends at record {checked}" if checked else "the trail is empty"
                reason = (
                    f"record {anchor.seq} is missing ({ends}): records from {checked + 1} on were "
                    "deleted, or the anchor comes from another database"
                )
                return VerifyResult(False, checked, anchor.seq, reason, anchor)
            if stored != anchor.hash:
                reason = f"record {anchor.seq} has hash {stored}, the anchor says {anchor.hash}"
                return VerifyResult(False, checked, anchor.seq, reason, anchor)
        return VerifyResult(True, checked, anchors_matched=len(anchors))
