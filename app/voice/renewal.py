"""Keeping one voice conversation going across VoiceLive sessions: renewal under a live browser, and
resume when a browser reconnects.

When VoiceLive ends a session under a live browser (a `session_expired` error, a close, a network
error, a stall, or proactive renewal before its duration cap) the bridge's upstream pump calls
`Renewal.renew`: the old session's turns are recorded, a new session gets the same configuration and
the episode's last turns (`history.py`), buffered microphone audio follows (`link.py`), and the
browser gets `session_renewed`; if no session can be had, the ending says so (1013, the only case
counted as a failed session). A browser that reconnects to a recent episode of its own gets the same
restoration at start (`Renewal.resume`). Memory reads here are best-effort and bounded in time: a slow
store costs the restored context, never the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from app.agents import Agent
from app.memory.store import MemoryStore
from app.observability import metrics
from app.voice import protocol
from app.voice.history import Restored, restore_items
from app.voice.link import ConnectFailed, LossReason, UpstreamLink, UpstreamLost
from app.voice.params import RENEWAL_FLUSH_S, VoiceParams
from app.voice.session_config import session_for
from app.voice.teardown import RENEWAL_FAILED, Ending
from app.voice.transcripts import TurnWriter

log = logging.getLogger("engram.voice")

NOTHING_RESTORED = Restored((), False)


class Conversation(Protocol):
    """The bridge's side of a renewal: the conversation state the new session is configured from."""

    facts: list[str]

    @property
    def agent(self) -> Agent: ...

    def close_conversation(self) -> list[str]:
        """Record what the ending session said; the texts of answers cut off (final now)."""
        ...

    def adopt_pending_switch(self) -> Agent | None:
        """Make an agent switch still awaiting its `session.updated` current; the agent, if any."""
        ...


def configuration(agent: Agent, facts: list[str], history: Restored) -> list[dict[str, Any]]:
    """What a new VoiceLive session is told first: the session, the conversation so far, and a
    request for the answer when the conversation ends on an unanswered user turn."""
    session = session_for(agent, facts).as_dict()
    events: list[dict[str, Any]] = [{"type": "session.update", "session": session}]
    events.extend(history.items)
    if history.ends_with_user:
        events.append({"type": "response.create"})
    return events


