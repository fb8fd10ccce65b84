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

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceParams:
        return cls(
            max_session_seconds=settings.voice_max_session_seconds,
            max_frame_bytes=settings.voice_max_frame_bytes,
        )
