"""A JWKS endpoint on loopback (what Entra's `/discovery/v2.0/keys` serves), with a hit counter.

The served key set can be swapped while running (key rotation) and every GET is counted, so tests
can assert how often the validator fetched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.doubles.server import LoopbackServer


@dataclass
class JwksServer:
    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    url: str = ""

    async def _handle(self, _request: web.Request) -> web.Response:
        self.hits += 1
        return web.json_response({"keys": self.keys})


@asynccontextmanager
async def serve_jwks(keys: list[dict[str, Any]]) -> AsyncIterator[JwksServer]:
    server = JwksServer(keys=list(keys))
    app = web.Application()
    app.router.add_get("/discovery/v2.0/keys", server._handle)
    async with LoopbackServer(app) as loopback:
        server.url = f"{loopback.url}/discovery/v2.0/keys"
        yield server
