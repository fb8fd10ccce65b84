"""The recorder on its own, with a store that stalls on demand: the taps never wait, a full queue drops
frames (counted, on the health object, the recording marked incomplete), and an erasure discards.

The store here is an in-memory `RecordingStore` whose calls can be held back; the real Blob Storage
client is tested against Azurite in test_recording.py and tests/app/recordings.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import orjson

from app.recordings.store import StoredBlob
from app.security.identity import Identity, Role
from app.voice import recording
from app.voice.recording import Recordings
from tests.conftest import make_settings
from tests.telemetry import Sink

FRAME = base64.b64encode(b"\x03\x00" * 960).decode()


class StallingStore:
    """Stores blocks and blobs in memory; every call waits for `open` first."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.staged: dict[tuple[str, str], bytes] = {}
        self.blobs: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.discarded: list[str] = []

    async def prepare(self) -> None:
        await self.open.wait()

    async def stage(self, name: str, block_id: str, data: bytes) -> None:
        await self.open.wait()
        self.staged[(name, block_id)] = data

    async def commit(self, name: str, block_ids: Sequence[str], metadata: dict[str, str]) -> None:
        await self.open.wait()
        self.blobs[name] = (b"".join(self.staged.pop((name, b)) for b in block_ids), metadata)

    async def put(self, name: str, data: bytes, metadata: dict[str, str], content_type: str) -> None:
        await self.open.wait()
        self.blobs[name] = (data, metadata)

    async def discard(self, name: str) -> None:
        self.staged = {k: v for k, v in self.staged.items() if k[0] != name}
        self.discarded.append(name)

    async def list_prefix(self, prefix: str) -> list[StoredBlob]:
        return []

    async def list_session(self, user_ref: str, session_id: str) -> list[StoredBlob]:
        return []

    async def delete_user(self, user_ref: str) -> int:
        return 0

    async def purge_before(self, cutoff: datetime) -> int:
        return 0

    async def read_link(self, name: str, ttl_s: int) -> tuple[str, datetime]:
        raise NotImplementedError

    async def ping(self) -> bool:
        return self.open.is_set()

    async def aclose(self) -> None:
        return None


def recorder(tmp_path: Path, store: StallingStore) -> tuple[Recordings, recording.SessionRecorder, list[str]]:
    settings = make_settings(tmp_path, recording_mode="consent")
    recordings = Recordings(settings, store, b"key")
    sent: list[str] = []

    async def notify(message: str) -> None:
        sent.append(message)

    identity = Identity(user_id="alice", tenant_id="t1", roles=frozenset({Role.USER}), auth_method="dev")
    return recordings, recordings.session(identity, "sess-1", notify), sent


async def test_a_stalled_store_drops_frames_at_the_bound_and_never_blocks_the_taps(
    tmp_path: Path, sink: Sink
) -> None:
    store = StallingStore()
    recordings, session, sent = recorder(tmp_path, store)
    await session.consent(True)
    assert [orjson.loads(m) for m in sent] == [{"type": "recording", "state": "on"}]
    before = sink.value("recording_degradations", reason="queue_full")
    for _ in range(recording.QUEUE_FRAMES + 100):
        session.user_audio(FRAME)  # synchronous: returns at once however slow the store is
    assert recordings.health.dropped_frames == 100
    assert recordings.health.degraded
    assert sink.value("recording_degradations", reason="queue_full") == before + 100
    store.open.set()  # the store recovers: what was queued is written, marked incomplete
    await session.close()
    data, metadata = store.blobs[next(n for n in store.blobs if n.endswith("user.wav"))]
    assert len(data) == 44 + recording.QUEUE_FRAMES * 1920
    assert metadata["complete"] == "false"
    markers = orjson.loads(store.blobs[next(n for n in store.blobs if n.endswith("markers.json"))][0])
    assert markers["dropped_frames"] == 100


async def test_erasure_discards_the_recording_in_progress(tmp_path: Path) -> None:
    store = StallingStore()
    store.open.set()
    _, session, _ = recorder(tmp_path, store)
    await session.consent(True)
    for _ in range(10):
        session.user_audio(FRAME)
        session.agent_audio(FRAME)
    await session.close(discard=True)
    assert store.blobs == {} and store.staged == {}
    assert sorted(n.rsplit("/", 1)[1] for n in store.discarded) == ["agent.wav", "user.wav"]


async def test_consent_after_the_session_closed_is_refused(tmp_path: Path) -> None:
    store = StallingStore()
    store.open.set()
    _, session, sent = recorder(tmp_path, store)
    await session.close()
    await session.consent(True)
    assert orjson.loads(sent[-1])["state"] == "off"
    assert not session.recording
