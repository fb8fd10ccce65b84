"""Production-mode smoke: the app built by `create_app` from ENVIRONMENT=production settings that pass
the SOP guard, with Entra tokens checked against a JWKS served on loopback.

A token proving MFA chats; one without MFA gets 401 with the `insufficient_claims` challenge; the
voice websocket opens with a single-use ticket; responses carry HSTS and the other security headers.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

from app.security import entra
from app.settings import Settings, check_sop
from tests.doubles.jwks import serve_jwks
from tests.integration.helpers import Stack, bearer, stack

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
USER_OID = "00000000-0000-0000-0000-0000000000a1"
UI = "https://ui.example.com"
KID = "prod-kid"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    """An Entra v2 access token for the API, as a user of the tenant would present it."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "aud": CLIENT,
        "tid": TENANT,
        "oid": USER_OID,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "roles": ["engram.user"],
        "scp": "access_as_user",
        "ver": "2.0",
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture
async def production(
    database_settings: Settings, signing_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    async with serve_jwks([{**public, "kid": KID, "use": "sig", "alg": "RS256"}]) as jwks:
        # The only stand-in: Entra's key endpoint for the tenant is this loopback server.
        monkeypatch.setattr(entra, "jwks_url_for", lambda tenant: jwks.url)
        settings = database_settings.model_copy(
            update={
                "environment": "production",
                "auth_required": True,
                "azure_tenant_id": TENANT,
                "azure_ad_client_id": CLIENT,
                "encryption_key": SecretStr(Fernet.generate_key().decode()),
                "cors_origins": [UI],
                "data_retention_days": 90,
                "audit_log_enabled": True,
                "mfa_auth_context_id": "c1",
            }
        )
        async with stack(settings) as s:
            assert check_sop(s.env.settings) == [], "these settings must pass the production guard"
            yield s


async def test_a_token_with_mfa_chats(production: Stack, signing_key: rsa.RSAPrivateKey) -> None:
    with_mfa = token(signing_key, acrs=["c1"])
    response = await production.http.post(
        "/api/v1/chat", json={"content": "Status of the Orion launch?"}, headers=bearer(with_mfa)
    )
    assert response.status_code == 200, response.text
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    sid = response.json()["session_id"]
    episode = await production.http.get(f"/api/v1/memory/episodes/{sid}", headers=bearer(with_mfa))
    assert episode.status_code == 200
    assert [t["role"] for t in episode.json()["transcript"]] == ["user", "assistant"]
    amr = await production.http.post(
        "/api/v1/chat", json={"content": "hi"}, headers=bearer(token(signing_key, amr=["pwd", "mfa"]))
    )
    assert amr.status_code == 401  # v2.0 access tokens carry no `amr`: only `acrs` proves MFA


async def test_a_token_without_mfa_gets_the_claims_challenge(
    production: Stack, signing_key: rsa.RSAPrivateKey
) -> None:
    response = await production.http.post(
        "/api/v1/chat", json={"content": "hi"}, headers=bearer(token(signing_key, amr=["pwd"]))
    )
    assert response.status_code == 401
    assert 'error="insufficient_claims"' in response.headers["www-authenticate"]
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert production.gateway.requests == []
    ticket = await production.http.post("/api/v1/voice/ticket", headers=bearer(token(signing_key)))
    assert ticket.status_code == 401


async def test_dev_tokens_and_anonymous_calls_are_refused(production: Stack) -> None:
    for headers in ({}, bearer("dev_root_admin")):
        response = await production.http.post("/api/v1/chat", json={"content": "hi"}, headers=headers)
        assert response.status_code == 401
    assert (await production.http.get("/docs")).status_code == 404


async def test_the_voice_websocket_opens_with_a_ticket(
    production: Stack, signing_key: rsa.RSAPrivateKey
) -> None:
    with_mfa = token(signing_key, acrs=["c1"])
    issued = await production.http.post("/api/v1/voice/ticket", headers=bearer(with_mfa))
    assert issued.status_code == 200, issued.text
    ticket = issued.json()["ticket"]
    await production.talk("prod-voice-1", "Any blockers for Orion?", "None so far.", ticket=ticket, origin=UI)
    episode = await production.http.get("/api/v1/memory/episodes/prod-voice-1", headers=bearer(with_mfa))
    assert episode.status_code == 200, episode.text
    assert [(t["metadata"]["channel"], t["content"]) for t in episode.json()["transcript"]] == [
        ("voice", "Any blockers for Orion?"),
        ("voice", "None so far."),
    ]
    await production.settle()
    records = await production.env.app.state.audit.query(limit=1000)
    ws = [r for r in records if r.method == "WS"]
    assert [r.event for r in ws] == ["ws.start", "ws.end"]
    assert {r.user_ref for r in ws} == {production.env.app.state.audit.user_ref(USER_OID)}
