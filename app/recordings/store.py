"""Where recordings live: blob names, the store interface and its Azure Blob Storage implementation.

Names are `<tenant>/<user pseudonym>/<session id>/<recording id>/<part>`, the part being `user.wav`
(the microphone), `agent.wav` (the agent's audio) or `markers.json` (turn markers); the pseudonym is
the audit trail's keyed hash of the user id, so a listing never shows who someone is. Each blob
carries its consent time as metadata (metadata, not index tags: setting tags needs a permission
Storage Blob Data Contributor lacks, see AZ-ST-003).

A track is a block blob: its audio is staged block by block while the session runs and committed
once, with the WAV header as its first block, when the recording stops. Blocks never committed (a
crashed replica) are garbage-collected by the service; an erased session's are dropped at once by
committing an empty list and deleting the blob.

Auth: `RECORDING_STORAGE_URL` uses the app identity (Entra; read links are user-delegation SAS),
`RECORDING_STORAGE_CONNECTION_STRING` a shared key (Azurite, local runs; read links are service SAS
for one blob). Content is encrypted at rest by the account (Storage Service Encryption, with
infrastructure encryption on the stacks; docs/infrastructure.md).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobSasPermissions, ContentSettings, generate_blob_sas
from azure.storage.blob.aio import ExponentialRetry

from app.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.storage.blob.aio import BlobServiceClient, ContainerClient

log = logging.getLogger("engram.recordings")

Part = Literal["user.wav", "agent.wav", "markers.json"]
PARTS: tuple[Part, ...] = ("user.wav", "agent.wav", "markers.json")
#: The tenant segment of a caller without one (POC, dev tokens).
NO_TENANT = "no-tenant"
#: Longest a read link may live; admins ask for less.
MAX_LINK_SECONDS = 3600
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value):
        raise ValueError(f"{what} is not a valid blob name segment")
    return value


@dataclass(frozen=True, slots=True)
class RecordingKey:
    """One consent span of one session: the folder its parts live in."""

    tenant: str
    user_ref: str  # pseudonym of the user id (app.audit.trail.pseudonymise)
    session_id: str
    recording_id: str

    @property
    def prefix(self) -> str:
        return session_prefix(self.tenant, self.user_ref, self.session_id) + f"{self.recording_id}/"

    def blob(self, part: Part) -> str:
        return self.prefix + part


def session_prefix(tenant: str | None, user_ref: str, session_id: str) -> str:
    """`<tenant>/<pseudonym>/<session>/`: every recording of one user's session."""
    tenant_segment = _segment(tenant or NO_TENANT, "tenant id")
    return f"{tenant_segment}/{_segment(user_ref, 'user pseudonym')}/{_segment(session_id, 'session id')}/"


@dataclass(frozen=True, slots=True)
class StoredBlob:
    name: str
    size: int
    last_modified: datetime
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def recording_id(self) -> str:
        return self.name.split("/")[3]

    @property
    def part(self) -> str:
        return self.name.split("/")[4]


class RecordingStore(Protocol):
    """What the recorder, erasure, retention and the admin routes need from the store."""

    async def prepare(self) -> None: ...

    async def stage(self, name: str, block_id: str, data: bytes) -> None: ...

    async def commit(self, name: str, block_ids: Sequence[str], metadata: dict[str, str]) -> None: ...

    async def put(self, name: str, data: bytes, metadata: dict[str, str], content_type: str) -> None: ...

    async def discard(self, name: str) -> None: ...

    async def list_prefix(self, prefix: str) -> list[StoredBlob]: ...

    async def list_session(self, user_ref: str, session_id: str) -> list[StoredBlob]: ...

    async def delete_user(self, user_ref: str) -> int: ...

    async def purge_before(self, cutoff: datetime) -> int: ...

    async def read_link(self, name: str, ttl_s: int) -> tuple[str, datetime]: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


