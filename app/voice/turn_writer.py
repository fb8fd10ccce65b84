"""Voice transcripts to memory: one task per connection writes the ledger's turns in order, off the
audio path (SQL with its Zep outbox row; the outbox worker mirrors it).

Each turn carries its idempotency key, fixed when it was queued: `vl:<upstream key>:<item id>`, where
the upstream key names the VoiceLive session the item came from (item ids are unique only within one
upstream session, and a connection may hold several after renewals). So a turn is written at most once
and a renewed session's reused item ids never collide with the old session's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from app.memory.outbox import MirrorOutbox
from app.memory.store import EpisodeOwnedByAnother, MemoryStore, NewTurn, OwnerErased
from app.security.identity import Identity
from app.voice.transcripts import ReadyTurn

log = logging.getLogger("engram.voice")


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
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout_s: float, *, discard: bool = False) -> bool:
        """Finish (or, on erasure, skip) what is queued and end the task; False when cut off."""
        if discard:
            self.discarding = True
        task, self._task = self._task, None
        if task is None:
            return True
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(task, timeout_s)
        except TimeoutError:
            return False
        return True

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
