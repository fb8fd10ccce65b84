"""The voice websocket end to end: a real websocket client -> the app under uvicorn -> the real
azure-ai-voicelive SDK -> the local VoiceLive double, with transcripts landing in the SQL store.

Checked: the session.update the service sends; audio relayed untouched; the ordered client messages
for a scripted conversation; transcripts written once each, in order, channel voice; barge-in;
agent switch; every failure case (bad input, upstream error, client disconnect,
not configured, capacity, session length, auth, origin, ownership, connect failure). An upstream
that ends mid-session is renewed: tests/app/voice/test_renewal.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from app.agents import get_agent
from app.memory.store import NewTurn
from app.voice.params import VoiceParams
from tests.app.voice.harness import PCM_40MS, WAIT_S, VoiceEnv, b64, double_env, kinds, voice_env
from tests.conftest import make_settings


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[VoiceEnv]:
    async with double_env(
        tmp_path, azure_voicelive_api_version="2025-10-01", azure_voicelive_model="gpt-realtime"
    ) as env:
        yield env


async def turns(env: VoiceEnv, session_id: str = "sess-1") -> list[tuple[str, str, str, str]]:
    """The episode's turns as `GET /api/v1/memory/episodes/{id}` shows them, once the session is over."""
    await env.idle()
    episode = await env.episode(session_id)
    return [
        (t["role"], t["content"], t["metadata"]["agent_id"], t["metadata"]["channel"])
        for t in episode["transcript"]
    ]


# --- session set-up ------------------------------------------------------------------------------


async def test_session_update_carries_voice_memory_audio_and_transcription(env: VoiceEnv) -> None:
    await env.store.add_fact("poc-user", "The user is preparing the Q3 steering committee.")
    async with env.client() as client:
        assert await client.recv() == {"type": "agent_switched", "agent_id": "elena"}
        upstream = await env.double.session()
    elena = get_agent(env.settings, "elena")
    assert upstream.query["api-version"] == "2025-10-01"
    assert upstream.query["model"] == "gpt-realtime"
    assert upstream.headers["api-key"] == env.double.api_key
    session = upstream.session_updates[0]
    assert session["voice"] == {"type": "azure-standard", "name": elena.voice}
    assert session["instructions"].startswith(elena.spoken_persona)
    assert "Q3 steering committee" in session["instructions"]
    assert session["modalities"] == ["text", "audio"]
    assert session["input_audio_format"] == "pcm16"
    assert session["input_audio_sampling_rate"] == 24_000
    assert session["output_audio_format"] == "pcm16"
    assert session["turn_detection"]["type"] == "azure_semantic_vad"
    assert session["input_audio_transcription"]["model"]
    assert session["input_audio_noise_reduction"]["type"] == "azure_deep_noise_suppression"
    assert session["input_audio_echo_cancellation"]["type"] == "server_echo_cancellation"


async def test_initial_agent_from_query(env: VoiceEnv) -> None:
    async with env.client(query="?agent=marcus") as client:
        assert await client.recv() == {"type": "agent_switched", "agent_id": "marcus"}
    upstream = await env.double.session()
    assert upstream.session_updates[0]["voice"]["name"] == get_agent(env.settings, "marcus").voice


async def test_audio_is_forwarded_untouched(env: VoiceEnv) -> None:
    frame = b64(PCM_40MS)
    async with env.client() as client:
        await client.until("agent_switched")
        await client.send(type="audio", data=frame)
        upstream = await env.double.session()
        append = await upstream.wait_for("input_audio_buffer.append")
    assert append == {"type": "input_audio_buffer.append", "audio": frame}


# --- a conversation --------------------------------------------------------------------------------


