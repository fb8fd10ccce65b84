"""Wire doubles for the CLI tests (rollback, secret rotation), each served on its own loop in a thread:
the CLI runs `asyncio.run` itself, so a double cannot share the test's loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import TypeVar

import pytest
from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

from app.cli import rollback as rollback_cli
from tests.app.ops.test_rollback import client_for, three_revisions
from tests.doubles.arm_server import SUBSCRIPTION, ArmDouble

D = TypeVar("D", bound=AbstractAsyncContextManager[object])


@contextmanager
def served_in_thread(double: D) -> Iterator[D]:
    """`double` entered on a fresh loop running in a daemon thread; exited and the loop closed after."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(double.__aenter__())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield double
    finally:
        asyncio.run_coroutine_threadsafe(double.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmDouble]:
    """The ARM double; `arm_client` (shared by rollback and rotate) points the SDK at it."""
    with served_in_thread(ArmDouble(three_revisions())) as double:

        @asynccontextmanager
        async def local_arm(subscription: str) -> AsyncIterator[ContainerAppsAPIClient]:
            assert subscription == SUBSCRIPTION
            async with client_for(double) as client:
                yield client

        monkeypatch.setattr(rollback_cli, "arm_client", local_arm)
        yield double
