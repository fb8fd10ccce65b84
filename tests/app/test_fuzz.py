"""The OpenAPI spec is the contract: schemathesis over every operation with all its checks.

Every check runs (server errors, status-code, content-type, header and response-schema conformance,
positive-data acceptance, negative-data rejection, ...), in both generation modes (valid and
invalid inputs), twice: in POC mode (no token) and with auth required (an admin dev token, so the
inputs reach the handlers). Any failure fails the test; so does a stack trace in any body.
Chat talks to the OpenAI-compatible double (on a loop thread, for the life of the test process),
so a valid chat request gets a reply rather than the documented 503 for unconfigured chat.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from app.db.migrate import upgrade_sync
from app.main import create_app
from tests.conftest import make_settings
from tests.doubles.openai_server import OpenAIDouble
from tests.e2e.harness import LoopThread

# In error bodies (success bodies may echo the caller's own text: the chat double quotes the message).
_LEAKS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc", "asyncpg.exceptions")
_LIMITS = {"rate_limit_chat_per_minute": 100_000, "rate_limit_voice_per_minute": 100_000}
#: Examples per operation and mode; raise it for a deeper run (ENGRAM_FUZZ_EXAMPLES=200).
_EXAMPLES = int(os.environ.get("ENGRAM_FUZZ_EXAMPLES", "10"))
_LOOP = LoopThread()
_GATEWAY = _LOOP.run(OpenAIDouble().__aenter__())
_CHAT = {"azure_ai_endpoint": _GATEWAY.base_url, "azure_ai_key": "fuzz-key"}


class LifespanOnce:
    """The app with one lifespan for the whole run, as under uvicorn.

    Schemathesis' pytest plugin ends the app's lifespan after each test item and starts it again for
    the next; the service's lifespan runs once per process (its shutdown closes the gateway client).
    The first startup reaches the app; later startups and every shutdown are answered here, and the
    app's lifespan stays running on the plugin's event loop thread.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._started = False
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
            if not self._started:
                await self._start(scope)
            await send({"type": "lifespan.startup.complete"})

    async def _start(self, scope: dict[str, Any]) -> None:
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        started = asyncio.Event()

        async def app_send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.failed":
                raise RuntimeError(f"the app failed to start: {message.get('message')}")
            if message["type"] == "lifespan.startup.complete":
                started.set()

        await to_app.put({"type": "lifespan.startup"})
        self._task = asyncio.ensure_future(self.app(scope, to_app.get, app_send))
        await started.wait()
        self._started = True


def _schema(**overrides: object) -> schemathesis.schemas.BaseSchema:
    data = Path(tempfile.mkdtemp(prefix="engram-fuzz-"))
    app_settings = make_settings(data, **_LIMITS, **_CHAT, **overrides)
    upgrade_sync(app_settings)
    return schemathesis.openapi.from_asgi("/openapi.json", LifespanOnce(create_app(app_settings)))


poc = _schema()
authenticated = _schema(auth_required=True)


def _no_leak(case: schemathesis.Case, response: Any) -> None:
    if response.status_code < 400:
        return
    for leak in _LEAKS:
        assert leak not in response.text, f"{case.method} {case.path} leaks {leak!r}"


@poc.parametrize()
@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_contract_in_poc_mode(case: schemathesis.Case) -> None:
    response = case.call_and_validate()
    _no_leak(case, response)


@authenticated.parametrize()
@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_contract_with_auth(case: schemathesis.Case) -> None:
    response = case.call_and_validate(headers={"Authorization": "Bearer dev_fuzz_admin"})
    _no_leak(case, response)
