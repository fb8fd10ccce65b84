"""The VoiceLive `session.update` for an agent: voice, spoken instructions with memory, audio settings.

Voices and spoken personas come from the agent catalogue (`app/agents`), never from here.
"""

from __future__ import annotations

from collections.abc import Sequence

from azure.ai.voicelive.models import (
    AudioEchoCancellation,
    AudioInputTranscriptionOptions,
    AudioNoiseReduction,
    AzureSemanticVad,
    AzureStandardVoice,
    InputAudioFormat,
    Modality,
    OutputAudioFormat,
    RequestSession,
)

from app.agents import Agent
from app.voice.params import SAMPLE_RATE_HZ

#: Azure Speech transcribes the user's audio for every realtime model (so user turns exist).
TRANSCRIPTION_MODEL = "azure-speech"
#: Deep noise suppression on the server; the browser's own suppression may be off for quality.
NOISE_REDUCTION = "azure_deep_noise_suppression"
#: Semantic VAD ends a turn on meaning as well as silence; 500 ms keeps answers prompt.
SILENCE_MS = 500
PREFIX_PADDING_MS = 300
MAX_FACT_CHARS = 300


def instructions(agent: Agent, facts: Sequence[str]) -> str:
    """The agent's spoken persona plus what memory knows about the user (facts, not transcripts)."""
    if not facts:
        return agent.spoken_persona
    lines = "\n".join(f"- {fact.strip()[:MAX_FACT_CHARS]}" for fact in facts if fact.strip())
    return (
        f"{agent.spoken_persona}\n\nWhat you remember about this user (use it when relevant, do not "
        f"recite it):\n{lines}"
    )


def session_for(agent: Agent, facts: Sequence[str]) -> RequestSession:
    """The full session configuration; sent at start and again, whole, on an agent switch."""
    return RequestSession(
        modalities=[Modality.TEXT, Modality.AUDIO],
        instructions=instructions(agent, facts),
        voice=AzureStandardVoice(name=agent.voice),
        input_audio_format=InputAudioFormat.PCM16,
        input_audio_sampling_rate=SAMPLE_RATE_HZ,
        output_audio_format=OutputAudioFormat.PCM16,  # 24 kHz
        turn_detection=AzureSemanticVad(
            silence_duration_ms=SILENCE_MS,
            prefix_padding_ms=PREFIX_PADDING_MS,
            create_response=True,
            interrupt_response=True,
        ),
        input_audio_transcription=AudioInputTranscriptionOptions(model=TRANSCRIPTION_MODEL),
        input_audio_noise_reduction=AudioNoiseReduction(type=NOISE_REDUCTION),
        input_audio_echo_cancellation=AudioEchoCancellation(),
    )
