"""The Blob Storage recordings store against Azurite, with the real async SDK; and the retention purge.

Checked: names and their segments; a staged-then-committed track reads back with the header first;
`discard` leaves nothing (staged blocks included); a user's recordings are erased in every tenant
and nobody else's; the retention purge deletes only what is older than the cutoff and is audited;
read links read one blob and expire within the bound; a failing store is reported by erasure.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.storage.blob.aio import BlobServiceClient

from app.audit.trail import AuditTrail
from app.db.engine import create_engine, dispose, session_factory
from app.db.migrate import upgrade
from app.recordings import wav
from app.recordings.store import BlobRecordingStore, RecordingKey, session_prefix
from app.security.recordings import erase_recordings, purge_recordings
from tests.azurite.server import Azurite
from tests.conftest import make_settings


@pytest.fixture
async def store(
    tmp_path: Path, azurite_server: Azurite, recording_container: str
) -> AsyncIterator[BlobRecordingStore]:
    settings = make_settings(
        tmp_path,
        recording_storage_connection_string=azurite_server.connection_string,
        recording_container=recording_container,
    )
    found = BlobRecordingStore.from_settings(settings)
    assert found is not None
    try:
        yield found
    finally:
        await found.aclose()


@pytest.fixture
async def trail(tmp_path: Path) -> AsyncIterator[AuditTrail]:
    engine = create_engine(make_settings(tmp_path))
    await upgrade(engine)
    try:
        yield AuditTrail(session_factory(engine), b"test-pseudonym-key")
    finally:
        await dispose(engine)


def key(tenant: str, user_ref: str, session: str = "s1", recording: str = "r1") -> RecordingKey:
    return RecordingKey(tenant, user_ref, session, recording)


async def write_track(store: BlobRecordingStore, name: str, pcm: bytes) -> None:
    await store.stage(name, "dat-0001", pcm)
    await store.stage(name, "hdr-0000", wav.header(len(pcm)))
    await store.commit(name, ["hdr-0000", "dat-0001"], {"consent_at": "2026-01-01T00:00:00+00:00"})


def test_names_are_tenant_pseudonym_session_recording() -> None:
    assert key("t1", "abc").blob("user.wav") == "t1/abc/s1/r1/user.wav"
    assert session_prefix(None, "abc", "s1") == "no-tenant/abc/s1/"
    with pytest.raises(ValueError, match="session id"):
        session_prefix("t1", "abc", "../other")


def test_wav_header_is_what_pythons_wave_reads() -> None:
    pcm = b"\x01\x00" * 24_000
    with wave.open(io.BytesIO(wav.header(len(pcm)) + pcm)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 24_000)
        assert reader.getnframes() == 24_000
    with pytest.raises(ValueError, match="WAV data chunk"):
        wav.header(-1)


async def test_committed_track_reads_back_header_first(store: BlobRecordingStore) -> None:
    name = key("t1", "abc").blob("user.wav")
    await write_track(store, name, b"\x05\x00" * 100)
    (blob,) = await store.list_prefix("t1/abc/")
    assert blob.name == name and blob.size == 44 + 200
    assert blob.metadata["consent_at"].startswith("2026-01-01")
    assert (blob.recording_id, blob.part) == ("r1", "user.wav")


async def test_discard_leaves_no_blob_and_no_staged_blocks(
    store: BlobRecordingStore, azurite_server: Azurite, recording_container: str
) -> None:
    name = key("t1", "abc").blob("user.wav")
    await store.stage(name, "dat-0001", b"\x05\x00" * 100)
    await store.discard(name)
    async with BlobServiceClient.from_connection_string(azurite_server.connection_string) as service:
        container = service.get_container_client(recording_container)
        names = [b.name async for b in container.list_blobs(include=["uncommittedblobs"])]
    assert names == []


async def test_erasure_reaches_every_tenant_and_only_that_user(store: BlobRecordingStore) -> None:
    for tenant, user in (("t1", "abc"), ("t2", "abc"), ("t1", "def")):
        await write_track(store, key(tenant, user).blob("user.wav"), b"\x00\x00")
    assert await erase_recordings(store, "abc") == ("deleted", 2)
    assert [b.name for b in await store.list_prefix("")] == ["t1/def/s1/r1/user.wav"]
    assert await erase_recordings(store, "abc") == ("deleted", 0)  # idempotent
    assert await erase_recordings(None, "abc") == ("not_configured", 0)


async def test_failing_store_makes_erasure_say_failed() -> None:
    dead = "DefaultEndpointsProtocol=http;AccountName=gone;AccountKey=Z29uZQ==;BlobEndpoint=http://127.0.0.1:9/gone;"
    store = BlobRecordingStore(BlobServiceClient.from_connection_string(dead, retry_total=0), "recordings")
    try:
        assert await erase_recordings(store, "abc") == ("failed", 0)
        assert await store.ping() is False
    finally:
        await store.aclose()


async def test_retention_deletes_only_expired_recordings_and_is_audited(
    store: BlobRecordingStore, trail: AuditTrail
) -> None:
    await write_track(store, key("t1", "abc").blob("user.wav"), b"\x00\x00")
    now = datetime.now(UTC)
    kept = await purge_recordings(store, trail, 30, now=now + timedelta(days=29))
    assert kept.blobs == 0 and len(await store.list_prefix("")) == 1
    purged = await purge_recordings(store, trail, 30, now=now + timedelta(days=31))
    assert purged.blobs == 1 and await store.list_prefix("") == []
    records = [r for r in await trail.query(limit=10) if r.event == "recording_retention"]
    assert [r.detail["blobs"] for r in records] == [0, 1]


async def test_read_link_reads_one_blob_for_a_bounded_time(store: BlobRecordingStore) -> None:
    name = key("t1", "abc").blob("user.wav")
    await write_track(store, name, b"\x05\x00" * 10)
    url, expires = await store.read_link(name, 60)
    assert timedelta(seconds=50) < expires - datetime.now(UTC) <= timedelta(seconds=60)
    assert "sp=r" in url and "sig=" in url
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).content[44:] == b"\x05\x00" * 10
    with pytest.raises(ValueError, match="read link"):
        await store.read_link(name, 7200)


def test_retention_cli_purges_recordings_when_a_store_is_configured(
    tmp_path: Path, store: BlobRecordingStore, azurite_server: Azurite, recording_container: str
) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(root),
        "DATA_RETENTION_DAYS": "30",
        "RECORDING_STORAGE_CONNECTION_STRING": azurite_server.connection_string,
        "RECORDING_CONTAINER": recording_container,
        "RECORDING_RETENTION_DAYS": "30",
    }
    engram = [sys.executable, "-c", "from app.cli import main; main()"]
    subprocess.run([*engram, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    ran = subprocess.run(
        [*engram, "retention", "purge"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    assert "recordings: deleted 0 blobs older than 30 days" in ran.stdout
