"""Entra ID access-token validation (test: service principals; uat/prod: users, prod with MFA).

RS256 only, keys from the tenant's JWKS through PyJWT's `PyJWKClient`. The key set is cached; an
unknown `kid` triggers at most one refresh, and refreshes are spaced by `MIN_REFRESH_INTERVAL` so a
stream of forged kids cannot turn us into a JWKS-fetching amplifier. The blocking fetch runs in a
worker thread under an asyncio lock, so the event loop never waits on the network and a burst of
requests shares one fetch. Every PyJWT error maps to one fixed client message; logs carry the error
class and at most `kid`, never the token.

MFA in production (docs/sign-in.md): v2.0 access tokens carry no `amr`, so
the proof is the Conditional Access authentication context (`acrs` holding MFA_AUTH_CONTEXT_ID, `c1`),
which Entra adds only once the CA policy bound to that context (MFA) is satisfied. A token without it
gets a 401 claims challenge (`error="insufficient_claims"`); the UI (MSAL with the `CP1` capability)
asks Entra for a token with those claims and retries once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError

from app.security.authenticator import Authenticator, AuthError, IdentityProviderUnavailable
from app.security.identity import Identity, Role
from app.settings import Settings

log = logging.getLogger("engram.security.entra")

#: Entra app roles (the `roles` claim) -> our roles. Anything else in the claim grants nothing.
APP_ROLES: dict[str, Role] = {
    "engram.user": Role.USER,
    "engram.analyst": Role.ANALYST,
    "engram.admin": Role.ADMIN,
}

ALGORITHMS = ["RS256"]
LEEWAY_SECONDS = 60  # clock skew tolerated on exp / nbf / iat
JWKS_CACHE_SECONDS = 3600  # Entra rotates signing keys over weeks; an unknown kid refreshes early
MIN_REFRESH_INTERVAL = 30.0  # seconds between two forced refreshes of the key set
JWKS_TIMEOUT_SECONDS = 5.0
JWKS_RETRY_AFTER_SECONDS = 30  # what a caller is told to wait when Entra's keys are out of reach

_MESSAGES: list[tuple[type[jwt.PyJWTError], str, str]] = [
    (jwt.ExpiredSignatureError, "the token has expired", "expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet", "not_yet_valid"),
    (jwt.InvalidAudienceError, "the token is not meant for this API", "wrong_audience"),
    (jwt.InvalidIssuerError, "the token was issued by another tenant or authority", "wrong_issuer"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim", "missing_claim"),
    (jwt.InvalidSignatureError, "the token signature is not valid", "bad_signature"),
    (jwt.InvalidAlgorithmError, "the token algorithm is not allowed", "bad_algorithm"),
    (jwt.DecodeError, "the token is malformed", "malformed"),
]


def jwks_url_for(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/discovery/v2.0/keys"


def issuers_for(tenant_id: str) -> list[str]:
    """v1 (`sts.windows.net`) and v2 (`login.microsoftonline.com/.../v2.0`) issuers of the tenant."""
    return [f"https://sts.windows.net/{tenant_id}/", f"https://login.microsoftonline.com/{tenant_id}/v2.0"]


def claims_challenge(auth_context_id: str) -> str:
    """The base64 claims request a client passes back to Entra to step up to the auth context."""
    request = {"access_token": {"acrs": {"essential": True, "value": auth_context_id}}}
    return base64.b64encode(json.dumps(request, separators=(",", ":")).encode()).decode()


def authorize_url_for(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/authorize"


def challenge_header(auth_context_id: str, authorize_url: str) -> str:
    """The `WWW-Authenticate` value of a claims challenge (Microsoft's documented format).

    `error="insufficient_claims"` and `claims=` tell MSAL to ask Entra again with that claims request;
    `authorization_uri` is required by the format, `realm` may be empty.
    """
    return (
        f'Bearer realm="", authorization_uri="{authorize_url}", error="insufficient_claims", '
        f'claims="{claims_challenge(auth_context_id)}"'
    )


def is_delegated(claims: dict[str, object]) -> bool:
    """A user's token (it carries the delegated `scp`); an app-only token (a service principal's,
    client credentials) has `roles` and no `scp`. MFA is a property of a user's sign-in: workload
    identities cannot perform it, so the MFA rule applies to user tokens only (access-token claims
    reference: `scp` is present only in delegated tokens; `idtyp` is an optional claim)."""
    return "scp" in claims or claims.get("idtyp") == "user"


def proves_mfa(claims: dict[str, object], auth_context_id: str) -> bool:
    """True when the token's `acrs` names the authentication context whose CA policy demands MFA.

    Only `acrs` counts: v2.0 access tokens (what the app registration asks for) carry no `amr`, and
    Entra puts the context in `acrs` only after its Conditional Access policy was satisfied.
    """
    acrs = claims.get("acrs")
    return isinstance(acrs, list) and auth_context_id in acrs


def roles_from(claim: object) -> frozenset[Role]:
    """Map the `roles` claim; exact, case-sensitive names only (Entra emits the value as defined)."""
    if not isinstance(claim, list):
        return frozenset()
    return frozenset(APP_ROLES[r] for r in claim if isinstance(r, str) and r in APP_ROLES)


class _KeySet:
    """The tenant's signing keys: cached, refreshed at most once per unknown kid, off the loop."""

    def __init__(self, jwks_url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = PyJWKClient(
            jwks_url, cache_keys=False, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS,
            timeout=JWKS_TIMEOUT_SECONDS,
        )  # fmt: skip
        self._lock = asyncio.Lock()
        self._clock = clock
        self._last_refresh: float | None = None
        # The keys last handed out, by kid: a known kid within the cache lifespan is answered here,
        # without the lock and the thread hop the client's own (equally fresh) cache would cost.
        self._known: dict[str, PyJWK] = {}
        self._known_at = 0.0

    async def key_for(self, kid: str) -> PyJWK:
        known = self._known.get(kid)
        if known is not None and time.monotonic() - self._known_at < JWKS_CACHE_SECONDS:
            return known
        async with self._lock:
            keys = await asyncio.to_thread(self._client.get_signing_keys)
            self._mark_first_fetch()
            found = _match(keys, kid)
            if found is None and self._may_refresh():
                self._last_refresh = self._clock()
                keys = await asyncio.to_thread(self._client.get_signing_keys, True)
                found = _match(keys, kid)
            self._known = {k.key_id: k for k in keys if k.key_id}
            self._known_at = time.monotonic()
        if found is None:
            raise AuthError("the token was signed with an unknown key", "unknown_kid")
        return found

    def _mark_first_fetch(self) -> None:
        if self._last_refresh is None:
            self._last_refresh = self._clock()

    def _may_refresh(self) -> bool:
        return self._last_refresh is None or self._clock() - self._last_refresh >= MIN_REFRESH_INTERVAL

    def clear(self) -> None:
        """Forget cached keys and the refresh clock (tests, and after an incident)."""
        self._client = PyJWKClient(
            self._client.uri, cache_keys=False, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS,
            timeout=JWKS_TIMEOUT_SECONDS,
        )  # fmt: skip
        self._last_refresh = None
        self._known = {}


def _match(keys: Iterable[PyJWK], kid: str) -> PyJWK | None:
    return next((k for k in keys if k.key_id == kid), None)


class EntraValidator:
    """Validates an Entra ID access token and turns it into an `Identity` (the Authenticator's hook)."""

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        require_mfa: bool = False,
        auth_context_id: str = "c1",
        jwks_url: str | None = None,
        issuers: Sequence[str] | None = None,
        authorize_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`jwks_url`, `issuers` and `authorize_url` default to the tenant's Entra endpoints; tests point
        them at a local OpenID provider (the service itself never overrides them)."""
        if not tenant_id or not client_id:
            raise ValueError("EntraValidator needs AZURE_TENANT_ID and AZURE_AD_CLIENT_ID")
        self.tenant_id = tenant_id
        self.audiences = [client_id, f"api://{client_id}"]
        self.issuers = list(issuers) if issuers else issuers_for(tenant_id)
        self.authorize_url = authorize_url or authorize_url_for(tenant_id)
        self.require_mfa = require_mfa
        self.auth_context_id = auth_context_id
        self.keys = _KeySet(jwks_url or jwks_url_for(tenant_id), clock)

    async def __call__(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthError("the token is malformed", "malformed") from None
        if header.get("alg") not in ALGORITHMS:
            raise AuthError("the token algorithm is not allowed", "bad_algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token names no signing key", "missing_kid")
        try:
            key = await self.keys.key_for(kid)
        except (PyJWKClientConnectionError, PyJWKClientError) as exc:
            log.warning("JWKS fetch failed", extra={"error": type(exc).__name__, "kid": kid})
            raise IdentityProviderUnavailable(
                "the signing keys cannot be fetched from Entra ID; try again shortly",
                "jwks_unavailable",
                retry_after_s=JWKS_RETRY_AFTER_SECONDS,
            ) from None
        claims = self._decode(token, key, kid)
        if claims.get("tid") != self.tenant_id:
            raise AuthError("the token was issued by another tenant or authority", "wrong_tenant")
        if self.require_mfa and is_delegated(claims) and not proves_mfa(claims, self.auth_context_id):
            raise AuthError(
                "this environment requires multi-factor authentication; sign in again with the claims "
                "challenge",
                "mfa_required",
                www_authenticate=challenge_header(self.auth_context_id, self.authorize_url),
            )
        return Identity(
            user_id=str(claims["oid"]),
            tenant_id=str(claims["tid"]),
            roles=roles_from(claims.get("roles")),
            auth_method="entra",
            claims=claims,
        )

    def _decode(self, token: str, key: PyJWK, kid: str) -> dict[str, object]:
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.audiences,
                issuer=self.issuers,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "oid", "tid"], "verify_signature": True},
            )
        except jwt.PyJWTError as exc:
            for error_class, message, reason in _MESSAGES:
                if isinstance(exc, error_class):
                    log.info("token rejected", extra={"error": type(exc).__name__, "kid": kid})
                    raise AuthError(message, reason) from None
            raise AuthError("the token is not valid", "invalid_token") from None
        return claims


def authenticator_for(settings: Settings) -> Authenticator:
    """The service's authenticator: Entra validation when the tenant and client id are set."""
    validator = None
    if settings.azure_tenant_id and settings.azure_ad_client_id:
        validator = EntraValidator(
            settings.azure_tenant_id,
            settings.azure_ad_client_id,
            require_mfa=settings.environment == "production",
            auth_context_id=settings.mfa_auth_context_id,
        )
    return Authenticator(settings, jwt_validator=validator)
