"""The security layer through the real app: 401/403, websocket auth and tickets, limits, headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.security.authenticator import Authenticator
from app.security.entra import EntraValidator
from tests.app.security.conftest import CLIENT, TENANT, TokenFactory, bearer, service
from tests.conftest import make_settings
from tests.doubles.jwks import JwksServer


@pytest.fixture
def dev(tmp_path: Path) -> TestClient:
    with service(make_settings(tmp_path, auth_required=True)) as client:
        yield client  # type: ignore[misc]


# --- HTTP: 401 for identity, 403 for permission -------------------------------------------------------


def test_no_token_is_401_with_bearer_challenge(dev: TestClient) -> None:
    response = dev.post("/api/v1/voice/ticket")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_viewer_lacks_voice_permission_403(dev: TestClient) -> None:
    response = dev.post("/api/v1/voice/ticket", headers=bearer("dev_vera_viewer"))
    assert response.status_code == 403
    assert "voice" in response.json()["detail"]


def test_analyst_cannot_read_audit_or_erase_others(dev: TestClient) -> None:
    headers = bearer("dev_alice_analyst")
    assert dev.get("/api/v1/admin/audit", headers=headers).status_code == 403
    assert dev.delete("/api/v1/admin/users/bob", headers=headers).status_code == 403


def test_dev_token_outside_development_is_401(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, environment="test", auth_required=True)
    with service(settings) as client:
        response = client.post("/api/v1/voice/ticket", headers=bearer("dev_alice_admin"))
    assert response.status_code == 401


def test_poc_mode_is_anonymous_analyst(tmp_path: Path) -> None:
    with service(make_settings(tmp_path)) as client:
        assert client.post("/api/v1/voice/ticket").status_code == 200
        assert client.get("/api/v1/admin/audit").status_code == 403


async def test_entra_tokens_through_the_app_in_production(
    tmp_path: Path, jwks: JwksServer, make_token: TokenFactory
) -> None:
    # The sync TestClient runs in a worker thread: the JWKS server lives on this test's loop.
    import asyncio

    from app.security.entra import authenticator_for

    settings = make_settings(
        tmp_path,
        environment="production",
        auth_required=True,
        azure_tenant_id=TENANT,
        azure_ad_client_id=CLIENT,
    )
    production = authenticator_for(settings)._jwt_validator
    assert isinstance(production, EntraValidator) and production.require_mfa

    def run() -> list[object]:
        with service(settings) as client:
            validator = EntraValidator(TENANT, CLIENT, jwks_url=jwks.url, require_mfa=True)
            client.app.state.authenticator = Authenticator(settings, jwt_validator=validator)  # type: ignore[attr-defined]
            no_mfa = client.post("/api/v1/voice/ticket", headers=bearer(make_token()))
            mfa = client.post("/api/v1/voice/ticket", headers=bearer(make_token(acrs=["c1"])))
            not_admin = client.get("/api/v1/admin/audit", headers=bearer(make_token(acrs=["c1"])))
            no_roles = client.post(
                "/api/v1/voice/ticket", headers=bearer(make_token(acrs=["c1"], roles=None))
            )
        return [no_mfa.status_code, no_mfa.headers.get("www-authenticate", ""), mfa.status_code,
                not_admin.status_code, no_roles.status_code]  # fmt: skip

    no_mfa, challenge, mfa, not_admin, no_roles = await asyncio.to_thread(run)
    assert no_mfa == 401
    assert 'error="insufficient_claims"' in str(challenge) and 'claims="' in str(challenge)
    assert (mfa, not_admin, no_roles) == (200, 403, 403)


def test_identity_provider_out_of_reach_is_503_not_401(tmp_path: Path, make_token: TokenFactory) -> None:
    """Entra's keys unreachable: the caller did nothing wrong, so no sign-in loop - retry later."""
    settings = make_settings(tmp_path, auth_required=True, azure_tenant_id=TENANT, azure_ad_client_id=CLIENT)
    with service(settings) as client:
        validator = EntraValidator(TENANT, CLIENT, jwks_url="http://127.0.0.1:9/keys")  # nothing on 9
        client.app.state.authenticator = Authenticator(settings, jwt_validator=validator)  # type: ignore[attr-defined]
        response = client.post("/api/v1/voice/ticket", headers=bearer(make_token()))
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/test/ws", subprotocols=["engram.v1", f"bearer.{make_token()}"]),
        ):
            pass
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert "www-authenticate" not in response.headers
    assert "Entra ID" in response.json()["detail"] and "127.0.0.1" not in response.text
    assert info.value.code == 1013  # try again later, not a policy violation


# --- websockets ---------------------------------------------------------------------------------


