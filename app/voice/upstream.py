"""The VoiceLive side: one process-wide credential and `connect()` with our pinned settings.

Auth: an AI Services key (`AZURE_VOICELIVE_KEY`) as `AzureKeyCredential`, otherwise the async
`DefaultAzureCredential` from `azure.identity.aio` for the user-assigned managed identity named by
AZURE_CLIENT_ID. A sync credential would block the event loop on every token refresh, so there is
none. The credential is shared so its token cache serves every session, and closed on shutdown.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Literal
from urllib.parse import urlsplit

from azure.ai.voicelive.aio import VoiceLiveConnection, WebsocketConnectionOptions, connect
from azure.core.credentials import AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential

from app.settings import Settings
from app.voice.params import CLOSE_TIMEOUT_S, UPSTREAM_HEARTBEAT_S

AuthMode = Literal["key", "managed_identity"]

#: Upstream messages above this size are refused by aiohttp; VoiceLive deltas are a few KiB.
UPSTREAM_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def auth_mode(settings: Settings) -> AuthMode:
    return "key" if settings.azure_voicelive_key is not None else "managed_identity"


def endpoint_host(settings: Settings) -> str | None:
    """The endpoint's host only: safe for a status page (no path, no query)."""
    if not settings.azure_voicelive_endpoint:
        return None
    return urlsplit(settings.azure_voicelive_endpoint).hostname


class VoiceLiveUpstream:
    """Opens VoiceLive sessions for this process; owns the credential."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._credential: AzureKeyCredential | AsyncTokenCredential | None = None

    @property
    def configured(self) -> bool:
        return bool(self._settings.azure_voicelive_endpoint)

    def _get_credential(self) -> AzureKeyCredential | AsyncTokenCredential:
        if self._credential is None:
            key = self._settings.azure_voicelive_key
            if key is not None:
                self._credential = AzureKeyCredential(key.get_secret_value())
            else:
                from azure.identity.aio import DefaultAzureCredential

                # Honours AZURE_CLIENT_ID (the container app's user-assigned identity); interactive
                # browser sign-in is never tried on a server.
                self._credential = DefaultAzureCredential(
                    managed_identity_client_id=self._settings.azure_client_id,
                    exclude_interactive_browser_credential=True,
                )
        return self._credential

    def connect(self) -> AbstractAsyncContextManager[VoiceLiveConnection]:
        """A context manager yielding one VoiceLive connection (the caller bounds the wait)."""
        endpoint = self._settings.azure_voicelive_endpoint
        if not endpoint:
            raise RuntimeError("AZURE_VOICELIVE_ENDPOINT is not set")
        options: WebsocketConnectionOptions = {
            "heartbeat": UPSTREAM_HEARTBEAT_S,
            "close_timeout": CLOSE_TIMEOUT_S,
            "max_msg_size": UPSTREAM_MAX_MESSAGE_BYTES,
        }
        return connect(
            credential=self._get_credential(),
            endpoint=endpoint,
            api_version=self._settings.azure_voicelive_api_version,
            model=self._settings.azure_voicelive_model,
            connection_options=options,
        )

    async def aclose(self) -> None:
        credential, self._credential = self._credential, None
        if credential is not None and not isinstance(credential, AzureKeyCredential):
            await credential.close()
