"""SOP 10.1's open routes answer without a token in every environment and reveal nothing private.

Everything else keeps demanding a token (a sample of closed routes is checked alongside).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.app.security.conftest import CLIENT, TENANT, service
from tests.conftest import make_settings

OPEN_ROUTES = (
    "/health",
    "/ready",
    "/api/v1/agents",
    "/api/v1/agents/elena",
    "/api/v1/voice/status",
    "/api/v1/voice/config/elena",
)
CLOSED_ROUTES = (
    ("GET", "/api/v1/memory/episodes"),
    ("POST", "/api/v1/voice/ticket"),
    ("GET", "/api/v1/admin/audit"),
    ("DELETE", "/api/v1/chat/session/s1"),
)
_SECRETS = {
    "azure_voicelive_key": "voicelive-secret-key-123",
    "azure_ai_key": "gateway-secret-key-456",
    "zep_api_key": "zep-secret-key-789",
}


@pytest.mark.parametrize(
    "environment",
    [
        {"environment": "development", "auth_required": True},
        {"environment": "test", "auth_required": True},
        {"environment": "production", "auth_required": True, "azure_tenant_id": TENANT,
         "azure_ad_client_id": CLIENT},
    ],
    ids=["development", "test", "production"],
)  # fmt: skip
def test_open_routes_need_no_token_and_reveal_no_secret(
    tmp_path: Path, environment: dict[str, object]
) -> None:
    settings = make_settings(
        tmp_path,
        azure_voicelive_endpoint="https://voice.example.com",
        azure_ai_endpoint="https://gateway.example.com",
        zep_api_url="https://zep.example.com",
        **_SECRETS,
        **environment,
    )
    with service(settings) as client:
        answers = {path: client.get(path) for path in OPEN_ROUTES}
        closed = {path: client.request(method, path).status_code for method, path in CLOSED_ROUTES}
    for path, response in answers.items():
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:200]}"
        body = json.dumps(response.json())
        for name, secret in _SECRETS.items():
            assert secret not in body, f"{path} reveals {name}"
        for private in ("user_id", "owner_id", "tenant", "token", "database_url", "sqlite", "postgresql"):
            assert private not in body.lower(), f"{path} mentions {private}"
    assert set(closed.values()) == {401}, closed
