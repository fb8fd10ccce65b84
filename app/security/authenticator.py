"""Turns a bearer token (or its absence) into an `Identity`.

Modes, by settings: POC (AUTH_REQUIRED=false, development only - the guard refuses it elsewhere)
gives the anonymous `poc-user`; dev tokens `dev_<user>_<role>` are honoured only in development.
Entra ID JWT validation plugs in as `jwt_validator` (see the security issue).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from app.security.identity import POC_IDENTITY, Identity, Role
from app.settings import Settings

_DEV_TOKEN = re.compile(r"^dev_(?P<user>[A-Za-z0-9.-]{1,64})_(?P<role>viewer|user|analyst|admin)$")

JwtValidator = Callable[[str], Awaitable[Identity]]


class AuthError(Exception):
    """Authentication failed; `message` is safe to show, `reason` is the metric label."""

    def __init__(self, message: str, reason: str, *, www_authenticate: str = "Bearer") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.www_authenticate = www_authenticate


class IdentityProviderUnavailable(AuthError):
    """The token could not be checked because the identity provider is out of reach.

    Not the caller's fault: HTTP answers 503 with Retry-After (a 401 would send clients into a
    sign-in loop), websockets close with 1013 (try again later).
    """

    def __init__(self, message: str, reason: str, *, retry_after_s: int) -> None:
        super().__init__(message, reason)
        self.retry_after_s = retry_after_s


class Authenticator:
    def __init__(self, settings: Settings, jwt_validator: JwtValidator | None = None) -> None:
        self._settings = settings
        self._jwt_validator = jwt_validator

    async def authenticate(self, token: str | None) -> Identity:
        if token:
            dev = _DEV_TOKEN.match(token)
            if dev and self._settings.environment == "development":
                return Identity(
                    user_id=dev["user"],
                    tenant_id="dev",
                    roles=frozenset({Role(dev["role"])}),
                    auth_method="dev",
                )
            if self._jwt_validator is not None and token.count(".") == 2:
                return await self._jwt_validator(token)
            if not self._settings.auth_required:
                # POC mode still rejects a token it cannot read, so a client learns its token is wrong.
                raise AuthError("the bearer token is not valid here", "invalid_token")
            raise AuthError("the bearer token is not valid", "invalid_token")
        if not self._settings.auth_required:
            return POC_IDENTITY
        raise AuthError("authentication required: send Authorization: Bearer <token>", "missing_token")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