async def test_conversation_messages_and_turns_in_order(env: VoiceEnv) -> None:
    async with env.talking() as (client, upstream):
        await upstream.speech_started("u1")
        await upstream.speech_stopped("u1")
        # The answer completes before the user's transcript arrives, as it often does for real.
        await upstream.reply("a1", "Happy to help with the plan.")
        await upstream.transcription("u1", "Can you help me plan the launch?")
        got = await client.until("transcription", speaker="user", status="complete")
    assert kinds(got) == [
        "transcription:user:listening",
        "transcription:user:processing",
        "audio",
        "transcription:assistant:processing",
        "transcription:assistant:complete",
        "transcription:user:complete",
    ]
    assert got[2]["format"] == "audio/pcm16" and got[2]["data"] == b64(b"\x01\x00" * 480)
    assert got[3]["text"] == got[3]["delta"] == "Happy to help with the plan."
    assert got[-1]["text"] == "Can you help me plan the launch?"
    assert await turns(env) == [
        ("user", "Can you help me plan the launch?", "elena", "voice"),
        ("assistant", "Happy to help with the plan.", "elena", "voice"),
    ]


async def test_assistant_processing_carries_the_text_so_far_and_the_delta(env: VoiceEnv) -> None:
    async with env.talking() as (client, upstream):
        rid = await upstream.start_response("a1")
        await upstream.transcript_delta(rid, "a1", "Happy ")
        await upstream.transcript_delta(rid, "a1", "to help.")
        await upstream.transcript_done(rid, "a1", "Happy to help.")
        got = await client.until("transcription", speaker="assistant", status="complete")
    processing = [m for m in got if m.get("status") == "processing"]
    assert [(m["text"], m["delta"]) for m in processing] == [
        ("Happy ", "Happy "),
        ("Happy to help.", "to help."),
    ]


async def test_two_connections_on_one_session_keep_every_turn(env: VoiceEnv) -> None:
    """The upstream reuses item ids across its sessions: both connections' turns are kept."""
    for index, words in enumerate(("first", "second")):
        async with env.talking("sess-twice", upstream=index) as (client, upstream):
            await upstream.speech_stopped("item_1")
            await upstream.transcription("item_1", f"{words} question")
            await upstream.reply("item_2", f"{words} answer")
            await client.until("transcription", speaker="assistant", status="complete")
        await env.idle()
    assert await turns(env, "sess-twice") == [
        ("user", "first question", "elena", "voice"),
        ("assistant", "first answer", "elena", "voice"),
        ("user", "second question", "elena", "voice"),
        ("assistant", "second answer", "elena", "voice"),
    ]


async def test_each_item_is_recorded_once(env: VoiceEnv) -> None:
    async with env.talking() as (client, upstream):
        await upstream.speech_stopped("u1")
        await upstream.transcription("u1", "hello")
        await upstream.transcription("u1", "hello again")  # a repeated event for the same item
        rid = await upstream.start_response("a1")
        await upstream.text_done(rid, "a1", "Text answer.")
        await upstream.transcript_done(rid, "a1", "Spoken answer.")
        await upstream.response_done(rid, "a1", "Spoken answer.")
        await upstream.speech_stopped("u2")
        await upstream.transcription("u2", "thanks")
        got = await client.until("transcription", speaker="user", status="complete", text="thanks")
    assert kinds(got).count("transcription:assistant:complete") == 1
    assert await turns(env) == [
        ("user", "hello", "elena", "voice"),
        ("assistant", "Text answer.", "elena", "voice"),
        ("user", "thanks", "elena", "voice"),
    ]


async def test_response_done_is_the_last_fallback(env: VoiceEnv) -> None:
    async with env.talking() as (client, upstream):
        rid = await upstream.start_response("a1")
        await upstream.response_done(rid, "a1", "Only in response.done.")
        got = await client.until("transcription", speaker="assistant", status="complete")
    assert got[-1]["text"] == "Only in response.done."
    assert await turns(env) == [("assistant", "Only in response.done.", "elena", "voice")]


