"""Start Azurite's blob service on a free port, in memory, with an account whose key is made per run.

`make azurite` (part of `make test`) installs it from tests/azurite/package-lock.json. Missing, the
tests that need it skip locally and fail under CI (`CI=true`), so a green CI run always ran them.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
EXECUTABLE = HERE / "node_modules" / ".bin" / "azurite-blob"
STARTUP_TIMEOUT_S = 30.0
ACCOUNT = "engramrec"


@dataclass(frozen=True)
class Azurite:
    port: int
    account: str
    key: str
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
            f"BlobEndpoint={self.endpoint};"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class AzuriteMissing(Exception):
    """Azurite is not installed (the tests skip locally and fail under CI; the bench exits)."""


@contextmanager
def azurite() -> Iterator[Azurite]:
    """A running Azurite blob service, or `AzuriteMissing`."""
    if not EXECUTABLE.exists():
        raise AzuriteMissing("Azurite is not installed: `make azurite` (npm ci in tests/azurite)")
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    port = _free_port()
    env = {**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{key}"}
    process = subprocess.Popen(
        [
            str(EXECUTABLE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",  # the SDK may speak a newer API version than this Azurite knows
            "--silent",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _listening(port):
            if process.poll() is not None:
                raise RuntimeError(
                    f"azurite exited: {process.stderr.read().decode()[-500:] if process.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"azurite did not listen on {port} within {STARTUP_TIMEOUT_S} s")
            time.sleep(0.1)
        yield Azurite(port, ACCOUNT, key, process)
    finally:
        process.kill()  # in memory: nothing to flush, and a graceful stop takes Azurite ~10 s
        process.wait()
