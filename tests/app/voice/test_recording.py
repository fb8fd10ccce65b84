"""Consented recordings end to end: a websocket client -> the app under uvicorn -> the VoiceLive
double, with the recordings written to Azurite (a real Blob Storage emulator) by the real SDK.

Checked: no consent, nothing written; consent, both directions written as playable WAV (header
valid, duration = the audio sent each way) with turn markers; withdrawal stops at once; a mode of
`off` refuses consent; erasure deletes the user's recordings; a store that is down stops the
recording (the client is told) while the call goes on, and `/health` shows the degradation; admins
list a session's recordings and read one through a short-lived link, each read audited.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from azure.storage.blob.aio import BlobServiceClient

from app.recordings.store import BlobRecordingStore
from app.voice import recording
from tests.app.voice.harness import PCM_40MS, VoiceEnv, double_env
from tests.azurite.server import Azurite
from tests.conftest import make_settings

USER = "dev_alice_user"
AGENT_PCM = b"\x02\x00" * 4_800  # 200 ms of agent audio per reply


@pytest.fixture
async def env(tmp_path: Path, azurite_server: Azurite, recording_container: str) -> AsyncIterator[VoiceEnv]:
    async with double_env(
        tmp_path,
        recording_mode="consent",
        recording_storage_connection_string=azurite_server.connection_string,
        recording_container=recording_container,
        recording_retention_days=30,
    ) as env:
        yield env


async def blobs(azurite: Azurite, container: str) -> dict[str, bytes]:
    """Every blob in the container: name -> content."""
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        client = service.get_container_client(container)
        if not await client.exists():
            return {}
        found = {}
        async for item in client.list_blobs():
            found[item.name] = await (await client.download_blob(item.name)).readall()
        return found


def wav_of(data: bytes) -> tuple[int, int, int, int]:
    """(channels, sample width, rate, frames) as Python's wave module reads the file."""
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnchannels(), reader.getsampwidth(), reader.getframerate(), reader.getnframes()


async def converse(env: VoiceEnv, client: Any, frames: int, turn: str) -> None:
    """`frames` microphone frames, then the user's turn and the agent's spoken reply."""
    upstream = await env.double.session(len(env.double.sessions) - 1)
    before = len(upstream.of_type("input_audio_buffer.append"))
    for _ in range(frames):
        await client.audio()
    await upstream.wait_for("input_audio_buffer.append", count=before + frames)
    await upstream.speech_started(f"item_u{turn}")
    await upstream.speech_stopped(f"item_u{turn}")
    await upstream.transcription(f"item_u{turn}", f"turn {turn}")
    await upstream.reply(f"item_a{turn}", f"answer {turn}", pcm=AGENT_PCM)
    await client.until("transcription", speaker="assistant", status="complete")


async def test_without_consent_nothing_is_written(
    env: VoiceEnv, azurite_server: Azurite, recording_container: str
) -> None:
    async with env.client(token=USER) as client:
        await client.until("agent_switched")
        await converse(env, client, 5, "1")
    await env.idle()
    assert await blobs(azurite_server, recording_container) == {}
    assert not [m for m in client.seen if m["type"] == "recording"]


async def test_consent_records_both_directions_as_playable_wav(
    env: VoiceEnv, azurite_server: Azurite, recording_container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "BLOCK_BYTES", 7_000)  # many blocks, cut mid-frame: order must hold
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env.port}") as http:
        assert (await http.get("/api/v1/voice/status")).json()["recording"] == "consent"
    async with env.client("sess-rec", token=USER) as client:
        await client.until("agent_switched")
        await client.send(type="consent", recording=True)
        assert await client.recv() == {"type": "recording", "state": "on"}
        await converse(env, client, 25, "1")  # 1 s of microphone audio, 200 ms of answer
        await converse(env, client, 25, "2")
    await env.idle()
    stored = await blobs(azurite_server, recording_container)
    names = sorted(stored)
    assert len(names) == 3
    tenant, user_ref, session, recording_id, _ = names[0].split("/")
    assert (tenant, session) == ("dev", "sess-rec")  # dev tokens carry tenant "dev"
    assert user_ref == env.app.state.audit.user_ref("alice") and "alice" not in names[0]
    prefix = f"{tenant}/{user_ref}/{session}/{recording_id}/"
    assert names == [prefix + "agent.wav", prefix + "markers.json", prefix + "user.wav"]
    user_frames = 50 * len(PCM_40MS) // 2
    assert wav_of(stored[prefix + "user.wav"]) == (1, 2, 24_000, user_frames)  # 2.0 s, as sent
    assert wav_of(stored[prefix + "agent.wav"]) == (1, 2, 24_000, 2 * len(AGENT_PCM) // 2)  # 0.4 s
    assert stored[prefix + "user.wav"][44:] == PCM_40MS * 50  # the microphone bytes, untouched
    markers = orjson.loads(stored[prefix + "markers.json"])
    kinds = [m["kind"] for m in markers["markers"]]
    assert kinds.count("user_speech_started") == 2 and kinds.count("agent_response_done") == 2
    second_turn = [m for m in markers["markers"] if m["kind"] == "user_speech_started"][1]
    assert second_turn["user_ms"] == 2000 and second_turn["agent_ms"] == 200  # offsets in each track
    assert markers["tracks"]["user"]["duration_ms"] == 2000
    assert markers["consent_at"] and markers["dropped_frames"] == 0


async def test_withdrawal_stops_recording_at_once(
    env: VoiceEnv, azurite_server: Azurite, recording_container: str
) -> None:
    async with env.client(token=USER) as client:
        await client.until("agent_switched")
        await client.send(type="consent", recording=True)
        await client.until("recording", state="on")
        for _ in range(10):
            await client.audio()
        await client.send(type="consent", recording=False)
        await client.until("recording", state="off")
        for _ in range(15):
            await client.audio(b"\x07\x00" * 960)  # after withdrawal: must never be stored
        upstream = await env.double.session()
        await upstream.wait_for("input_audio_buffer.append", count=25)  # the call went on
    await env.idle()
    stored = await blobs(azurite_server, recording_container)
    (user_wav,) = [data for name, data in stored.items() if name.endswith("user.wav")]
    assert wav_of(user_wav)[3] == 10 * 960
    assert b"\x07\x00" * 960 not in user_wav


async def test_erasure_deletes_the_users_recordings(
    env: VoiceEnv, azurite_server: Azurite, recording_container: str
) -> None:
    for token in (USER, "dev_bob_user"):
        async with env.client(f"sess-{token}", token=token) as client:
            await client.until("agent_switched")
            await client.send(type="consent", recording=True)
            await client.until("recording", state="on")
            await converse(env, client, 3, "1")
    await env.idle()
    assert len(await blobs(azurite_server, recording_container)) == 6
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env.port}") as http:
        response = await http.delete("/api/v1/memory/users/me", headers={"Authorization": f"Bearer {USER}"})
    assert response.status_code == 200, response.text
    assert response.json()["recordings"] == "deleted"
    assert response.json()["removed"]["recordings"] == 3
    left = await blobs(azurite_server, recording_container)
    bob = env.app.state.audit.user_ref("bob")
    assert len(left) == 3 and all(f"/{bob}/" in name for name in left)


