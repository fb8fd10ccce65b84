"""`every(...)`: a job the service runs now and then every interval while it runs (the retention purges).

A failed run is logged (by error class only) and retried at the next interval; it never ends the
loop or the app. Leaving the context cancels the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger("engram.privacy")


@contextlib.asynccontextmanager
async def every(
    interval: float,
    job: Callable[[], Awaitable[object]],
    *,
    name: str,
    failure: str,
    on_failure: Callable[[], None] | None = None,
) -> AsyncIterator[None]:
    """Run `job` now and every `interval` seconds as task `name`; a failure logs `failure`."""

    async def _loop() -> None:
        while True:
            try:
                await job()
            except Exception as exc:  # retried next interval; it must not kill the app
                log.error(failure, extra={"error": type(exc).__name__})
                if on_failure is not None:
                    on_failure()
            await asyncio.sleep(interval)

    task = asyncio.create_task(_loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
