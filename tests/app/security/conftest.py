"""RSA keys (trusted and evil), a JWKS on loopback, and `make_token(**overrides)` for Entra tests."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request, WebSocket
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from app.security.deps import CurrentIdentity
from app.settings import Settings
from tests.doubles.jwks import JwksServer, serve_jwks

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
OTHER_TENANT = "99999999-2222-3333-4444-555555555555"
V1_ISSUER = f"https://sts.windows.net/{TENANT}/"
V2_ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
KID = "trusted-kid"


@pytest.fixture(scope="session")
def trusted_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def evil_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@pytest.fixture
async def jwks(trusted_key: rsa.RSAPrivateKey) -> AsyncIterator[JwksServer]:
    async with serve_jwks([public_jwk(trusted_key, KID)]) as server:
        yield server


TokenFactory = Callable[..., str]

#: The UI's own app registration (the SPA client that asks for the API's `access_as_user` scope).
SPA_CLIENT = "cccccccc-bbbb-cccc-dddd-eeeeeeeeeeee"


def entra_user_claims(*, cp1: bool = True, acrs: list[str] | None = None) -> dict[str, Any]:
    """The claims of a delegated v2.0 access token as Entra issues it to the UI for the API.

    The claim set of the access-token claims reference (learn.microsoft.com/entra/identity-platform/
    access-token-claims-reference): no `amr` in v2.0, `azp` the client, `scp` the delegated scope,
    `roles` the app roles assigned to the user, `xms_cc` when the client declared CP1, `acrs` once a
    Conditional Access authentication context was satisfied.
    """
    claims: dict[str, Any] = {
        "aio": "AWQAm/8aaaaaa",
        "azp": SPA_CLIENT,
        "azpacr": "0",
        "name": "Alice Example",
        "preferred_username": "alice@contoso.example",
        "rh": "0.AAAA",
        "scp": "access_as_user",
        "sub": "pairwise-subject-of-alice",
        "uti": "unique-token-id",
        "ver": "2.0",
    }
    if cp1:
        claims["xms_cc"] = ["cp1"]
    if acrs is not None:
        claims["acrs"] = acrs
    return claims


@pytest.fixture
def make_token(trusted_key: rsa.RSAPrivateKey) -> TokenFactory:
    """A v2 user token for the test tenant; any claim or header can be overridden (None removes)."""

    def _make(
        *,
        key: Any = None,
        kid: str | None = KID,
        algorithm: str = "RS256",
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": V2_ISSUER,
            "aud": CLIENT,
            "tid": TENANT,
            "oid": "00000000-0000-0000-0000-00000000a11c",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "roles": ["engram.user"],
            "scp": "access_as_user",  # delegated: a user's token (None makes it app-only)
            "ver": "2.0",
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        header = {"kid": kid} if kid else {}
        header.update(headers or {})
        return jwt.encode(
            payload, key if key is not None else trusted_key, algorithm=algorithm, headers=header
        )

    return _make


# --- the service, through its real middlewares, with a small websocket route ---------------------------


@contextmanager
def service(settings: Settings, **state: Any) -> Iterator[TestClient]:
    """`create_app(settings)` on a migrated database, plus `/test/ws` (a stand-in voice socket)."""
    from app.db.migrate import upgrade_sync
    from app.main import create_app
    from app.security.deps import websocket_identity

    upgrade_sync(settings)
    app = create_app(settings)
    for name, value in state.items():
        setattr(app.state, name, value)

    @app.post("/api/test/echo")
    async def _echo(request: Request, _caller: CurrentIdentity) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.websocket("/test/ws")
    async def _socket(websocket: WebSocket) -> None:
        authenticated = await websocket_identity(websocket)
        if authenticated is None:
            return
        identity, subprotocol = authenticated
        await websocket.accept(subprotocol=subprotocol)
        await websocket.send_json({"user": identity.user_id, "roles": sorted(identity.roles)})
        await websocket.close()

    with TestClient(app, client=("203.0.113.7", 5000)) as client:
        yield client


def flush_audit(client: TestClient) -> None:
    assert client.portal is not None
    client.portal.call(client.app.state.audit.flush)  # type: ignore[attr-defined]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
