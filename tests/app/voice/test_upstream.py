"""Upstream credentials: a key when set, else an async Azure identity credential (never a sync one)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from azure.core.credentials import AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import DefaultAzureCredential

from app.voice.link import raw_websocket
from app.voice.upstream import VoiceLiveUpstream, auth_mode, endpoint_host
from tests.conftest import make_settings
from tests.doubles.voicelive_server import VoiceLiveDouble

ENDPOINT = "https://example-ai.services.ai.azure.com/some/path?x=1"


def test_key_credential_when_a_key_is_set(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, azure_voicelive_endpoint=ENDPOINT, azure_voicelive_key="k")
    assert auth_mode(settings) == "key"
    credential = VoiceLiveUpstream(settings)._get_credential()
    assert isinstance(credential, AzureKeyCredential) and credential.key == "k"


async def test_async_identity_credential_otherwise(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, azure_voicelive_endpoint=ENDPOINT, azure_client_id="client-123")
    assert auth_mode(settings) == "managed_identity"
    upstream = VoiceLiveUpstream(settings)
    credential = upstream._get_credential()
    assert isinstance(credential, DefaultAzureCredential)
    assert isinstance(credential, AsyncTokenCredential)
    assert upstream._get_credential() is credential  # one per process: the token cache is shared
    await upstream.aclose()


def test_status_shows_the_host_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, azure_voicelive_endpoint=ENDPOINT)
    assert endpoint_host(settings) == "example-ai.services.ai.azure.com"
    assert endpoint_host(make_settings(tmp_path)) is None


async def test_the_installed_sdk_exposes_the_raw_websocket_the_audio_path_uses(tmp_path: Path) -> None:
    """If an SDK upgrade moves it, the relay falls back to `send()`; this test says so loudly."""
    async with VoiceLiveDouble() as double:
        settings = make_settings(
            tmp_path, azure_voicelive_endpoint=double.endpoint, azure_voicelive_key=double.api_key
        )
        upstream = VoiceLiveUpstream(settings)
        async with upstream.connect() as conn:
            assert isinstance(raw_websocket(conn), aiohttp.ClientWebSocketResponse)
        await upstream.aclose()
