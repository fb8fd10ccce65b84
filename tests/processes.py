"""Local server processes for tests: a free loopback port, a clean environment, `engram serve` for real.

The e2e rig (tests/e2e/harness.py), the replica tests (tests/integration) and `engram serve`'s own
test start the service the way an operator does, as a process; this module is the one copy of how.
Every wait is on a condition with a bound (health answers, or the process exits), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.voicelive_server import VoiceLiveDouble

#: The `engram` command as this interpreter runs it (no dependency on an installed entry point).
ENGRAM = [sys.executable, "-c", "from app.cli import main; main()"]
START_TIMEOUT_S = 60.0
#: The only variables a child inherits: enough to run Python from the venv, no ambient configuration.
_INHERITED = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**settings: str) -> dict[str, str]:
    """This process's PATH, HOME, LANG and venv, plus `settings`: what a child `engram` sees."""
    env = {k: v for k, v in os.environ.items() if k in _INHERITED}
    env.update(settings)
    return env


def engram_env(
    gateway: OpenAIDouble, voicelive: VoiceLiveDouble | None = None, **settings: str
) -> dict[str, str]:
    """`clean_env` with chat (and voice) pointed at the doubles and only warnings in the log."""
    env = clean_env(AZURE_AI_ENDPOINT=gateway.base_url, AZURE_AI_KEY="test-gateway-key", LOG_LEVEL="WARNING")
    if voicelive is not None:
        env.update(AZURE_VOICELIVE_ENDPOINT=voicelive.endpoint, AZURE_VOICELIVE_KEY=voicelive.api_key)
    env.update(settings)
    return env


@dataclass
class Served:
    """An `engram serve` process, its base URL and the file its output goes to."""

    proc: subprocess.Popen[str]
    base: str
    log: Path

    def _not_started(self) -> str:
        code = self.proc.poll()
        state = "still starting" if code is None else f"exited with {code}"
        return f"engram serve did not start ({state}): {self.log.read_text()[-2000:]}"

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until /health answers 200; raise (with the log's tail) if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(self._not_started())

    async def until_healthy(self) -> None:
        """`wait_healthy` without blocking the event loop (for doubles served from the same loop)."""
        with contextlib.suppress(TimeoutError):
            async with httpx.AsyncClient(timeout=1) as client, asyncio.timeout(START_TIMEOUT_S):
                while self.proc.poll() is None:
                    try:
                        if (await client.get(f"{self.base}/health")).status_code == 200:
                            return
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)
        raise RuntimeError(self._not_started())

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate (SIGTERM, a graceful shutdown) and wait; kill if it does not exit in `timeout`."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def spawn_engram(
    workdir: Path, env: dict[str, str], port: int | None = None, log: str = "engram.log", *options: str
) -> Served:
    """Start `engram serve --port PORT [options]` in `workdir` with exactly `env`; output goes to
    `workdir/log`. Returns at once: call `wait_healthy` / `until_healthy` (replicas start together)."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / log).open("w") as output:  # the child keeps its own handle
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [*ENGRAM, "serve", "--port", str(port), *options],
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Served(proc, f"http://127.0.0.1:{port}", workdir / log)
