"""Entra ID tokens against a JWKS served on loopback: what passes, what fails and why.

Keys are generated per session (trusted and evil); the JWKS server counts fetches so the cache and
the bounded refresh on an unknown kid are observable. A fake clock drives the refresh spacing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.security import entra
from app.security.authenticator import Authenticator, AuthError, IdentityProviderUnavailable
from app.security.entra import MIN_REFRESH_INTERVAL, EntraValidator, claims_challenge
from app.security.identity import Permission, Role
from tests.app.security.conftest import (
    CLIENT,
    KID,
    OTHER_TENANT,
    TENANT,
    V1_ISSUER,
    TokenFactory,
    entra_user_claims,
    public_jwk,
)
from tests.conftest import make_settings
from tests.doubles.jwks import JwksServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def validator(jwks: JwksServer, clock: FakeClock | None = None, **kwargs: Any) -> EntraValidator:
    return EntraValidator(TENANT, CLIENT, jwks_url=jwks.url, clock=clock or FakeClock(), **kwargs)


async def rejected(v: EntraValidator, token: str) -> AuthError:
    with pytest.raises(AuthError) as info:
        await v(token)
    return info.value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def _valid_claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": V1_ISSUER,
        "aud": CLIENT,
        "tid": TENANT,
        "oid": "x",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }


# --- valid tokens -----------------------------------------------------------------------------------


async def test_valid_v2_token_gives_entra_identity(jwks: JwksServer, make_token: TokenFactory) -> None:
    identity = await validator(jwks)(make_token(roles=["engram.analyst"]))
    assert identity.user_id == "00000000-0000-0000-0000-00000000a11c"
    assert identity.tenant_id == TENANT
    assert identity.roles == {Role.ANALYST}
    assert identity.auth_method == "entra"


async def test_valid_v1_token_with_api_uri_audience(jwks: JwksServer, make_token: TokenFactory) -> None:
    identity = await validator(jwks)(make_token(iss=V1_ISSUER, aud=f"api://{CLIENT}", ver="1.0"))
    assert identity.roles == {Role.USER}


async def test_service_principal_token_without_user_claims(
    jwks: JwksServer, make_token: TokenFactory
) -> None:
    # Client-credentials tokens (the test environment) carry oid/tid and app roles, no scp/amr.
    identity = await validator(jwks)(make_token(idtyp="app", roles=["engram.admin"]))
    assert identity.is_admin


async def test_keys_are_cached_between_tokens(jwks: JwksServer, make_token: TokenFactory) -> None:
    v = validator(jwks)
    for _ in range(3):
        await v(make_token())
    assert jwks.hits == 1


async def test_a_known_key_is_answered_without_a_thread_hop(
    jwks: JwksServer, make_token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = validator(jwks)
    await v(make_token())
    hops: list[object] = []
    real = asyncio.to_thread

    async def counting(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(entra.asyncio, "to_thread", counting)
    for _ in range(3):
        await v(make_token())
    assert hops == []
    v.keys.clear()  # forgetting the keys goes back to the client (and its fetch)
    await v(make_token())
    assert len(hops) == 1


# --- time claims --------------------------------------------------------------------------------------


async def test_expired_token(jwks: JwksServer, make_token: TokenFactory) -> None:
    error = await rejected(validator(jwks), make_token(exp=int(time.time()) - 120))
    assert (error.reason, error.message) == ("expired", "the token has expired")


async def test_expiry_within_leeway_is_accepted(jwks: JwksServer, make_token: TokenFactory) -> None:
    await validator(jwks)(make_token(exp=int(time.time()) - 10))


async def test_not_yet_valid_token(jwks: JwksServer, make_token: TokenFactory) -> None:
    error = await rejected(validator(jwks), make_token(nbf=int(time.time()) + 600))
    assert error.reason == "not_yet_valid"


# --- audience, issuer, tenant ------------------------------------------------------------------------


async def test_wrong_audience(jwks: JwksServer, make_token: TokenFactory) -> None:
    error = await rejected(validator(jwks), make_token(aud="api://some-other-api"))
    assert error.reason == "wrong_audience"


@pytest.mark.parametrize(
    "issuer",
    [
        f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0",
        f"https://sts.windows.net/{OTHER_TENANT}/",
        "https://evil.example.invalid/",
    ],
)
async def test_wrong_issuer(jwks: JwksServer, make_token: TokenFactory, issuer: str) -> None:
    assert (await rejected(validator(jwks), make_token(iss=issuer))).reason == "wrong_issuer"


async def test_right_issuer_but_other_tid(jwks: JwksServer, make_token: TokenFactory) -> None:
    assert (await rejected(validator(jwks), make_token(tid=OTHER_TENANT))).reason == "wrong_tenant"


@pytest.mark.parametrize("claim", ["oid", "tid", "exp"])
async def test_required_claims(jwks: JwksServer, make_token: TokenFactory, claim: str) -> None:
    assert (await rejected(validator(jwks), make_token(**{claim: None}))).reason == "missing_claim"


# --- algorithm and signature attacks ------------------------------------------------------------------


async def test_alg_none_is_refused(jwks: JwksServer) -> None:
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": KID}, _valid_claims()) + "."
    error = await rejected(validator(jwks), token)
    assert error.reason == "bad_algorithm"
    assert jwks.hits == 0  # refused before any key lookup


async def test_hs256_signed_with_the_public_key_is_refused(
    jwks: JwksServer, trusted_key: rsa.RSAPrivateKey
) -> None:
    public_pem = trusted_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": KID}, _valid_claims())
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    error = await rejected(validator(jwks), signing_input + "." + _b64(signature))
    assert error.reason == "bad_algorithm"


async def test_signed_by_another_key_with_trusted_kid(
    jwks: JwksServer, make_token: TokenFactory, evil_key: rsa.RSAPrivateKey
) -> None:
    error = await rejected(validator(jwks), make_token(key=evil_key, roles=["engram.admin"]))
    assert error.reason == "bad_signature"


async def test_tampered_payload(jwks: JwksServer, make_token: TokenFactory) -> None:
    header, _, signature = make_token().split(".")
    forged = _b64(json.dumps({**_valid_claims(), "roles": ["engram.admin"]}).encode())
    assert (await rejected(validator(jwks), f"{header}.{forged}.{signature}")).reason == "bad_signature"


async def test_garbage_is_malformed(jwks: JwksServer) -> None:
    assert (await rejected(validator(jwks), "not.a.jwt")).reason == "malformed"


async def test_token_without_kid(jwks: JwksServer, make_token: TokenFactory) -> None:
    assert (await rejected(validator(jwks), make_token(kid=None))).reason == "missing_kid"


# --- unknown kid: one bounded refresh, then reject; rotation picks up new keys -----------------------


async def test_unknown_kid_refreshes_once_then_rejects(
    jwks: JwksServer, make_token: TokenFactory, evil_key: rsa.RSAPrivateKey
) -> None:
    clock = FakeClock()
    v = validator(jwks, clock)
    await v(make_token())
    assert jwks.hits == 1
    clock.now += MIN_REFRESH_INTERVAL + 1
    error = await rejected(v, make_token(key=evil_key, kid="forged-kid"))
    assert error.reason == "unknown_kid"
    assert jwks.hits == 2  # exactly one refresh
    # A flood of forged kids right after does not turn into a flood of fetches.
    for n in range(5):
        await rejected(v, make_token(key=evil_key, kid=f"forged-{n}"))
    assert jwks.hits == 2


async def test_rotated_key_is_fetched_on_first_sight(
    jwks: JwksServer, make_token: TokenFactory, evil_key: rsa.RSAPrivateKey
) -> None:
    clock = FakeClock()
    v = validator(jwks, clock)
    await v(make_token())
    rotated = evil_key  # stands in for Entra's next signing key
    jwks.keys.append(public_jwk(rotated, "next-kid"))
    clock.now += MIN_REFRESH_INTERVAL + 1
    identity = await v(make_token(key=rotated, kid="next-kid"))
    assert identity.tenant_id == TENANT
    assert jwks.hits == 2


async def test_jwks_unreachable_is_a_clean_provider_error(make_token: TokenFactory) -> None:
    v = EntraValidator(TENANT, CLIENT, jwks_url="http://127.0.0.1:9/keys")  # nothing listens on 9
    error = await rejected(v, make_token())
    assert error.reason == "jwks_unavailable"
    assert isinstance(error, IdentityProviderUnavailable) and error.retry_after_s > 0
    assert "127.0.0.1" not in error.message


# --- roles ------------------------------------------------------------------------------------------------


async def test_missing_roles_gives_an_identity_with_no_permissions(
    jwks: JwksServer, make_token: TokenFactory
) -> None:
    identity = await validator(jwks)(make_token(roles=None))
    assert identity.roles == frozenset()
    assert not identity.can(Permission.CHAT)


@pytest.mark.parametrize(
    "roles",
    [
        ["admin"],
        ["Engram.Admin"],
        ["engram.admin "],
        "engram.admin",
        [["engram.admin"]],
        ["engram.superuser"],
    ],
)
async def test_role_escalation_attempts_grant_nothing(
    jwks: JwksServer, make_token: TokenFactory, roles: object
) -> None:
    identity = await validator(jwks)(make_token(roles=roles))
    assert not identity.is_admin
    assert identity.roles == frozenset()


async def test_roles_map_to_the_permission_table(jwks: JwksServer, make_token: TokenFactory) -> None:
    v = validator(jwks)
    user = await v(make_token(roles=["engram.user"]))
    analyst = await v(make_token(roles=["engram.analyst"]))
    admin = await v(make_token(roles=["engram.admin"]))
    assert user.can(Permission.CHAT) and not user.can(Permission.MEMORY_SEARCH)
    assert analyst.can(Permission.MEMORY_FACTS) and not analyst.can(Permission.AUDIT_READ)
    assert admin.can(Permission.ERASE_ANY) and admin.can(Permission.MEMORY_ANY)


# --- MFA in production -------------------------------------------------------------------------------------


async def test_production_without_mfa_gets_a_claims_challenge(
    jwks: JwksServer, make_token: TokenFactory
) -> None:
    error = await rejected(validator(jwks, require_mfa=True, auth_context_id="c3"), make_token())
    assert error.reason == "mfa_required"
    assert error.www_authenticate.startswith("Bearer ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', error.www_authenticate))
    assert params["error"] == "insufficient_claims"
    assert params["authorization_uri"] == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize"
    challenge = params["claims"]
    assert json.loads(base64.b64decode(challenge)) == {
        "access_token": {"acrs": {"essential": True, "value": "c3"}}
    }
    assert challenge == claims_challenge("c3")


async def test_entra_v2_user_token_without_acrs_is_challenged_then_with_acrs_accepted(
    jwks: JwksServer, make_token: TokenFactory
) -> None:
    """The real flow: the first token MSAL gets has no `acrs`; after the step-up it holds `c1`."""
    v = validator(jwks, require_mfa=True)
    error = await rejected(v, make_token(**entra_user_claims()))
    assert error.reason == "mfa_required" and 'error="insufficient_claims"' in error.www_authenticate
    identity = await v(make_token(**entra_user_claims(acrs=["c1"])))
    assert identity.auth_method == "entra" and identity.claims["scp"] == "access_as_user"
    assert identity.claims["ver"] == "2.0" and "amr" not in identity.claims


async def test_app_only_tokens_are_not_asked_for_mfa_in_production(
    jwks: JwksServer, make_token: TokenFactory
) -> None:
    """A service principal (client credentials: `roles`, no `scp`) cannot do MFA; its app role decides."""
    v = validator(jwks, require_mfa=True)
    app_only = make_token(roles=["engram.user"], scp=None, azp="dddddddd-0000-0000-0000-00000000000d")
    identity = await v(app_only)
    assert identity.roles == {Role.USER}
    # a user token that claims to be an app token still needs the context
    with_idtyp = make_token(**entra_user_claims(), idtyp="app")
    assert (await rejected(v, with_idtyp)).reason == "mfa_required"


async def test_entra_v2_user_token_outside_production_needs_no_acrs(
    jwks: JwksServer, make_token: TokenFactory
) -> None:
    identity = await validator(jwks)(make_token(**entra_user_claims(cp1=False)))
    assert identity.roles == {Role.USER}


@pytest.mark.parametrize(
    "claims", [{"acrs": ["c1"]}, {"acrs": ["c2", "c1"]}, {"acrs": ["c1"], "xms_cc": ["cp1"]}]
)
async def test_production_with_mfa_proof(
    jwks: JwksServer, make_token: TokenFactory, claims: dict[str, Any]
) -> None:
    await validator(jwks, require_mfa=True)(make_token(**claims))


# `amr` is not in v2.0 access tokens; a token that carries one anyway proves nothing here.
@pytest.mark.parametrize(
    "claims", [{"acrs": ["c2"]}, {"amr": ["pwd"]}, {"amr": ["pwd", "mfa"]}, {"acrs": "c1"}, {"acrs": []}]
)
async def test_production_with_other_context_or_no_mfa(
    jwks: JwksServer, make_token: TokenFactory, claims: dict[str, Any]
) -> None:
    assert (await rejected(validator(jwks, require_mfa=True), make_token(**claims))).reason == "mfa_required"


# --- through the Authenticator ------------------------------------------------------------------------------


async def test_dev_token_outside_development_is_not_sent_to_entra(tmp_path: Any, jwks: JwksServer) -> None:
    settings = make_settings(tmp_path, environment="test", auth_required=True)
    auth = Authenticator(settings, jwt_validator=validator(jwks))
    with pytest.raises(AuthError):
        await auth.authenticate("dev_mallory_admin")
    assert jwks.hits == 0


async def test_authenticator_uses_entra_for_jwts(
    tmp_path: Any, jwks: JwksServer, make_token: TokenFactory
) -> None:
    settings = make_settings(tmp_path, environment="test", auth_required=True)
    identity = await Authenticator(settings, jwt_validator=validator(jwks)).authenticate(make_token())
    assert identity.auth_method == "entra"
