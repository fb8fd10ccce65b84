"""Keeps the suite on loopback: a test whose process connects, sends or resolves a name off this host fails.

A pytest plugin (registered by tests/conftest.py). It wraps `socket.socket.connect`, `connect_ex`,
`sendto` and `socket.getaddrinfo` for the whole run, so asyncio, aiohttp, httpx, asyncpg and redis
clients are all covered (they reach the network through these). Allowed: 127.0.0.0/8, ::1 (and its
IPv4-mapped form), the name `localhost`, unix sockets, and name look-ups of IP literals (they do not
touch the network). Anything else raises `OffLoopbackError` at the call *and* is recorded, so a test
still fails when the code under test swallows the error (a health check that reports "unreachable").
Subprocesses (uvicorn `engram serve`, Chromium) are out of reach; their addresses come from the test.

We did not take `pytest-socket`: its `--allow-hosts` guards `connect` only, so a DNS look-up of an
outside name would still leave the host, and it adds a dependency for ~80 lines.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


class OffLoopbackError(RuntimeError):
    """A test reached for an address off this host."""


def is_loopback(host: object) -> bool:
    """Whether an address or host name stays on this host (names other than localhost do not count)."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class LoopbackGuard:
    """The patches and the violations they saw since the last `take()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._violations: list[str] = []
        self._originals: dict[str, Any] = {}

    def _refuse(self, what: str) -> OffLoopbackError:
        with self._lock:
            self._violations.append(what)
        return OffLoopbackError(f"test reached off loopback: {what} (tests/loopback_guard.py)")

    def check_address(self, family: int, address: object, call: str) -> None:
        """Raise (and record) unless a connect/send address stays on this host."""
        if family == getattr(socket, "AF_UNIX", None) or address is None:
            return
        host = address[0] if isinstance(address, tuple) and address else address
        if not is_loopback(host):
            raise self._refuse(f"{call}({address!r})")

    def check_lookup(self, host: object) -> None:
        """Raise (and record) unless a name look-up stays on this host."""
        if host is None:  # a passive (bind) look-up
            return
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
        if name in ("", "*") or is_loopback(name) or _is_ip_literal(name):
            return
        raise self._refuse(f"getaddrinfo({name!r})")

    def install(self) -> None:
        guard = self
        connect = socket.socket.connect
        connect_ex = socket.socket.connect_ex
        sendto = socket.socket.sendto
        getaddrinfo = socket.getaddrinfo
        self._originals = {"connect": connect, "connect_ex": connect_ex, "sendto": sendto}

        def guarded_connect(sock: socket.socket, address: Any) -> None:
            guard.check_address(sock.family, address, "connect")
            return connect(sock, address)

        def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
            guard.check_address(sock.family, address, "connect_ex")
            return connect_ex(sock, address)

        def guarded_sendto(sock: socket.socket, data: Any, *args: Any) -> int:
            guard.check_address(sock.family, args[-1], "sendto")
            return sendto(sock, data, *args)

        def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            guard.check_lookup(host)
            return getaddrinfo(host, *args, **kwargs)

        socket.socket.connect = guarded_connect  # type: ignore[method-assign, assignment]
        socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign, assignment]
        socket.socket.sendto = guarded_sendto  # type: ignore[method-assign, assignment]
        socket.getaddrinfo = guarded_getaddrinfo
        self._originals["getaddrinfo"] = getaddrinfo

    def uninstall(self) -> None:
        if not self._originals:
            return
        socket.socket.connect = self._originals["connect"]  # type: ignore[method-assign]
        socket.socket.connect_ex = self._originals["connect_ex"]  # type: ignore[method-assign]
        socket.socket.sendto = self._originals["sendto"]  # type: ignore[method-assign]
        socket.getaddrinfo = self._originals["getaddrinfo"]
        self._originals = {}

    def take(self) -> list[str]:
        """The violations seen since the last call, cleared."""
        with self._lock:
            seen, self._violations = self._violations, []
        return seen

    @contextmanager
    def expect_refusal(self) -> Iterator[list[str]]:
        """For the guard's own tests: the block must be refused; its violations are consumed."""
        before = self.take()
        seen: list[str] = []
        try:
            yield seen
        finally:
            seen.extend(self.take())
            with self._lock:
                self._violations[:0] = before
        if not seen:
            raise AssertionError("the loopback guard let the block through")


_KEY = pytest.StashKey[LoopbackGuard]()


def pytest_configure(config: pytest.Config) -> None:
    guard = LoopbackGuard()
    guard.install()
    config.stash[_KEY] = guard


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(_KEY, None)
    if guard is not None:
        guard.uninstall()


def _fail_on_violations(item: pytest.Item) -> None:
    seen = item.config.stash[_KEY].take()
    if seen:
        pytest.fail("test reached off loopback: " + "; ".join(seen), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    result = yield  # a violation left by a previous test's threads shows here, not lost
    _fail_on_violations(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    _fail_on_violations(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    result = yield
    _fail_on_violations(item)
    return result


@pytest.fixture
def loopback_guard(pytestconfig: pytest.Config) -> LoopbackGuard:
    """The running guard, for the tests that prove it refuses."""
    return pytestconfig.stash[_KEY]