def test_websocket_without_token_closes_1008(dev: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as info, dev.websocket_connect("/test/ws"):
        pass
    assert info.value.code == 1008


def test_websocket_with_bearer_subprotocol(dev: TestClient) -> None:
    with dev.websocket_connect("/test/ws", subprotocols=["engram.v1", "bearer.dev_alice_user"]) as ws:
        assert ws.receive_json() == {"user": "alice", "roles": ["user"]}
        assert ws.accepted_subprotocol == "engram.v1"  # never the credential


def test_websocket_with_bad_bearer_closes_1008(dev: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as info,
        dev.websocket_connect("/test/ws", subprotocols=["engram.v1", "bearer.not-a-token"]),
    ):
        pass
    assert info.value.code == 1008


@pytest.mark.parametrize("via", ["subprotocol", "query"])
def test_websocket_ticket_is_single_use(dev: TestClient, via: str) -> None:
    issued = dev.post("/api/v1/voice/ticket", headers=bearer("dev_alice_user"))
    assert issued.status_code == 200
    ticket = issued.json()["ticket"]
    assert issued.json()["ttl_seconds"] <= 60

    def connect() -> object:
        if via == "query":
            return dev.websocket_connect(f"/test/ws?ticket={ticket}", subprotocols=["engram.v1"])
        return dev.websocket_connect("/test/ws", subprotocols=["engram.v1", f"ticket.{ticket}"])

    with connect() as ws:  # type: ignore[attr-defined]
        assert ws.receive_json()["user"] == "alice"
        assert ws.accepted_subprotocol == "engram.v1"
    with pytest.raises(WebSocketDisconnect) as info, connect():  # type: ignore[attr-defined]
        pass
    assert info.value.code == 1008


def test_expired_ticket_is_refused(dev: TestClient) -> None:
    from datetime import UTC, datetime, timedelta

    from app.security.identity import POC_IDENTITY

    tickets = dev.app.state.tickets  # type: ignore[attr-defined]
    assert dev.portal is not None
    past = datetime.now(UTC) - timedelta(minutes=5)
    ticket, _ = dev.portal.call(lambda: tickets.issue(POC_IDENTITY, now=past))
    with pytest.raises(WebSocketDisconnect) as info, dev.websocket_connect(f"/test/ws?ticket={ticket}"):
        pass
    assert info.value.code == 1008


def test_unknown_ticket_is_refused(dev: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as info, dev.websocket_connect("/test/ws?ticket=forged"):
        pass
    assert info.value.code == 1008


# --- abuse limits -------------------------------------------------------------------------------


def test_voice_start_rate_limit_429_with_retry_after(tmp_path: Path) -> None:
    with service(make_settings(tmp_path, auth_required=True, rate_limit_voice_per_minute=2)) as client:
        codes = [client.post("/api/v1/voice/ticket", headers=bearer("dev_alice_user")) for _ in range(3)]
        other = client.post("/api/v1/voice/ticket", headers=bearer("dev_bob_user"))
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert int(codes[2].headers["retry-after"]) >= 1
    assert other.status_code == 200  # per user, not global


def test_websocket_bearer_starts_are_rate_limited(tmp_path: Path) -> None:
    with service(make_settings(tmp_path, auth_required=True, rate_limit_voice_per_minute=1)) as client:
        with client.websocket_connect("/test/ws", subprotocols=["bearer.dev_alice_user"]) as ws:
            ws.receive_json()
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/test/ws", subprotocols=["bearer.dev_alice_user"]),
        ):
            pass
    assert info.value.code == 1013


def test_body_over_the_cap_is_413(tmp_path: Path) -> None:
    with service(make_settings(tmp_path, max_request_body_bytes=2048)) as client:
        small = client.post("/api/test/echo", content=b"x" * 1000)
        declared = client.post("/api/test/echo", content=b"x" * 4096)
        streamed = client.post("/api/test/echo", content=iter([b"x" * 1024] * 4))  # chunked, no length
    assert small.json() == {"received": 1000}
    assert declared.status_code == 413
    assert "2048" in declared.json()["detail"]
    assert streamed.status_code == 413


def test_security_headers(dev: TestClient) -> None:
    api = dev.post("/api/v1/voice/ticket", headers=bearer("dev_alice_user"))
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in api.headers  # development
    health = dev.get("/health")
    assert health.headers["x-content-type-options"] == "nosniff"


def test_hsts_in_production(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, environment="production")
    with service(settings) as client:
        response = client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_cors_exactly_from_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, cors_origins=["https://ui.example.invalid"])
    with service(settings) as client:
        allowed = client.options(
            "/api/v1/voice/ticket",
            headers={"Origin": "https://ui.example.invalid", "Access-Control-Request-Method": "POST"},
        )
        refused = client.options(
            "/api/v1/voice/ticket",
            headers={"Origin": "https://evil.example.invalid", "Access-Control-Request-Method": "POST"},
        )
    assert allowed.headers["access-control-allow-origin"] == "https://ui.example.invalid"
    assert "access-control-allow-origin" not in refused.headers


def test_a_cross_origin_401_exposes_its_challenge(tmp_path: Path) -> None:
    """The UI on the Static Web App reads WWW-Authenticate (the MFA claims challenge) from the API."""
    settings = make_settings(tmp_path, cors_origins=["https://ui.example.invalid"], auth_required=True)
    with service(settings) as client:
        response = client.post("/api/v1/voice/ticket", headers={"Origin": "https://ui.example.invalid"})
    assert response.status_code == 401
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert "www-authenticate" in exposed