@dataclass(frozen=True, kw_only=True, slots=True)
class Renewal:
    """One connection's memory reads for a new VoiceLive session, and the renewal itself."""

    conversation: Conversation
    link: UpstreamLink
    params: VoiceParams
    store: MemoryStore | None
    writer: TurnWriter
    user_id: str
    session_id: str
    send: Callable[[str], Awaitable[None]]  # to the browser
    settle: Callable[[], Awaitable[None]] | None  # an earlier connection on the episode has written
    connection_id: str

    @property
    def _log_extra(self) -> dict[str, str]:
        return {"connection_id": self.connection_id}

    async def renew(self, reason: LossReason, close_code: int | None, depth: int = 0) -> Ending | None:
        """Replace the lost VoiceLive session under the live browser; None when the conversation goes
        on, else how the session ends (renewal gave up: the only case counted as a failed session)."""
        started = time.monotonic()
        link, conversation = self.link, self.conversation
        link.begin_gap()
        # Expiry and proactive renewal are routine (every session reaches the cap); the rest is news.
        level = logging.INFO if reason in ("expired", "proactive") else logging.WARNING
        log.log(
            level, "voicelive session lost (%s, code %s); renewing", reason, close_code, extra=self._log_extra
        )
        for text in conversation.close_conversation():  # the browser's line for a cut-off answer is final now
            await self.send(protocol.transcription("assistant", "complete", text))
        switched = conversation.adopt_pending_switch()  # the renewed session is configured for it
        if switched is not None:
            await self.send(protocol.agent_switched(switched.id))
        connecting = asyncio.create_task(link.reconnect(), name=f"voice-renew-{self.connection_id}")
        adopted = False
        try:
            history = await self._history(flush=True)
            conn = await connecting
            configured = conversation.agent
            await link.end_gap(
                conn, configuration(configured, conversation.facts, history or NOTHING_RESTORED)
            )
            adopted = True
        except ConnectFailed as exc:
            metrics.voice_renewal(reason, "gave_up")
            metrics.voice_gap_frames(link.buffered, link.dropped)
            log.error("voicelive renewal gave up: %s", exc, extra=self._log_extra)
            if exc.refused:
                message = f"the voice service refused the app's credentials (HTTP {exc.status})"
                return Ending(protocol.CLOSE_BAD_GATEWAY, message, "renewal_failed")
            return RENEWAL_FAILED
        except UpstreamLost as lost:  # the new session failed while being configured
            if depth + 1 >= self.params.renewal_attempts:
                metrics.voice_renewal(reason, "gave_up")
                return RENEWAL_FAILED
            return await self.renew(lost.reason, None, depth + 1)
        finally:
            if not connecting.done():
                connecting.cancel()
            elif not adopted and not connecting.cancelled() and connecting.exception() is None:
                link.close_aside(connecting.result())  # opened, then the renewal was cut short
        if conversation.agent is not configured:  # switched during the gap, after the configuration was built
            session = session_for(conversation.agent, conversation.facts).as_dict()
            await link.send({"type": "session.update", "session": session}, owed=True)
        gap_ms = (time.monotonic() - started) * 1000
        metrics.voice_renewal(reason, "renewed", gap_ms)
        metrics.voice_gap_frames(link.buffered, link.dropped)
        log.info(
            "voicelive session renewed in %.0f ms (%d frames kept, %d dropped)",
            gap_ms,
            link.buffered,
            link.dropped,
            extra=self._log_extra,
        )
        await self.send(protocol.session_renewed())
        return None

    async def resume(self, owner_confirmed: bool) -> Restored | None:
        """A reconnect to this user's episode whose last turn is recent: the conversation to restore."""
        if not owner_confirmed or self.params.resume_window_s <= 0:
            return None
        if self.settle is not None:
            await self.settle()  # an earlier connection on this episode has written its turns
        return await self._history(flush=False, window_s=self.params.resume_window_s)

    async def _history(self, *, flush: bool, window_s: float | None = None) -> Restored | None:
        """The episode's last turns as conversation items (bounded in time; None when unavailable).
        Only asked for once the caller's ownership of the episode is confirmed."""
        params = self.params
        if self.store is None or params.restore_turns == 0:
            return None
        if flush and not await self.writer.flushed(RENEWAL_FLUSH_S):
            log.warning(
                "renewal: transcripts still being written; restoring without them", extra=self._log_extra
            )
        try:
            async with asyncio.timeout(params.facts_timeout_s):
                turns = await self.store.recent_turns(self.session_id, params.restore_turns)
        except TimeoutError:
            log.warning("conversation not restored: the episode read timed out", extra=self._log_extra)
            return None
        except Exception:
            log.exception("conversation not restored", extra=self._log_extra)
            return None
        if not turns:
            return None
        if window_s is not None:
            last = turns[-1].timestamp
            last = last if last.tzinfo else last.replace(tzinfo=UTC)
            if (datetime.now(UTC) - last).total_seconds() > window_s:
                return None
        return restore_items(
            turns,
            max_turns=params.restore_turns,
            budget_tokens=params.restore_tokens,
            speaking_agent=self.conversation.agent.id,
        )

    async def facts(self) -> list[str]:
        """Up to N memory facts for the instructions; best-effort within a short budget."""
        if self.store is None or self.params.memory_facts == 0:
            return []
        try:
            async with asyncio.timeout(self.params.facts_timeout_s):
                facts = await self.store.search_facts(self.user_id, "", self.params.memory_facts)
        except TimeoutError:
            log.warning("memory facts skipped: timed out", extra=self._log_extra)
            return []
        except Exception:
            log.exception("memory facts skipped", extra=self._log_extra)
            return []
        return [fact.text for fact in facts]
