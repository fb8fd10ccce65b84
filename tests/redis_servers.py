"""Real Redis for tests: the machine's (a key prefix per test, its keys deleted after) and a private
`redis-server` on a free port for tests that stop and restart Redis (never the machine's own).

Fixtures are registered in `tests/conftest.py`: `redis_url` + `redis_prefix`, and `own_redis`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
MACHINE_REDIS_URL = os.environ.get("ENGRAM_TEST_REDIS", f"redis://{REDIS_HOST}:{REDIS_PORT}/0")
START_TIMEOUT_S = 10.0


def redis_available(url: str = MACHINE_REDIS_URL) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis; the test must keep to its `redis_prefix`."""
    if not redis_available():
        pytest.skip(f"no Redis answers at {MACHINE_REDIS_URL}")
    return MACHINE_REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys (hash tag `{prefix}`) are deleted afterwards."""
    prefix = f"engram-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{{{prefix}}}*", count=500):
            client.delete(key)
    finally:
        client.close()


@dataclass
class OwnRedis:
    """A `redis-server` this test owns (no persistence), stoppable and restartable on one port."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not redis_available(self.url):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
