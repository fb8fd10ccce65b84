"""Which transcript turns to write, once each and in conversation order.

VoiceLive reports a conversation item before its text: the user's item when their speech is
committed, and its transcript later (often after the assistant has begun answering); the assistant's
item when the response adds it, and its text when done. The ledger reserves a slot when an item
appears and releases turns from the head only, so memory reads user, assistant, user... even when
the events arrive out of order. Each item id is released at most once; a slot whose text never comes
(failed transcription, cancelled reply) is dropped, and a head that waits longer than `wait_s` is
skipped so later turns are never lost.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from app.memory.store import Role


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
