"""Voice transcripts to memory: which turns to write (the ledger), then writing them (the writer).

The ledger releases turns once each and in conversation order. VoiceLive reports a conversation
item before its text: the user's item when their speech is committed, and its transcript later
(often after the assistant has begun answering); the assistant's item when the response adds it,
and its text when done. The ledger reserves a slot when an item appears and releases turns from the
head only, so memory reads user, assistant, user... even when the events arrive out of order. Each
item id is released at most once; a slot whose text never comes (failed transcription, cancelled
reply) is dropped, and a head that waits longer than `wait_s` is skipped so later turns are never
lost.

The writer (`TurnWriter`) is one task per connection that writes the released turns in order, off
the audio path (SQL with its Zep outbox row; the outbox worker mirrors it). Each turn carries its
idempotency key, fixed when it was queued: `vl:<upstream key>:<item id>`, where the upstream key
names the VoiceLive session the item came from (item ids are unique only within one upstream
session, and a connection may hold several after renewals). So a turn is written at most once and a
renewed session's reused item ids never collide with the old session's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from app.memory.outbox import MirrorOutbox
from app.memory.store import EpisodeOwnedByAnother, MemoryStore, NewTurn, OwnerErased, Role
from app.security.identity import Identity

log = logging.getLogger("engram.voice")


@dataclass(frozen=True, slots=True)
class ReadyTurn:
    item_id: str
    role: Role
    agent_id: str  # the agent addressed (user) or speaking (assistant) when the item appeared
    text: str
    created_at: datetime  # when the item appeared, so stored timestamps follow conversation order


@dataclass(slots=True)
class _Slot:
    role: Role
    agent_id: str
    opened: float  # monotonic seconds
    created_at: datetime
    text: str | None = None


class TranscriptLedger:
    def __init__(self, wait_s: float) -> None:
        self._wait_s = wait_s
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._done: set[str] = set()  # item ids released or dropped: never released again

    def expect(self, item_id: str, role: Role, agent_id: str, now: float) -> None:
        """An item exists and its text will follow (idempotent)."""
        if item_id and item_id not in self._done and item_id not in self._slots:
            self._slots[item_id] = _Slot(role, agent_id, now, datetime.now(UTC))

    def fill(self, item_id: str, role: Role, agent_id: str, text: str, now: float) -> list[ReadyTurn]:
        """The item's final text; ignored when the item already has text or was released."""
        if not item_id or item_id in self._done:
            return []
        slot = self._slots.get(item_id)
        if slot is None:
            self.expect(item_id, role, agent_id, now)
            slot = self._slots[item_id]
        if slot.text is None:
            slot.text = text.strip()
        return self.release(now)

    def drop(self, item_id: str, now: float) -> list[ReadyTurn]:
        """The item will have no text (failed transcription, cancelled or empty reply)."""
        if item_id in self._slots and self._slots[item_id].text is None:
            del self._slots[item_id]
            self._done.add(item_id)
        return self.release(now)

    def release(self, now: float) -> list[ReadyTurn]:
        """Turns ready to write, oldest first; a head waiting longer than `wait_s` is dropped."""
        ready: list[ReadyTurn] = []
        while self._slots:
            item_id, slot = next(iter(self._slots.items()))
            if slot.text is None and now - slot.opened < self._wait_s:
                break
            del self._slots[item_id]
            self._done.add(item_id)
            if slot.text:
                ready.append(ReadyTurn(item_id, slot.role, slot.agent_id, slot.text, slot.created_at))
        return ready

    def close(self) -> list[ReadyTurn]:
        """At teardown: every turn that has text, in order; items still without text are dropped."""
        return self.release(float("inf"))

    @property
    def pending(self) -> int:
        return len(self._slots)


# --- the writer ---------------------------------------------------------------------------------------


def event_key(upstream_key: str, item_id: str) -> str:
    return f"vl:{upstream_key}:{item_id}"[:128]


class TurnWriter:
    """Queue of turns to record; `on_erased` runs once if the store refuses a write after an erasure."""

    def __init__(
        self,
        *,
        store: MemoryStore | None,
        mirror: MirrorOutbox | None,
        identity: Identity,
        session_id: str,
        opened_at: datetime,
        on_erased: Callable[[], None],
        log_extra: dict[str, str],
    ) -> None:
        self._store = store
        self._mirror = mirror
        self._identity = identity
        self._session_id = session_id
        self._opened_at = opened_at  # the store refuses the writes of a conversation begun before erasure
        self._on_erased = on_erased
        self._log_extra = log_extra
        self._queue: asyncio.Queue[tuple[ReadyTurn, str] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.discarding = False  # erasure: whatever is still queued is skipped

    def start(self, name: str) -> None:
        self._task = asyncio.create_task(self._run(), name=name)

    def put(self, turns: list[ReadyTurn], upstream_key: str) -> None:
        for turn in turns:
            self._queue.put_nowait((turn, event_key(upstream_key, turn.item_id)))

    async def flushed(self, timeout_s: float) -> bool:
        """Until every turn queued so far is written (or skipped); False when `timeout_s` ran out."""
        if self._task is None:
            return True
        return await _within(self._queue.join(), timeout_s)

    async def stop(self, timeout_s: float, *, discard: bool = False) -> bool:
        """Finish (or, on erasure, skip) what is queued and end the task; the one drain of every exit
        path. Idempotent (a stopped writer answers True); logs and answers False when cut off."""
        if discard:
            self.discarding = True
        task, self._task = self._task, None
        if task is None:
            return True
        self._queue.put_nowait(None)
        if await _within(task, timeout_s):
            return True
        if discard:
            log.error("voice transcript write cut off at erasure", extra=self._log_extra)
        else:
            log.error("voice transcripts still pending at close were dropped", extra=self._log_extra)
        return False

    async def _run(self) -> None:
        while (entry := await self._queue.get()) is not None:
            try:
                if self._store is not None and not self.discarding:
                    await self._write(*entry)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    async def _write(self, turn: ReadyTurn, key: str) -> None:
        assert self._store is not None
        new = NewTurn(
            session_id=self._session_id,
            owner_id=self._identity.user_id,
            tenant_id=self._identity.tenant_id,
            role=turn.role,
            content=turn.text,
            agent_id=turn.agent_id,
            channel="voice",
            source_event_id=key,
            created_at=turn.created_at,
            opened_at=self._opened_at,
        )
        try:
            if await self._store.append_turn(new) and self._mirror is not None:
                self._mirror.submit([new])  # Zep, best-effort, in the background
        except OwnerErased:  # erased on another replica: this session must not write again
            log.warning("voice turn refused: the user was erased; ending the session", extra=self._log_extra)
            self.discarding = True
            self._on_erased()
        except EpisodeOwnedByAnother:
            log.warning("voice turn refused: episode owned by another user", extra=self._log_extra)
        except Exception:
            log.exception("voice turn not recorded", extra=self._log_extra)


async def _within(waited: Awaitable[object], timeout_s: float) -> bool:
    """Whether `waited` finished within `timeout_s` (it is cancelled when not)."""
    try:
        await asyncio.wait_for(waited, timeout_s)
    except TimeoutError:
        return False
    return True