async def test_recording_mode_off_refuses_consent(tmp_path: Path, azurite_server: Azurite) -> None:
    async with (
        double_env(tmp_path, recording_storage_connection_string=azurite_server.connection_string) as env,
        env.client(token=USER) as client,
    ):
        await client.until("agent_switched")
        await client.send(type="consent", recording=True)
        answer = await client.recv()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env.port}") as http:
            status = (await http.get("/api/v1/voice/status")).json()
    assert status["recording"] == "off"  # clients can tell before they ask
    assert answer["type"] == "recording" and answer["state"] == "off"
    assert "not enabled" in answer["reason"]


async def test_store_down_stops_the_recording_not_the_call(
    env: VoiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "STORE_TIMEOUT_S", 1.0)
    dead = make_settings(
        Path("."),
        recording_storage_connection_string=(
            "DefaultEndpointsProtocol=http;AccountName=gone;AccountKey=Z29uZQ==;"
            f"BlobEndpoint=http://127.0.0.1:{_closed_port()}/gone;"
        ),
    )
    store = BlobRecordingStore.from_settings(dead)
    assert store is not None
    await env.app.state.recordings.store.aclose()
    env.app.state.recordings.store = store  # closed by the app at shutdown
    async with env.client(token=USER) as client:
        await client.until("agent_switched")
        await client.send(type="consent", recording=True)
        await client.until("recording", state="on")
        stopped = await client.until("recording", state="off")
        assert "unavailable" in stopped[-1]["reason"]
        await converse(env, client, 5, "1")  # the conversation goes on
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env.port}") as http:
            health = (await http.get("/health")).json()
    assert health["status"] == "degraded"
    assert health["recordings"]["degraded"] is True
    assert health["recordings"]["store_failures"] >= 1


async def test_admin_lists_and_reads_a_recording_and_each_read_is_audited(
    env: VoiceEnv, azurite_server: Azurite, recording_container: str
) -> None:
    async with env.client("sess-admin", token=USER) as client:
        await client.until("agent_switched")
        await client.send(type="consent", recording=True)
        await client.until("recording", state="on")
        await converse(env, client, 5, "1")
    await env.idle()
    admin = {"Authorization": "Bearer dev_root_admin"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env.port}") as http:
        refused = await http.get(
            "/api/v1/admin/recordings/sessions/sess-admin", headers={"Authorization": f"Bearer {USER}"}
        )
        listed = await http.get("/api/v1/admin/recordings/sessions/sess-admin", headers=admin)
        (item,) = listed.json()["items"]
        link = await http.post(
            "/api/v1/admin/recordings/link",
            headers=admin,
            json={"session_id": "sess-admin", "recording_id": item["recording_id"], "part": "user.wav"},
        )
        missing = await http.post(
            "/api/v1/admin/recordings/link",
            headers=admin,
            json={"session_id": "sess-admin", "recording_id": "nope", "part": "user.wav"},
        )
        downloaded = await http.get(link.json()["url"])
        tampered = await http.get(link.json()["url"].replace("user.wav", "agent.wav"))
    assert refused.status_code == 403 and "recording:read" in refused.json()["detail"]
    assert listed.status_code == 200, listed.text
    assert sorted(p["part"] for p in item["parts"]) == ["agent.wav", "markers.json", "user.wav"]
    assert item["consent_at"] and item["complete"] is True
    assert link.status_code == 200, link.text
    assert missing.status_code == 404
    assert downloaded.status_code == 200 and wav_of(downloaded.content)[3] == 5 * 960
    assert tampered.status_code == 403  # the link reads that one blob only
    records = await env.app.state.audit.query(user_id="root", limit=50)
    events = [r.event for r in records]
    assert "recording_list" in events and "recording_read" in events
    read = next(r for r in records if r.event == "recording_read")
    assert read.detail["part"] == "user.wav" and read.detail["subject"] == env.app.state.audit.user_ref(
        "alice"
    )


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there
