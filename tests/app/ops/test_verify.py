"""`engram verify` against the real service served by uvicorn, with the local AI test servers.

A fully configured service passes every check; each missing piece fails with the hint the runbook gives
for it: no VoiceLive endpoint, the gateway refusing the service (401), VoiceLive refusing the app's
credentials, memory not reading back (two replicas, each on its own embedded SQLite: DATABASE_URL unset),
and a service that is not there at all.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from app.db.migrate import upgrade
from app.main import create_app
from app.ops.verify import (
    HINTS,
    VERIFY_QUESTION,
    CheckStatus,
    VerifyInputError,
    VerifyOptions,
    VerifyReport,
    normalise_api_base,
    run_verify,
    websocket_url,
)
from app.settings import Settings
from tests.app.voice.harness import served
from tests.conftest import make_settings
from tests.doubles.openai_server import OpenAIDouble, Step
from tests.doubles.voicelive_server import VoiceLiveDouble

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


@pytest.fixture
async def voicelive() -> AsyncIterator[VoiceLiveDouble]:
    async with VoiceLiveDouble() as double:
        yield double


def full_settings(
    tmp_path: Path, gateway: OpenAIDouble, voicelive: VoiceLiveDouble, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "azure_ai_endpoint": gateway.base_url,
        "azure_ai_key": "gw-key",
        "azure_ai_deployment": "gpt-test",
        "azure_voicelive_endpoint": voicelive.endpoint,
        "azure_voicelive_key": voicelive.api_key,
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


@asynccontextmanager
async def service(settings: Settings) -> AsyncIterator[str]:
    """The migrated app under uvicorn; yields its base URL."""
    app = create_app(settings)
    await upgrade(app.state.engine)
    async with served(app) as port:
        yield f"http://127.0.0.1:{port}"


async def verify(base: str, **options: Any) -> VerifyReport:
    return await run_verify(VerifyOptions(api_base=base, timeout_s=10, chat_timeout_s=20, **options))


def outcome(report: VerifyReport) -> dict[str, tuple[str, str | None]]:
    return {c.name: (c.status.value, c.hint_id) for c in report.checks}


# --- a healthy deployment ------------------------------------------------------------------------


async def test_configured_service_passes_every_check(
    tmp_path: Path, gateway: OpenAIDouble, voicelive: VoiceLiveDouble
) -> None:
    async with service(full_settings(tmp_path, gateway, voicelive)) as base:
        report = await verify(base)
    assert report.passed, report.as_dict()
    assert [c.name for c in report.checks] == [
        "health",
        "chat",
        "voice status",
        "voice session",
        "memory read-back",
    ]
    # the SOP question reached the model, through the gateway, for the agent asked for
    assert gateway.requests[-1].messages[-1] == {"role": "user", "content": VERIFY_QUESTION}
    # the voice session really opened upstream, with the agent's configuration
    assert (await voicelive.session()).session_updates


async def test_token_rides_in_header_and_subprotocol_and_is_never_reported(
    tmp_path: Path, gateway: OpenAIDouble, voicelive: VoiceLiveDouble
) -> None:
    settings = full_settings(tmp_path, gateway, voicelive, auth_required=True)
    async with service(settings) as base:
        anonymous = await verify(base)
        report = await verify(base, token="dev_verifier_user")
    assert outcome(anonymous)["chat"] == ("fail", "auth-token")
    assert outcome(anonymous)["voice session"] == ("fail", "voice-ws-refused")
    assert report.passed, report.as_dict()
    assert "dev_verifier_user" not in str(report.as_dict())


# --- each missing piece, and its hint ------------------------------------------------------------


async def test_missing_voicelive_endpoint_names_the_setting(tmp_path: Path, gateway: OpenAIDouble) -> None:
    settings = make_settings(tmp_path, azure_ai_endpoint=gateway.base_url, azure_ai_key="gw-key")
    async with service(settings) as base:
        report = await verify(base)
    got = outcome(report)
    assert got["voice status"] == ("fail", "voice-not-configured")
    assert got["voice session"] == ("fail", "voice-not-configured")
    assert got["chat"] == ("pass", None) and got["memory read-back"] == ("pass", None)
    assert not report.passed
    assert "AZURE_VOICELIVE_ENDPOINT" in (report.checks[2].hint or "")


async def test_chat_upstream_401_points_at_the_gateway_key(
    tmp_path: Path, gateway: OpenAIDouble, voicelive: VoiceLiveDouble
) -> None:
    gateway.script(Step(status=401))
    async with service(full_settings(tmp_path, gateway, voicelive)) as base:
        report = await verify(base)
    got = outcome(report)
    assert got["chat"] == ("fail", "chat-upstream-auth")
    assert got["memory read-back"] == ("skip", None)  # nothing to read back without a chat turn
    assert "APIM subscription" in (report.checks[1].hint or "")


async def test_chat_upstream_404_route_points_at_the_endpoint_and_names_the_path(
    tmp_path: Path, gateway: OpenAIDouble, voicelive: VoiceLiveDouble
) -> None:
    settings = full_settings(tmp_path, gateway, voicelive, azure_ai_endpoint=gateway.base_url + "/openai/v1")
    async with service(settings) as base:
        report = await verify(base)
    chat = report.checks[1]
    assert (chat.status, chat.hint_id) == (CheckStatus.FAIL, "chat-upstream-endpoint")
    assert chat.called == "POST /openai/v1/openai/v1/chat/completions"
    assert "Suspect AZURE_AI_ENDPOINT" in (chat.hint or "")
    assert "The service called POST /openai/v1/openai/v1/chat/completions." in (chat.hint or "")


async def test_unknown_deployment_points_at_the_deployment_setting(
    tmp_path: Path, voicelive: VoiceLiveDouble
) -> None:
    gateway = OpenAIDouble(models={"gpt-real"}, flavour="azure")
    async with gateway, service(full_settings(tmp_path, gateway, voicelive)) as base:
        report = await verify(base)
    chat = report.checks[1]
    assert chat.hint_id == "chat-upstream-deployment"
    assert "DeploymentNotFound" in chat.detail and "'gpt-test'" in chat.detail
    assert "Suspect AZURE_AI_DEPLOYMENT" in (chat.hint or "")
    assert chat.called == "POST /openai/v1/chat/completions"


async def test_key_in_the_wrong_header_points_at_the_key_header(
    tmp_path: Path, voicelive: VoiceLiveDouble
) -> None:
    gateway = OpenAIDouble("/v1", key="gw-key", key_header="authorization")
    async with gateway, service(full_settings(tmp_path, gateway, voicelive)) as base:  # api-key by default
        report = await verify(base)
    chat = report.checks[1]
    assert chat.hint_id == "chat-upstream-auth"
    assert "AZURE_AI_KEY_HEADER" in (chat.hint or "") and "POST /v1/chat/completions" in (chat.hint or "")
    assert report.as_dict()["checks"][1]["called"] == "POST /v1/chat/completions"
    assert "gw-key" not in str(report.as_dict())


async def test_chat_not_configured_is_503_with_the_endpoint_hint(
    tmp_path: Path, voicelive: VoiceLiveDouble
) -> None:
    settings = make_settings(
        tmp_path, azure_voicelive_endpoint=voicelive.endpoint, azure_voicelive_key=voicelive.api_key
    )
    async with service(settings) as base:
        report = await verify(base)
    assert outcome(report)["chat"] == ("fail", "chat-not-configured")
    assert outcome(report)["voice session"] == ("pass", None)


async def test_voicelive_refusing_the_app_points_at_the_speech_user_role(
    tmp_path: Path, gateway: OpenAIDouble, voicelive: VoiceLiveDouble
) -> None:
    settings = full_settings(tmp_path, gateway, voicelive, azure_voicelive_key="not-the-key")
    async with service(settings) as base:
        report = await verify(base)
    assert outcome(report)["voice session"] == ("fail", "voice-auth")
    assert "Cognitive Services Speech User" in (report.checks[3].hint or "")


async def test_memory_not_reading_back_points_at_the_database(
    tmp_path: Path, gateway: OpenAIDouble, voicelive: VoiceLiveDouble
) -> None:
    # Two replicas without DATABASE_URL: each keeps its own embedded SQLite, so the replica that
    # answered the chat is not the one asked for the episode.
    first = create_app(full_settings(tmp_path / "a", gateway, voicelive))
    second = create_app(full_settings(tmp_path / "b", gateway, voicelive))
    for app in (first, second):
        await upgrade(app.state.engine)

    async def two_replicas(scope: Scope, receive: Any, send: Any) -> None:
        replica = first if scope["type"] == "http" and scope["path"] == "/api/v1/chat" else second
        await replica(scope, receive, send)

    async with served(two_replicas) as port:  # type: ignore[arg-type]
        report = await verify(f"http://127.0.0.1:{port}")
    assert outcome(report)["chat"] == ("pass", None)
    assert outcome(report)["memory read-back"] == ("fail", "memory-empty")
    assert "DATABASE_URL" in (report.checks[4].hint or "")


async def test_unreachable_api_fails_health_and_skips_the_rest() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        report = await run_verify(VerifyOptions(api_base=f"http://127.0.0.1:{port}", timeout_s=2))
    assert not report.passed
    assert [c.status for c in report.checks] == [CheckStatus.FAIL] + [CheckStatus.SKIP] * 4
    assert report.checks[0].hint_id == "api-unreachable"


# --- input and documentation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.example.com/", "https://api.example.com"),
        ("http://127.0.0.1:8082", "http://127.0.0.1:8082"),
        ("https://gw.example.com/engram/", "https://gw.example.com/engram"),
    ],
)
def test_api_base_is_normalised(given: str, expected: str) -> None:
    assert normalise_api_base(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("api.example.com", "http\\(s\\) URL with a host"),
        ("ftp://api.example.com", "http\\(s\\) URL with a host"),
        ("https://<API_HOST>", "placeholder"),
        ("https://api.example.com/?x=1", "query string"),
    ],
)
def test_bad_api_base_is_a_clear_error(given: str, message: str) -> None:
    with pytest.raises(VerifyInputError, match=message):
        normalise_api_base(given)


def test_websocket_url_keeps_scheme_security_and_prefix() -> None:
    assert websocket_url("https://h.example.com/p", "/x") == "wss://h.example.com/p/x"
    assert websocket_url("http://127.0.0.1:1", "/x") == "ws://127.0.0.1:1/x"


def test_every_hint_is_documented_in_the_runbook() -> None:
    runbook = (Path(__file__).parents[3] / "docs" / "runbook.md").read_text()
    missing = [hint_id for hint_id in HINTS if f"### `{hint_id}`" not in runbook]
    assert not missing, f"docs/runbook.md has no section for: {missing}"
