"""Re-encryption of stored transcripts under the newest ENCRYPTION_KEY (`engram db reencrypt`).

Key rotation goes: prepend the new key to ENCRYPTION_KEY, deploy, re-encrypt, drop the old key. This
module is the third step. The only column encrypted with the cipher is `turns.content`. Fact text
stays plaintext so it can be searched (see app.memory.sql), and the audit trail holds no content. The
audit trail is append-only, so it is never touched here.

The walk goes through `turns` by primary key in batches. Each batch is read on its own, then written
in one short transaction, so the table is never locked for long and the running service keeps
writing. A row is written only when it is not yet under the newest key (legacy plaintext rows get
encrypted). The write is a compare-and-swap on the old value, so a row that the service deleted or
changed in between is left alone. That makes a re-run do nothing more than the rows still to do, and
an interrupted run resumes by running again. A row no configured key decrypts is counted and reported
by id, never by content, and left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import AuditEvent, AuditTrail
from app.db.tables import TurnRow
from app.security.crypto import ContentDecryptionError, FernetCipher

#: Rows per batch: each batch's writes are one transaction, short enough to slip between chat writes.
BATCH_SIZE = 500

_TURNS = cast(Table, TurnRow.__table__)
#: Compare-and-swap: the row is rewritten only if it still holds the value that was read.
_SWAP = (
    update(_TURNS)
    .where(_TURNS.c.id == bindparam("turn_id"), _TURNS.c.content == bindparam("old"))
    .values(content=bindparam("new"))
)


@dataclass
class ReencryptResult:
    """Counts of one run. In a dry run, `rewritten` counts the rows that would be rewritten."""

    scanned: int = 0
    rewritten: int = 0
    current: int = 0  # already under the newest key: not rewritten
    undecryptable: list[int] = field(default_factory=list)  # turn ids, never content
    changed: int = 0  # deleted or changed by the service between read and write: left alone

    @property
    def ok(self) -> bool:
        return not self.undecryptable


async def reencrypt_turns(
    engine: AsyncEngine,
    cipher: FernetCipher,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    trail: AuditTrail | None = None,
) -> ReencryptResult:
    """Bring every `turns.content` under the cipher's newest key; see the module docstring.

    With a `trail`, a run that writes leaves an audit record with its counts (a dry run does not).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    result = ReencryptResult()
    after: int | None = None
    while True:
        batch = await _read_batch(engine, after, batch_size)
        if not batch:
            break
        after = batch[-1][0]
        pending: list[tuple[int, str, str]] = []
        for turn_id, stored in batch:
            result.scanned += 1
            if cipher.is_current(stored):
                result.current += 1
                continue
            try:
                pending.append((turn_id, stored, cipher.rotate(stored)))
            except ContentDecryptionError:
                result.undecryptable.append(turn_id)
        if dry_run:
            result.rewritten += len(pending)
        elif pending:
            written = await _write_batch(engine, pending)
            result.rewritten += written
            result.changed += len(pending) - written
    if trail is not None and not dry_run:
        await trail.append(
            AuditEvent(
                event="reencrypt",
                detail={
                    "table": "turns",
                    "scanned": result.scanned,
                    "rewritten": result.rewritten,
                    "current": result.current,
                    "undecryptable": len(result.undecryptable),
                    "changed": result.changed,
                },
            )
        )
    return result


async def _read_batch(engine: AsyncEngine, after: int | None, size: int) -> list[tuple[int, str]]:
    query = select(_TURNS.c.id, _TURNS.c.content).order_by(_TURNS.c.id).limit(size)
    if after is not None:
        query = query.where(_TURNS.c.id > after)
    async with engine.connect() as connection:  # read-only; rolled back (and released) on exit
        return [(row[0], row[1]) for row in await connection.execute(query)]


async def _write_batch(engine: AsyncEngine, pending: list[tuple[int, str, str]]) -> int:
    """One transaction; each row only if it still holds what was read. Returns the rows written."""
    written = 0
    async with engine.begin() as connection:
        for turn_id, old, new in pending:
            # Row by row: asyncpg cannot report per-row counts of an executemany.
            outcome = await connection.execute(_SWAP, {"turn_id": turn_id, "old": old, "new": new})
            written += outcome.rowcount
    return written
