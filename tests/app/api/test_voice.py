"""`GET /api/v1/voice/status` and `/api/v1/voice/config/{agent}`: open routes, no secrets, 404s."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.agents import get_agent
from app.main import create_app
from app.settings import Settings
from tests.conftest import make_settings


async def _get(settings: Settings, path: str) -> httpx.Response:
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get(path)


async def test_status_unconfigured(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth_required=True)  # open route even with auth on
    response = await _get(settings, "/api/v1/voice/status")
    assert response.status_code == 200
    body = response.json()
    assert body["voicelive_configured"] is False and body["endpoint"] is None
    assert body["auth_mode"] == "managed_identity"
    assert body["active_sessions"] == 0 and body["deployment_sessions"] == 0
    assert body["agents"]["elena"] == {"voice": get_agent(settings, "elena").voice}
    assert set(body["agents"]) >= {"elena", "marcus"}


async def test_status_configured_with_key_shows_no_secret(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        azure_voicelive_endpoint="https://example-ai.services.ai.azure.com/",
        azure_voicelive_key="super-secret-key",
    )
    response = await _get(settings, "/api/v1/voice/status")
    body = response.json()
    assert body["voicelive_configured"] is True
    assert body["endpoint"] == "example-ai.services.ai.azure.com"
    assert body["auth_mode"] == "key"
    assert body["model"] == settings.azure_voicelive_model
    assert body["api_version"] == settings.azure_voicelive_api_version
    assert "super-secret-key" not in response.text


async def test_config_for_an_agent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    response = await _get(settings, "/api/v1/voice/config/marcus")
    assert response.json() == {
        "agent_id": "marcus",
        "voice_name": get_agent(settings, "marcus").voice,
        "model": settings.azure_voicelive_model,
        "endpoint_configured": False,
    }


async def test_config_for_an_unknown_agent_is_404(tmp_path: Path) -> None:
    response = await _get(make_settings(tmp_path), "/api/v1/voice/config/zed")
    assert response.status_code == 404
    assert "unknown agent 'zed'" in response.json()["detail"]
