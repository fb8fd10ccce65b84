"""Any OpenAI-compatible gateway: the OpenAI double mounted at `/v1` (OpenAI, LiteLLM) and at
`/<path>/openai/v1` (APIM), with the key in `api-key` or in `Authorization: Bearer`, checked by the double.

And the failures a new user meets, each answered 502 (the contract) with a detail and a log line that
name the path called and the setting to check, never the key: the wrong route (AZURE_AI_ENDPOINT), the
key in the wrong header (AZURE_AI_KEY / AZURE_AI_KEY_HEADER), an unknown model (AZURE_AI_DEPLOYMENT).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken

from app.chat.gateway import Gateway, GatewayUpstreamError
from app.settings import Settings, SettingsError, load_settings
from tests.app.chat.helpers import running, sse_events
from tests.conftest import make_settings, settings_with_doubles
from tests.doubles.openai_server import OpenAIDouble

KEY = "sk-test-7d1f0c2a"


@pytest.fixture
async def litellm_like() -> AsyncIterator[OpenAIDouble]:
    """Served at `/v1`, key as a bearer token: how LiteLLM and OpenAI take it."""
    async with OpenAIDouble("/v1", key=KEY, key_header="authorization") as double:
        yield double


def settings_for(tmp_path: Path, endpoint: str, **overrides: object) -> Settings:
    return settings_with_doubles(tmp_path, gateway=endpoint, gateway_key=KEY, **overrides)


def server_url(double: OpenAIDouble) -> str:
    return double.base_url.removesuffix(double.prefix)


@pytest.mark.parametrize("prefix", ["/v1", "/team-a/openai/v1"])
@pytest.mark.parametrize("key_header", ["api-key", "authorization"])
async def test_gateway_at_any_base_path_with_either_key_header(
    tmp_path: Path, prefix: str, key_header: str
) -> None:
    async with OpenAIDouble(prefix, key=KEY, key_header=key_header) as double:  # type: ignore[arg-type]
        settings = settings_for(tmp_path, double.base_url + "/", azure_ai_key_header=key_header)
        async with running(settings) as (_, client):
            reply = await client.post("/api/v1/chat", json={"content": "hello", "session_id": "s-1"})
            streamed = await client.post("/api/v1/chat/stream", json={"content": "more", "session_id": "s-1"})
            episode = (await client.get("/api/v1/memory/episodes/s-1")).json()
    assert reply.status_code == 200, reply.text
    assert reply.json()["content"] == "reply 1 to: hello"
    assert streamed.status_code == 200 and sse_events(streamed.text)[-1][0] == "done"
    assert [t["content"] for t in episode["transcript"]] == [
        "hello",
        "reply 1 to: hello",
        "more",
        "reply 2 to: more",
    ]
    for sent in double.requests:
        if key_header == "api-key":
            assert sent.headers["api-key"] == KEY and "Authorization" not in sent.headers
        else:
            assert sent.headers["Authorization"] == f"Bearer {KEY}" and "api-key" not in sent.headers


async def test_key_header_is_case_insensitive_and_validated(tmp_path: Path) -> None:
    assert load_settings(_env_file=None, azure_ai_key_header=" Authorization ").azure_ai_key_header == (
        "authorization"
    )
    with pytest.raises(SettingsError, match="AZURE_AI_KEY_HEADER: .*'api-key' or 'authorization'"):
        load_settings(_env_file=None, azure_ai_key_header="x-api-key")


def test_endpoint_with_a_query_string_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match="AZURE_AI_ENDPOINT: .*without a query string") as error:
        load_settings(_env_file=None, azure_ai_endpoint="https://gw.example.com/v1?api-key=s3cr3t")
    assert "s3cr3t" not in str(error.value)


async def test_key_in_the_wrong_header_names_the_key_settings_never_the_key(
    tmp_path: Path, litellm_like: OpenAIDouble, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, litellm_like.base_url)  # AZURE_AI_KEY_HEADER left at api-key
    caplog.set_level(logging.INFO, logger="engram.chat.gateway")
    async with running(settings) as (_, client):
        reply = await client.post("/api/v1/chat", json={"content": "hi"})
        streamed = await client.post("/api/v1/chat/stream", json={"content": "hi"})
    for response in (reply, streamed):
        assert response.status_code == 502
        detail = response.json()["detail"]
        assert "401" in detail and "POST /v1/chat/completions" in detail
        assert "AZURE_AI_KEY and AZURE_AI_KEY_HEADER" in detail and "went in api-key" in detail
        assert KEY not in response.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("POST /v1/chat/completions" in w and "AZURE_AI_KEY_HEADER" in w for w in warnings)
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    ("endpoint_path", "called"),
    [
        ("/v1/openai/v1", "/v1/openai/v1/chat/completions"),  # issue 20: the old completion rule
        ("", "/chat/completions"),  # a bare non-Azure host is used as given
    ],
)
async def test_wrong_route_names_the_path_and_the_endpoint_setting(
    tmp_path: Path,
    litellm_like: OpenAIDouble,
    caplog: pytest.LogCaptureFixture,
    endpoint_path: str,
    called: str,
) -> None:
    settings = settings_for(
        tmp_path, server_url(litellm_like) + endpoint_path, azure_ai_key_header="authorization"
    )
    caplog.set_level(logging.WARNING, logger="engram.chat.gateway")
    async with running(settings) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"})
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert f"no route POST {called} (upstream 404)" in detail
    assert "check AZURE_AI_ENDPOINT" in detail and "AZURE_AI_DEPLOYMENT" not in detail
    assert "127.0.0.1" not in detail and KEY not in response.text  # the path only, never host or key
    assert f"POST {called}" in caplog.text and KEY not in caplog.text
    assert litellm_like.requests == []


@pytest.mark.parametrize(
    ("flavour", "code"), [("openai", "model_not_found"), ("azure", "DeploymentNotFound")]
)
async def test_unknown_model_names_the_deployment_setting(tmp_path: Path, flavour: str, code: str) -> None:
    double = OpenAIDouble(key=KEY, models={"gpt-real"}, flavour=flavour)  # type: ignore[arg-type]
    async with double, running(settings_for(tmp_path, double.base_url)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"})
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert f"no model or deployment named 'gpt-test' (upstream 404, {code}" in detail
    assert "POST /openai/v1/chat/completions" in detail
    assert "check AZURE_AI_DEPLOYMENT" in detail and "AZURE_AI_ENDPOINT" not in detail


async def test_keyless_refusal_points_at_the_managed_identity(tmp_path: Path) -> None:
    class Credential:
        async def get_token(self, *scopes: str, **_: object) -> AccessToken:
            return AccessToken("entra-token", 2**31)

        async def close(self) -> None:
            return None

    async with OpenAIDouble(key=KEY) as double:
        settings = make_settings(tmp_path, azure_ai_endpoint=double.base_url)
        gateway = Gateway.from_settings(settings, credential=Credential())  # type: ignore[arg-type]
        assert gateway is not None
        try:
            with pytest.raises(GatewayUpstreamError) as error:
                await gateway.complete([{"role": "user", "content": "hi"}])
        finally:
            await gateway.aclose()
    assert "managed identity" in error.value.message and "check AZURE_AI_KEY" in error.value.message
    assert error.value.fault == "AZURE_AI_KEY" and "entra-token" not in error.value.message
