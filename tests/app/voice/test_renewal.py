"""Faults injected through the VoiceLive double and the browser leg: the relay renews a lost VoiceLive
session under a live browser, and a browser that reconnects resumes its conversation.

Checked each time: the conversation items the new upstream session receives (and their order with the
configuration and buffered audio), the messages the client sees, the turns read back from the episode
(exactly once each, even when the new session reuses item ids), and the counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.agents import get_agent
from app.observability import signals
from app.voice.params import VoiceParams
from tests.app.voice.harness import PCM_40MS, WAIT_S, VoiceEnv, b64, double_env, eventually, kinds
from tests.doubles.voicelive_server import DoubleSession
from tests.telemetry import Sink

RENEWALS = signals.VOICE_RENEWALS.name
ERRORS = signals.VOICE_SESSION_ERRORS.name
#: Tight limits so a fault plays out in well under a second.
FAST = {"renewal_backoff_s": 0.05, "stall_timeout_s": 0.6, "renewal_connect_timeout_s": 2.0}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[VoiceEnv]:
    async with double_env(tmp_path) as env:
        env.app.state.voice.params = VoiceParams(**FAST)
        yield env


async def turns(env: VoiceEnv, session_id: str = "sess-1") -> list[tuple[str, str]]:
    await env.idle()
    return [(t["role"], t["content"]) for t in (await env.episode(session_id))["transcript"]]


async def first_turn(
    upstream: DoubleSession, question: str, answer: str, user: str = "u1", bot: str = "a1"
) -> None:
    await upstream.speech_started(user)
    await upstream.speech_stopped(user)
    await upstream.transcription(user, question)
    await upstream.reply(bot, answer)


async def test_close_after_the_first_turn_renews_with_the_conversation(env: VoiceEnv, sink: Sink) -> None:
    renewed = sink.value(RENEWALS, reason="closed", outcome="renewed")
    gaps = sink.value(signals.VOICE_RENEWAL_GAP.name, reason="closed")
    failed = sink.value(ERRORS, reason="renewal_failed")
    async with env.talking() as (client, old):
        await first_turn(old, "My budget is forty thousand.", "Noted: forty thousand.")
        await client.until("transcription", speaker="assistant", status="complete")
        await old.disconnect(1011, "service deployment")
        got = await client.until("session_renewed")
        new = await env.double.session(1)
        await new.wait_for("conversation.item.create", count=2)
        # The new session reuses the old one's item ids: both turns must still be kept.
        await first_turn(new, "And the deadline?", "Friday.")
        got += await client.until("transcription", speaker="assistant", status="complete")
    assert "error" not in kinds(got)
    assert kinds(got)[0] == "session_renewed"
    elena = get_agent(env.settings, "elena")
    assert new.session_updates[0]["voice"]["name"] == elena.voice
    assert new.session_updates[0]["instructions"].startswith(elena.spoken_persona)
    assert new.items_created() == [
        ("user", "My budget is forty thousand."),
        ("assistant", "Noted: forty thousand."),
    ]
    assert [e["type"] for e in new.received[:3]] == ["session.update", "conversation.item.create"] * 1 + [
        "conversation.item.create"
    ]
    assert new.of_type("response.create") == []  # the conversation ended on an answer: nothing owed
    created = new.of_type("conversation.item.create")
    assert created[0]["item"]["content"] == [{"type": "input_text", "text": "My budget is forty thousand."}]
    assert created[1]["item"]["content"] == [{"type": "text", "text": "Noted: forty thousand."}]
    assert await turns(env) == [
        ("user", "My budget is forty thousand."),
        ("assistant", "Noted: forty thousand."),
        ("user", "And the deadline?"),
        ("assistant", "Friday."),
    ]
    assert sink.value(RENEWALS, reason="closed", outcome="renewed") == renewed + 1
    assert sink.value(signals.VOICE_RENEWAL_GAP.name, reason="closed") == gaps + 1
    assert sink.value(ERRORS, reason="renewal_failed") == failed


async def test_session_expired_renews_at_once_without_an_error(env: VoiceEnv, sink: Sink) -> None:
    renewed = sink.value(RENEWALS, reason="expired", outcome="renewed")
    async with env.talking() as (client, old):
        await first_turn(old, "Remember the Q3 plan.", "I will.")
        await client.until("transcription", speaker="assistant", status="complete")
        await old.expire()
        got = await client.until("session_renewed")
        new = await env.double.session(1)
        await new.wait_for("conversation.item.create", count=2)
    assert "error" not in kinds(got)  # the session_expired error is the relay's business, not the user's
    assert new.items_created() == [("user", "Remember the Q3 plan."), ("assistant", "I will.")]
    assert sink.value(RENEWALS, reason="expired", outcome="renewed") == renewed + 1
    assert await turns(env) == [("user", "Remember the Q3 plan."), ("assistant", "I will.")]


async def test_refused_once_retries_and_the_gap_audio_is_kept_up_to_its_bound(
    env: VoiceEnv, sink: Sink
) -> None:
    env.app.state.voice.params = VoiceParams(**{**FAST, "renewal_backoff_s": 0.5, "gap_buffer_ms": 80})
    dropped = sink.value(signals.VOICE_GAP_FRAMES.name, outcome="dropped")
    buffered = sink.value(signals.VOICE_GAP_FRAMES.name, outcome="buffered")
    frames = [b64(bytes([n]) * len(PCM_40MS)) for n in (1, 2, 3)]
    async with env.talking() as (client, old):
        env.double.refuse_next = 1
        await old.disconnect()
        await eventually(lambda: bool(env.double.refused))  # the first attempt failed: the gap is on
        for frame in frames:  # 120 ms of audio against an 80 ms bound
            await client.send(type="audio", data=frame)
        await client.until("session_renewed")
        new = await env.double.session(1)
        await new.wait_for("input_audio_buffer.append", count=2)
        await client.audio()  # live audio flows again, after the kept frames
        await new.wait_for("input_audio_buffer.append", count=3)
    assert env.double.refused == ["unavailable (fault injected)"]
    appended = [e["audio"] for e in new.of_type("input_audio_buffer.append")]
    assert appended == [frames[0], frames[1], b64(PCM_40MS)]  # kept in order; the third was dropped
    assert new.received[0]["type"] == "session.update"  # configuration before any audio
    assert sink.value(signals.VOICE_GAP_FRAMES.name, outcome="buffered") == buffered + 2
    assert sink.value(signals.VOICE_GAP_FRAMES.name, outcome="dropped") == dropped + 1
    assert old.of_type("input_audio_buffer.append") == []  # nothing went to the closed session


async def test_a_stalled_session_is_replaced_and_the_unanswered_question_is_asked_again(
    env: VoiceEnv, sink: Sink
) -> None:
    stalled = sink.value(RENEWALS, reason="stalled", outcome="renewed")
    async with env.talking() as (client, old):
        old.stall()  # open, answering pings, saying nothing
        await client.send(type="text", content="What is on my agenda?")
        got = await client.until("session_renewed")
        new = await env.double.session(1)
        await new.wait_for("response.create")
        rid = await new.start_response("a9")
        await new.transcript_done(rid, "a9", "Two meetings.")
        got += await client.until("transcription", speaker="assistant", status="complete")
    assert "error" not in kinds(got)
    assert new.items_created() == [("user", "What is on my agenda?")]
    assert [e["type"] for e in new.received[-2:]] == ["conversation.item.create", "response.create"]
    assert sink.value(RENEWALS, reason="stalled", outcome="renewed") == stalled + 1
    await asyncio.wait_for(old.closed.wait(), WAIT_S)
    assert await turns(env) == [("user", "What is on my agenda?"), ("assistant", "Two meetings.")]


async def test_renewal_gives_up_with_an_error_and_try_again(env: VoiceEnv, sink: Sink) -> None:
    gave_up = sink.value(RENEWALS, reason="closed", outcome="gave_up")
    failed = sink.value(ERRORS, reason="renewal_failed")
    async with env.talking() as (client, old):
        await first_turn(old, "before the outage", "noted")
        await client.until("transcription", speaker="assistant", status="complete")
        env.double.refuse_all = True
        await old.disconnect()
        code, got = await client.closed()
    assert code == 1013  # Try Again Later: the UI reconnects with the same session id
    assert got[-1] == {
        "type": "error",
        "message": "the voice service is unavailable right now; reconnect to continue the conversation",
    }
    assert len(env.double.refused) == FAST.get("renewal_attempts", 4)
    assert sink.value(RENEWALS, reason="closed", outcome="gave_up") == gave_up + 1
    assert sink.value(ERRORS, reason="renewal_failed") == failed + 1  # the only failed-session count
    assert await turns(env) == [("user", "before the outage"), ("assistant", "noted")]


async def test_proactive_renewal_before_the_duration_cap_at_a_quiet_moment(env: VoiceEnv, sink: Sink) -> None:
    env.app.state.voice.params = VoiceParams(
        **FAST, upstream_max_session_s=1.2, proactive_window_s=1.0, proactive_deadline_s=0.1
    )
    proactive = sink.value(RENEWALS, reason="proactive", outcome="renewed")
    async with env.talking() as (client, old):
        await first_turn(old, "Keep this in mind.", "Sure.")
        got = await client.until("session_renewed")
        new = await env.double.session(1)
        await new.wait_for("conversation.item.create", count=2)
    assert "error" not in kinds(got)
    assert new.items_created() == [("user", "Keep this in mind."), ("assistant", "Sure.")]
    assert sink.value(RENEWALS, reason="proactive", outcome="renewed") == proactive + 1
    await asyncio.wait_for(old.closed.wait(), WAIT_S)  # the relay closed the old one itself


async def test_an_agent_switch_pending_at_the_loss_configures_the_renewed_session(env: VoiceEnv) -> None:
    env.double.unavailable_voices.add("none")  # the double answers every switch; the loss comes first
    async with env.talking() as (client, old):
        old.stall()
        await client.send(type="agent", agent_id="marcus")
        got = await client.until("session_renewed")
        new = await env.double.session(1)
        await new.wait_for("session.update")
    assert {"type": "agent_switched", "agent_id": "marcus"} in got
    assert new.session_updates[0]["voice"]["name"] == get_agent(env.settings, "marcus").voice


async def test_an_agent_switch_during_the_gap_configures_the_renewed_session(env: VoiceEnv) -> None:
    env.app.state.voice.params = VoiceParams(**{**FAST, "renewal_backoff_s": 0.5})
    async with env.talking() as (client, old):
        env.double.refuse_next = 1
        await old.disconnect()
        await eventually(lambda: bool(env.double.refused))  # in the gap: no session to update
        await client.send(type="agent", agent_id="marcus")
        switched = await client.until("agent_switched")
        await client.until("session_renewed")
        new = await env.double.session(1)
        await new.wait_for("session.update")
    assert switched[-1] == {"type": "agent_switched", "agent_id": "marcus"}
    assert new.session_updates[0]["voice"]["name"] == get_agent(env.settings, "marcus").voice
    assert old.session_updates[-1]["voice"]["name"] == get_agent(env.settings, "elena").voice


# --- the browser leg ----------------------------------------------------------------------------------


async def test_a_dropped_browser_reconnects_and_resumes_the_conversation(env: VoiceEnv, sink: Sink) -> None:
    resumed = sink.value(signals.VOICE_RESUMES.name)
    async with env.talking() as (client, old):
        await old.speech_stopped("u1")
        await old.transcription("u1", "Plan the offsite for me.")
        rid = await old.start_response("a1")
        await old.audio_delta(rid, "a1", b"\x01\x00" * 2400)
        await old.transcript_delta(rid, "a1", "First, pick a date")
        await client.until("transcription", speaker="assistant", status="processing")
        # the browser's network goes: the socket drops mid-answer
    await asyncio.wait_for(old.closed.wait(), WAIT_S)
    async with env.client() as again:
        got = await again.until("session_resumed")
        new = await env.double.session(1)
        await new.wait_for("conversation.item.create", count=2)
        await first_turn(new, "Which date?", "The 14th.")
        await again.until("transcription", speaker="assistant", status="complete")
    assert kinds(got) == ["agent_switched", "session_resumed"]
    assert got[-1] == {"type": "session_resumed", "turns": 2}
    # The answer cut off by the drop is part of the conversation as far as it got.
    assert new.items_created() == [("user", "Plan the offsite for me."), ("assistant", "First, pick a date")]
    assert await turns(env) == [
        ("user", "Plan the offsite for me."),
        ("assistant", "First, pick a date"),
        ("user", "Which date?"),
        ("assistant", "The 14th."),
    ]
    assert sink.value(signals.VOICE_RESUMES.name) == resumed + 1


async def test_a_reconnect_after_the_resume_window_starts_fresh(env: VoiceEnv) -> None:
    env.app.state.voice.params = VoiceParams(**FAST, resume_window_s=0)
    async with env.client() as client:
        await client.until("agent_switched")
        await first_turn(await env.double.session(), "an old question", "an old answer")
        await client.until("transcription", speaker="assistant", status="complete")
    async with env.client() as again:
        await again.until("agent_switched")
        new = await env.double.session(1)
        await again.send(type="agent", agent_id="elena")  # a marker: the next message we expect
        got = await again.until("agent_switched")
    assert "session_resumed" not in kinds(got)
    assert new.items_created() == []


async def test_another_users_reconnect_never_resumes_their_conversation(env: VoiceEnv) -> None:
    async with env.client("shared-id") as client:
        await client.until("agent_switched")
        await first_turn(await env.double.session(), "private question", "private answer")
        await client.until("transcription", speaker="assistant", status="complete")
    await env.idle()
    async with env.client("shared-id", token="dev_bob_user") as other:
        code, _ = await other.closed()
    assert code == 1008
    assert len(env.double.sessions) == 1