class BlobRecordingStore:
    """`RecordingStore` on Azure Blob Storage (or Azurite) with the async SDK."""

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        credential: AsyncTokenCredential | None = None,
    ) -> None:
        self._service = service
        self._container: ContainerClient = service.get_container_client(container)
        self._credential = credential  # owned: closed with the store (Entra mode only)
        self._container_ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobRecordingStore | None:
        """The store the settings name, or None when none is configured."""
        from azure.storage.blob.aio import BlobServiceClient

        if settings.recording_storage_connection_string is not None:
            conn = settings.recording_storage_connection_string.get_secret_value()
            service = BlobServiceClient.from_connection_string(conn, retry_policy=_retry())
            return cls(service, settings.recording_container)
        if settings.recording_storage_url:
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential(
                managed_identity_client_id=settings.azure_client_id,
                exclude_interactive_browser_credential=True,
            )
            service = BlobServiceClient(
                settings.recording_storage_url, credential=credential, retry_policy=_retry()
            )
            return cls(service, settings.recording_container, credential)
        return None

    async def _ready(self) -> ContainerClient:
        """The container, created on first use (the stacks create it; Azurite starts empty)."""
        if not self._container_ready:
            with contextlib.suppress(ResourceExistsError):
                await self._container.create_container()
            self._container_ready = True
        return self._container

    async def prepare(self) -> None:
        """Reach the store (and create the container) now, so a store that is down shows at consent."""
        await self._ready()

    async def stage(self, name: str, block_id: str, data: bytes) -> None:
        container = await self._ready()
        await container.get_blob_client(name).stage_block(block_id, data, length=len(data))

    async def commit(self, name: str, block_ids: Sequence[str], metadata: dict[str, str]) -> None:
        container = await self._ready()
        await container.get_blob_client(name).commit_block_list(
            [BlobBlock(block_id) for block_id in block_ids],
            metadata=metadata,
            content_settings=ContentSettings(content_type="audio/wav"),
        )

    async def put(self, name: str, data: bytes, metadata: dict[str, str], content_type: str) -> None:
        container = await self._ready()
        await container.get_blob_client(name).upload_blob(
            data,
            overwrite=True,
            metadata=metadata,
            content_settings=ContentSettings(content_type=content_type),
        )

    async def discard(self, name: str) -> None:
        """Drop a track that must not be kept: committing an empty list discards its staged blocks."""
        blob = (await self._ready()).get_blob_client(name)
        await blob.commit_block_list([])
        with contextlib.suppress(ResourceNotFoundError):
            await blob.delete_blob()

    async def list_prefix(self, prefix: str) -> list[StoredBlob]:
        container = await self._ready()
        found = []
        async for item in container.list_blobs(name_starts_with=prefix, include=["metadata"]):
            found.append(_stored(item))
        return found

    async def _tenants(self) -> list[str]:
        """The tenant folders (`<tenant>/`): few, so erasure and listings need no tenant id."""
        container = await self._ready()
        return [item.name async for item in container.walk_blobs(delimiter="/")]

    async def list_session(self, user_ref: str, session_id: str) -> list[StoredBlob]:
        """Every part of every recording of the user's session, whatever the tenant."""
        found: list[StoredBlob] = []
        for tenant in await self._tenants():
            found += await self.list_prefix(session_prefix(tenant.rstrip("/"), user_ref, session_id))
        return found

    async def delete_user(self, user_ref: str) -> int:
        """Every recording of the pseudonymised user, whatever the tenant; how many blobs went."""
        user_ref = _segment(user_ref, "user pseudonym")
        deleted = 0
        for tenant in await self._tenants():
            for blob in await self.list_prefix(f"{tenant}{user_ref}/"):
                deleted += await self._delete(blob.name)
        return deleted

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete blobs last written before `cutoff`; how many went."""
        container = await self._ready()
        deleted = 0
        async for item in container.list_blobs():
            if item.last_modified is not None and item.last_modified < cutoff:
                deleted += await self._delete(item.name)
        return deleted

    async def _delete(self, name: str) -> int:
        try:
            await self._container.delete_blob(name, delete_snapshots="include")
        except ResourceNotFoundError:
            return 0  # deleted meanwhile (another replica's purge, the lifecycle rule)
        return 1

    async def read_link(self, name: str, ttl_s: int) -> tuple[str, datetime]:
        """A read-only URL for one blob, valid `ttl_s` seconds (at most MAX_LINK_SECONDS)."""
        if not 0 < ttl_s <= MAX_LINK_SECONDS:
            raise ValueError(f"a read link lives 1..{MAX_LINK_SECONDS} seconds")
        now = datetime.now(UTC)
        start, expiry = now - timedelta(minutes=5), now + timedelta(seconds=ttl_s)  # clock skew
        blob = self._container.get_blob_client(name)
        account = self._service.account_name
        assert account is not None
        signing: dict[str, Any]
        if self._credential is not None:
            # Entra: a user-delegation SAS, signed by a key the app identity asks for (no shared key).
            signing = {"user_delegation_key": await self._service.get_user_delegation_key(start, expiry)}
        else:
            key = getattr(self._service.credential, "account_key", None)
            if not isinstance(key, str):
                raise RuntimeError("the recordings store has no key to sign a read link with")
            signing = {"account_key": key}
        sas = generate_blob_sas(
            account,
            self._container.container_name,
            name,
            permission=BlobSasPermissions(read=True),
            start=start,
            expiry=expiry,
            **signing,
        )
        return f"{blob.url}?{sas}", expiry

    async def ping(self) -> bool:
        try:
            await (await self._ready()).get_container_properties()
        except Exception:  # any failure means "not reachable"; the caller reports it, never raises
            return False
        return True

    async def aclose(self) -> None:
        await self._service.close()
        if self._credential is not None:
            await self._credential.close()


def _retry() -> ExponentialRetry:
    """Storage's default waits 15 s before its first retry; the recorder gives each call 10 s in all
    (app/voice/recording.py, STORE_TIMEOUT_S), so retries start sooner: after ~1 s and ~3 s."""
    return ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2)


def _stored(item: object) -> StoredBlob:
    name = getattr(item, "name", "")
    last_modified = getattr(item, "last_modified", None) or datetime.fromtimestamp(0, UTC)
    return StoredBlob(
        name=name,
        size=int(getattr(item, "size", 0) or 0),
        last_modified=last_modified,
        metadata=dict(getattr(item, "metadata", None) or {}),
    )
