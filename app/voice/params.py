"""Per-connection parameters of the voice bridge, and the named timeouts it uses.

`VoiceParams.from_settings` is the only place settings become bridge behaviour, so a test can build
a bridge with tighter limits without touching the environment.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.settings import Settings

#: Sample rate of PCM16 mono in both directions; the browser captures and plays at this rate.
SAMPLE_RATE_HZ = 24_000
BYTES_PER_SECOND = SAMPLE_RATE_HZ * 2

#: Memory facts are fetched before the upstream session starts; the call is skipped after this long.
FACTS_TIMEOUT_S = 1.5
#: The episode-ownership pre-check is skipped after this long (writes still enforce ownership).
OWNER_CHECK_TIMEOUT_S = 2.0
#: Opening the VoiceLive websocket (token, TLS, upgrade) must finish within this long.
CONNECT_TIMEOUT_S = 15.0
#: Each side's close handshake is bounded so a dead peer cannot stall teardown.
CLOSE_TIMEOUT_S = 3.0
#: After the session ends, pending transcript writes get this long to reach the store.
MEMORY_DRAIN_TIMEOUT_S = 5.0
#: A turn waiting for an earlier item's transcript is written anyway after this long (order kept
#: where possible, never at the price of losing the turn).
TRANSCRIPT_WAIT_S = 10.0
#: Keep-alive pings on the upstream websocket (the browser side is pinged by uvicorn).
UPSTREAM_HEARTBEAT_S = 20.0
#: One attempt to open a replacement VoiceLive session must finish within this long (the first
#: connect gets CONNECT_TIMEOUT_S; a renewal has a user waiting in silence).
RENEWAL_CONNECT_TIMEOUT_S = 4.0
#: Pause before renewal attempt n (0-based) is RENEWAL_BACKOFF_S * 2**(n-1); the first is immediate.
RENEWAL_BACKOFF_S = 0.25
#: Before a renewal reads the episode back, pending transcript writes get this long to land.
RENEWAL_FLUSH_S = 1.0
#: Microphone audio kept while no upstream session is open (then dropped, and counted).
GAP_BUFFER_MS = 3000
#: An upstream that owes an answer (a request sent, a reply under way) and says nothing for this
#: long has stalled: it is replaced like a closed one.
STALL_TIMEOUT_S = 8.0
#: Proactive renewal: from this long before VoiceLive's cap, renew at the first quiet moment ...
PROACTIVE_WINDOW_S = 120.0
#: ... and, if it never gets quiet, this long before the cap regardless.
PROACTIVE_DEADLINE_S = 10.0


class VoiceParams(BaseModel):
    """What one voice connection may do; documented fields, frozen once built."""

    model_config = ConfigDict(frozen=True)

    max_session_seconds: float = Field(
        default=1800,
        gt=0,
        description="The session is closed (code 1000, with an error message) after this long.",
    )
    max_frame_bytes: int = Field(
        default=65_536,
        gt=0,
        description="Largest decoded audio chunk in one browser message; larger is refused.",
    )
    memory_facts: int = Field(
        default=20, ge=0, le=100, description="Memory facts fetched at session start for the instructions."
    )
    facts_timeout_s: float = Field(default=FACTS_TIMEOUT_S, gt=0, description="Budget for the facts lookup.")
    transcript_wait_s: float = Field(
        default=TRANSCRIPT_WAIT_S, gt=0, description="How long a turn waits for an earlier turn's transcript."
    )
    memory_drain_timeout_s: float = Field(
        default=MEMORY_DRAIN_TIMEOUT_S, gt=0, description="How long teardown waits for transcript writes."
    )
    upstream_max_session_s: float = Field(
        default=1800, gt=0, description="VoiceLive's session cap; the upstream is renewed before it."
    )
    proactive_window_s: float = Field(
        default=PROACTIVE_WINDOW_S, ge=0, description="How early before the cap a quiet moment is used."
    )
    proactive_deadline_s: float = Field(
        default=PROACTIVE_DEADLINE_S, ge=0, description="How early before the cap renewal is forced."
    )
    renewal_attempts: int = Field(default=4, ge=1, description="Connect attempts before renewal gives up.")
    renewal_backoff_s: float = Field(default=RENEWAL_BACKOFF_S, ge=0, description="First retry pause.")
    renewal_connect_timeout_s: float = Field(
        default=RENEWAL_CONNECT_TIMEOUT_S, gt=0, description="Budget of one renewal connect."
    )
    stall_timeout_s: float = Field(
        default=STALL_TIMEOUT_S, gt=0, description="Silence from an upstream that owes an answer."
    )
    gap_buffer_ms: int = Field(
        default=GAP_BUFFER_MS, ge=0, description="Microphone audio kept while the upstream is replaced."
    )
    restore_turns: int = Field(default=20, ge=0, description="Turns restored into a new upstream session.")
    restore_tokens: int = Field(default=2000, ge=0, description="Token budget of the restored turns.")
    resume_window_s: float = Field(
        default=900, ge=0, description="A reconnect this soon after the episode's last turn resumes it."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceParams:
        return cls(
            max_session_seconds=settings.voice_max_session_seconds,
            max_frame_bytes=settings.voice_max_frame_bytes,
            upstream_max_session_s=settings.voice_upstream_max_session_seconds,
            renewal_attempts=settings.voice_renewal_attempts,
            restore_turns=settings.voice_restore_turns,
            restore_tokens=settings.voice_restore_tokens,
            resume_window_s=settings.voice_resume_window_seconds,
        )
