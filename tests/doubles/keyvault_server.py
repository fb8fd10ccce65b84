"""A local stand-in for the Key Vault secrets REST API (never shipped), over TLS on loopback.

Just what `engram secrets` calls through the real `azure-keyvault-secrets` client:
`GET /secrets` (current version's properties), `GET /secrets/{name}/versions`,
`GET /secrets/{name}[/{version}]` (the value), `PUT /secrets/{name}` (a new version) and
`PATCH /secrets/{name}/{version}` (attributes).
Shapes and Unix-second timestamps as Key Vault answers them.

The SDK's challenge handshake is played for real: a request without a bearer token (the SDK's first,
sent without its body) gets `401` with `WWW-Authenticate: Bearer authorization=..., resource=...`; the
SDK then asks its credential for a token for that resource and resends the request with its body. Only
the expected token is accepted.

TLS is not optional: the SDK refuses bearer authentication on any non-https URL (`_enforce_tls` in its
challenge policy), so the double serves https with a self-signed certificate for 127.0.0.1
(`tests.doubles.tls`), and the test passes that certificate as the client's `connection_verify`.
The challenge names `https://vault.azure.net`, which does not match 127.0.0.1, so the client is built
with `verify_challenge_resource=False` in tests only.
"""

from __future__ import annotations

import ssl
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.doubles.server import LoopbackServer
from tests.doubles.tls import loopback_certificate

TOKEN = "test-keyvault-token"
TENANT = "00000000-0000-0000-0000-00000000aaaa"
CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="https://vault.azure.net"'
)


@dataclass
class FakeVersion:
    version: str
    value: str
    created: int  # Unix seconds
    updated: int
    enabled: bool = True
    expires: int | None = None
    content_type: str | None = "text/plain"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    authorized: bool
    body: Any


class KeyVaultDouble:
    """`async with KeyVaultDouble(tmp_path) as kv:`, then `SecretClient(kv.url, ..., connection_verify=...)`
    with `str(kv.ca)`."""

    def __init__(self, directory: Path) -> None:
        self.ca, self._key = loopback_certificate(directory, "kv-double")
        self.secrets: dict[str, list[FakeVersion]] = {}  # oldest version first
        self.requests: list[Recorded] = []
        app = web.Application()
        app.router.add_get("/secrets", self._list)
        app.router.add_get("/secrets/{name}/versions", self._versions)
        app.router.add_get("/secrets/{name}", self._get)
        app.router.add_get("/secrets/{name}/", self._get)
        app.router.add_get("/secrets/{name}/{version}", self._get)
        app.router.add_put("/secrets/{name}", self._set)
        app.router.add_patch("/secrets/{name}/{version}", self._update)
        app.router.add_patch("/secrets/{name}/", self._update)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca, self._key)
        self._server = LoopbackServer(app, ssl_context=context)

    @property
    def url(self) -> str:
        return self._server.url

    def add(
        self, name: str, value: str, *, created: float, expires: float | None = None, enabled: bool = True
    ) -> str:
        """Seed a version (as of `created`, Unix seconds); returns its version id."""
        version = FakeVersion(uuid.uuid4().hex, value, int(created), int(created), enabled, None)
        if expires is not None:
            version.expires = int(expires)
        self.secrets.setdefault(name, []).append(version)
        return version.version

    def current(self, name: str) -> FakeVersion:
        return self.secrets[name][-1]

    async def __aenter__(self) -> KeyVaultDouble:
        await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    # --- wire ----------------------------------------------------------------------------------

    async def _gate(self, request: web.Request) -> web.Response | None:
        body = await request.json() if request.can_read_body else None
        authorization = request.headers.get("Authorization", "")
        self.requests.append(Recorded(request.method, request.path, bool(authorization), body))
        if "api-version" not in request.query:
            return _error(400, "BadParameter", "The api-version query parameter is missing.")
        if not authorization:
            return web.json_response(
                {
                    "error": {
                        "code": "Unauthorized",
                        "message": "AKV10000: Request is missing a Bearer token.",
                    }
                },
                status=401,
                headers={"WWW-Authenticate": CHALLENGE},
            )
        if authorization != f"Bearer {TOKEN}":
            return _error(401, "Unauthorized", "AKV10032: Invalid issuer or token.")
        return None

    def _id(self, name: str, version: str | None = None) -> str:
        return f"{self.url}/secrets/{name}" + (f"/{version}" if version else "")

    def _properties(self, name: str, v: FakeVersion, *, versioned: bool = True) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "enabled": v.enabled,
            "created": v.created,
            "updated": v.updated,
            "recoveryLevel": "Recoverable",
            "recoverableDays": 90,
        }
        if v.expires is not None:
            attributes["exp"] = v.expires
        return {
            "id": self._id(name, v.version if versioned else None),
            "attributes": attributes,
            "contentType": v.content_type,
            "tags": dict(v.tags),
        }

    def _find(self, name: str, version: str | None) -> FakeVersion | None:
        versions = self.secrets.get(name) or []
        if not version:
            return versions[-1] if versions else None
        return next((v for v in versions if v.version == version), None)

    async def _list(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused:
            return refused
        value = [self._properties(n, vs[-1], versioned=False) for n, vs in self.secrets.items() if vs]
        return web.json_response({"value": value, "nextLink": None})

    async def _versions(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused:
            return refused
        name = request.match_info["name"]
        if name not in self.secrets:
            return _not_found(name)
        value = [self._properties(name, v) for v in self.secrets[name]]
        return web.json_response({"value": value, "nextLink": None})

    async def _get(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused:
            return refused
        name = request.match_info["name"]
        found = self._find(name, request.match_info.get("version"))
        if found is None:
            return _not_found(name)
        return web.json_response({"value": found.value, **self._properties(name, found)})

    async def _set(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused:
            return refused
        body = self.requests[-1].body or {}
        if "value" not in body:
            return _error(400, "BadParameter", "Property value is required.")
        name = request.match_info["name"]
        now = int(time.time())  # whole seconds, like Key Vault
        attributes = body.get("attributes") or {}
        version = FakeVersion(
            uuid.uuid4().hex,
            body["value"],
            now,
            now,
            attributes.get("enabled", True),
            attributes.get("exp"),
            body.get("contentType"),
            body.get("tags") or {},
        )
        self.secrets.setdefault(name, []).append(version)
        return web.json_response({"value": version.value, **self._properties(name, version)})

    async def _update(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused:
            return refused
        name = request.match_info["name"]
        found = self._find(name, request.match_info.get("version"))
        if found is None:
            return _not_found(name)
        body = self.requests[-1].body or {}
        attributes = body.get("attributes") or {}
        if "enabled" in attributes:
            found.enabled = bool(attributes["enabled"])
        if "exp" in attributes:
            found.expires = attributes["exp"]
        if "contentType" in body:
            found.content_type = body["contentType"]
        if "tags" in body:
            found.tags = dict(body["tags"] or {})
        found.updated = int(time.time())
        return web.json_response(self._properties(name, found))


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _not_found(name: str) -> web.Response:
    return _error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