async def test_failed_transcription_does_not_hold_back_later_turns(env: VoiceEnv) -> None:
    async with env.talking() as (client, upstream):
        await upstream.speech_stopped("u1")
        await upstream.reply("a1", "Could you repeat that?")
        await upstream.transcription_failed("u1")
        await client.until("transcription", speaker="assistant", status="complete")
    assert await turns(env) == [("assistant", "Could you repeat that?", "elena", "voice")]


async def test_voice_turns_join_the_chat_episode(env: VoiceEnv) -> None:
    await env.store.append_turn(
        NewTurn("sess-1", "poc-user", None, "user", "typed in chat", "elena", "chat", source_event_id="c1")
    )
    async with env.talking() as (client, upstream):
        await upstream.speech_stopped("u1")
        await upstream.transcription("u1", "now by voice")
        await client.until("transcription", speaker="user", status="complete")
    assert await turns(env) == [
        ("user", "typed in chat", "elena", "chat"),
        ("user", "now by voice", "elena", "voice"),
    ]
    assert set((await env.episode("sess-1"))["channels"]) == {"chat", "voice"}


async def test_typed_text_becomes_a_user_item_and_a_response(env: VoiceEnv) -> None:
    async with env.client() as client:
        await client.until("agent_switched")
        await client.send(type="text", content="What is on my agenda?")
        upstream = await env.double.session()
        created = await upstream.wait_for("conversation.item.create")
        await upstream.wait_for("response.create")
    assert created["item"]["role"] == "user"
    assert created["item"]["content"] == [{"type": "input_text", "text": "What is on my agenda?"}]
    assert await turns(env) == [("user", "What is on my agenda?", "elena", "voice")]


# --- barge-in and cancel ---------------------------------------------------------------------------


async def test_barge_in_stops_playback_cancels_and_truncates(env: VoiceEnv) -> None:
    async with env.talking() as (client, upstream):
        rid = await upstream.start_response("a1")
        await upstream.audio_delta(rid, "a1", b"\x00\x01" * 24_000)  # one second of audio
        await client.until("audio")
        await upstream.speech_started("u2")
        got = await client.until("transcription", speaker="user", status="listening")
        cancel = await upstream.wait_for("response.cancel")
        truncate = await upstream.wait_for("conversation.item.truncate")
    assert kinds(got) == ["stop_playback", "transcription:user:listening"]
    assert cancel["type"] == "response.cancel"
    assert truncate["item_id"] == "a1" and truncate["content_index"] == 0
    assert 0 <= truncate["audio_end_ms"] <= 1000


async def test_cancel_without_a_reply_is_quiet(env: VoiceEnv) -> None:
    async with env.client() as client:
        await client.until("agent_switched")
        await client.send(type="cancel")
        await client.send(type="agent", agent_id="elena")  # a marker: the next message we expect
        got = await client.until("agent_switched")
    assert kinds(got) == ["agent_switched"]


# --- agent switch ----------------------------------------------------------------------------------


async def test_agent_switch_changes_voice_and_keeps_memory(env: VoiceEnv) -> None:
    await env.store.add_fact("poc-user", "Prefers morning meetings.")
    async with env.client() as client:
        await client.until("agent_switched")
        await client.send(type="agent", agent_id="Marcus")
        assert await client.recv() == {"type": "agent_switched", "agent_id": "marcus"}
        upstream = await env.double.session()
        await upstream.reply("a1", "Marcus here.")
        await client.until("transcription", speaker="assistant", status="complete")
    marcus = get_agent(env.settings, "marcus")
    first, second = upstream.session_updates
    assert second["voice"]["name"] == marcus.voice != first["voice"]["name"]
    assert second["instructions"].startswith(marcus.spoken_persona)
    assert "Prefers morning meetings." in second["instructions"]
    assert len(env.double.sessions) == 1  # same upstream session, so the conversation goes on
    assert await turns(env) == [("assistant", "Marcus here.", "marcus", "voice")]


