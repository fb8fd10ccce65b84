"""Process-wide voice state: the upstream connector, the session limit, the live sessions by user."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from app.agents import Agent, catalogue, get_agent
from app.observability import metrics
from app.settings import Settings
from app.voice.bridge import VoiceBridge
from app.voice.params import VoiceParams
from app.voice.recording import Recordings
from app.voice.teardown import ERASED
from app.voice.upstream import VoiceLiveUpstream

#: How long an erasure waits for the user's sessions here to tear down (each close is bounded too).
CLOSE_USER_TIMEOUT_S = 10.0
#: How long a reconnect waits for the dropped connection on the same episode to finish writing its
#: turns before it reads the episode back (the old one's teardown is bounded by the same order).
SETTLE_TIMEOUT_S = 3.0


class VoiceService:
    def __init__(self, settings: Settings, recordings: Recordings | None = None) -> None:
        self.settings = settings
        self.recordings = recordings  # consented recordings (None: the bridge never records)
        self.upstream = VoiceLiveUpstream(settings)
        self.params = VoiceParams.from_settings(settings)
        self.max_sessions = settings.voice_max_sessions
        self.active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._live: dict[str, set[VoiceBridge]] = {}  # user id -> their open sessions here

    def try_acquire(self) -> bool:
        """Take a session slot; False at the limit. One event loop per process: no lock needed."""
        if self.active >= self.max_sessions:
            return False
        self.active += 1
        self._idle.clear()
        metrics.voice_sessions_active(1)
        return True

    def release(self) -> None:
        self.active -= 1
        metrics.voice_sessions_active(-1)
        if self.active == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Until no session is open (each has torn down and written its transcripts)."""
        await self._idle.wait()

    @contextlib.contextmanager
    def live(self, user_id: str, bridge: VoiceBridge) -> Iterator[None]:
        """Track `bridge` as one of `user_id`'s open sessions while the block runs."""
        self._live.setdefault(user_id, set()).add(bridge)
        try:
            yield
        finally:
            sessions = self._live.get(user_id, set())
            sessions.discard(bridge)
            if not sessions:
                self._live.pop(user_id, None)

    async def settle(self, bridge: VoiceBridge) -> None:
        """Until the user's other connections on `bridge`'s episode in this process have torn down
        (bounded), so a resumed session reads back every turn they wrote."""
        earlier = [
            other
            for other in self._live.get(bridge.user_id, ())
            if other is not bridge and other.session_id == bridge.session_id
        ]
        if earlier:
            waits = [asyncio.create_task(other.wait_closed()) for other in earlier]
            _, late = await asyncio.wait(waits, timeout=SETTLE_TIMEOUT_S)
            for task in late:
                task.cancel()

    async def close_user(self, user_id: str) -> int:
        """End the user's sessions in this process (erasure): close code 4410, unwritten transcripts
        dropped. Returns once they have torn down (bounded); how many there were."""
        bridges = list(self._live.get(user_id, ()))
        for bridge in bridges:
            bridge.end(ERASED)
        if bridges:
            waits = [asyncio.create_task(bridge.wait_closed()) for bridge in bridges]
            _, late = await asyncio.wait(waits, timeout=CLOSE_USER_TIMEOUT_S)
            for task in late:  # the store's erasure marker still refuses their writes
                task.cancel()
        return len(bridges)

    def agent(self, agent_id: str) -> Agent:
        """The catalogue agent, or `AgentNotFound` naming the ids that exist."""
        return get_agent(self.settings, agent_id)

    def agents(self) -> tuple[Agent, ...]:
        return catalogue(self.settings)

    async def aclose(self) -> None:
        await self.upstream.aclose()
        if self.recordings is not None:
            await self.recordings.aclose()