async def test_unknown_agent_is_an_error_and_the_session_goes_on(env: VoiceEnv) -> None:
    async with env.client() as client:
        await client.until("agent_switched")
        await client.send(type="agent", agent_id="zed")
        error = await client.recv()
        await client.audio()
        upstream = await env.double.session()
        await upstream.wait_for("input_audio_buffer.append")
    assert error["type"] == "error"
    assert "unknown agent 'zed'" in error["message"] and "elena" in error["message"]
    assert len(upstream.session_updates) == 1


async def test_rejected_switch_keeps_the_current_agent(env: VoiceEnv) -> None:
    env.double.unavailable_voices.add(get_agent(env.settings, "marcus").voice)
    async with env.client() as client:
        await client.until("agent_switched")
        await client.send(type="agent", agent_id="marcus")
        error = await client.recv()
        await client.send(type="agent", agent_id="elena")
        again = await client.recv()
    assert error == {"type": "error", "message": "could not switch to marcus; still talking to elena"}
    assert again == {"type": "agent_switched", "agent_id": "elena"}


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"data": "AAAA"}', 'missing "type"'),
        ('{"type": "video"}', "unknown message type 'video'"),
        ('{"type": "audio", "data": "***"}', "not valid base64"),
        ('{"type": "audio", "data": "AAA"}', "not valid base64"),
        ('{"type": "audio"}', 'need "data"'),
        ('{"type": "audio", "data": "AAAA"}', "16-bit PCM"),
        ('{"type": "agent"}', 'need "agent_id"'),
        ('{"type": "text", "content": "  "}', 'need "content"'),
    ],
)
async def test_bad_messages_get_clear_errors_and_the_session_goes_on(
    env: VoiceEnv, raw: str, fragment: str
) -> None:
    async with env.client() as client:
        await client.until("agent_switched")
        await client.send_raw(raw)
        error = await client.recv()
        await client.audio()
        upstream = await env.double.session()
        await upstream.wait_for("input_audio_buffer.append")
    assert error["type"] == "error" and fragment in error["message"], error


async def test_oversized_frames_are_refused(env: VoiceEnv) -> None:
    limit = env.settings.voice_max_frame_bytes
    async with env.client() as client:
        await client.until("agent_switched")
        await client.audio(b"\x00" * (limit + 2))  # just over: decoded size is checked
        just_over = await client.recv()
        await client.send_raw('{"type": "audio", "data": "' + "A" * (limit * 2) + '"}')  # far over
        far_over = await client.recv()
        await client.audio(b"\x00" * limit)  # exactly the limit passes
        upstream = await env.double.session()
        await upstream.wait_for("input_audio_buffer.append")
    assert just_over["message"] == f"audio frame too large: {limit + 2} bytes (at most {limit})"
    assert far_over["message"].startswith("message too large")


# --- upstream failures -----------------------------------------------------------------------------


async def test_upstream_error_reaches_the_client_without_its_text(env: VoiceEnv) -> None:
    async with env.talking() as (client, upstream):
        await upstream.error("rate_limit_exceeded", "user said: my card is 4111 1111 1111 1111")
        error = await client.recv()
        await client.audio()
        await upstream.wait_for("input_audio_buffer.append")
    assert error == {"type": "error", "message": "the voice service reported an error (rate_limit_exceeded)"}


async def test_client_disconnect_closes_the_upstream(env: VoiceEnv) -> None:
    async with env.talking() as (_, upstream):
        pass  # the browser leaves here
    await asyncio.wait_for(upstream.closed.wait(), WAIT_S)
    await env.idle()


async def test_upstream_refusing_the_connection(tmp_path: Path) -> None:
    async with double_env(tmp_path, azure_voicelive_key="wrong-key") as env, env.client() as client:
        code, got = await client.closed()
    assert code == 1014
    assert got == [{"type": "error", "message": "the voice service refused the app's credentials (HTTP 401)"}]
    assert env.double.refused == ["bad credentials"]


# --- limits and refusals ---------------------------------------------------------------------------


async def test_not_configured_names_the_setting(tmp_path: Path) -> None:
    async with voice_env(make_settings(tmp_path)) as env, env.client() as client:
        code, got = await client.closed()
    assert code == 1011
    assert got == [{"type": "error", "message": "voice is not configured: set AZURE_VOICELIVE_ENDPOINT"}]


async def test_sessions_beyond_the_limit_are_refused(tmp_path: Path) -> None:
    async with double_env(tmp_path, voice_max_sessions=1) as env, env.client("a") as first:
        await first.until("agent_switched")
        async with env.client("b") as second:
            code, got = await second.closed()
        await first.audio()  # the first session is unaffected
        await (await env.double.session()).wait_for("input_audio_buffer.append")
    assert code == 1013
    assert got == [{"type": "error", "message": "voice is at capacity (1 sessions); try again shortly"}]


async def test_a_users_sessions_beyond_the_per_user_cap_are_refused(tmp_path: Path) -> None:
    async with double_env(tmp_path, voice_max_sessions_per_user=1) as env:
        async with env.client("a") as first:
            await first.until("agent_switched")
            async with env.client("b") as second:  # the same (anonymous) caller
                code, got = await second.closed()
        await env.app.state.voice.wait_idle()  # the first session has torn down
        async with env.client("c") as again:
            await again.until("agent_switched")  # its slot came back
    assert code == 1013
    assert got == [
        {
            "type": "error",
            "message": "you already have 1 voice sessions open (the limit); close one and try again",
        }
    ]


async def test_session_length_limit(env: VoiceEnv) -> None:
    env.app.state.voice.params = VoiceParams(max_session_seconds=0.3)
    async with env.client() as client:
        code, got = await client.closed()
    assert code == 1000
    assert got[-1] == {"type": "error", "message": "the session reached its maximum length (0.3 s)"}
    await asyncio.wait_for(env.double.sessions[0].closed.wait(), WAIT_S)


async def test_invalid_session_id(env: VoiceEnv) -> None:
    async with env.client("x" * 200) as client:
        code, got = await client.closed()
    assert code == 1008
    assert got[0]["message"].startswith("invalid session id")


async def test_unknown_initial_agent(env: VoiceEnv) -> None:
    async with env.client(query="?agent=zed") as client:
        code, got = await client.closed()
    assert code == 1008
    assert "unknown agent 'zed'" in got[0]["message"]


async def test_another_users_session_id_is_refused(env: VoiceEnv) -> None:
    await env.store.append_turn(NewTurn("theirs", "someone-else", None, "user", "private", "elena", "chat"))
    async with env.client("theirs") as client:
        code, got = await client.closed()
    assert code == 1008
    assert got == [{"type": "error", "message": "this session id cannot be used; start a new session"}]
    assert env.double.sessions == []


# --- authentication and origin ---------------------------------------------------------------------


async def _handshake_status(env: VoiceEnv, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with env.client(**kwargs):  # type: ignore[arg-type]
            pass
    return refused.value.response.status_code


async def test_auth_required_without_token_is_refused(tmp_path: Path) -> None:
    async with double_env(tmp_path, auth_required=True) as env:
        assert await _handshake_status(env) == 403
        async with env.client(token="dev_ann_user") as client:
            assert (await client.recv())["type"] == "agent_switched"
    assert len(env.double.sessions) == 1


async def test_role_without_voice_permission_is_refused(env: VoiceEnv) -> None:
    assert await _handshake_status(env, token="dev_vic_viewer") == 403
    assert env.double.sessions == []


async def test_origin_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    async with double_env(tmp_path, cors_origins=["http://ui.example.invalid"]) as env:
        assert await _handshake_status(env, origin="http://evil.example.invalid") == 403
        async with env.client(origin="http://ui.example.invalid") as client:
            assert (await client.recv())["type"] == "agent_switched"
