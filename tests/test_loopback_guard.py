"""The loopback guard (tests/loopback_guard.py) refuses documentation addresses and outside names, lets
loopback and unix sockets through, and fails a test even when the code under test swallows the refusal."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest

from tests.loopback_guard import LoopbackGuard, OffLoopbackError, is_loopback

DOCUMENTATION_ADDRESS = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never routed
DOCUMENTATION_NAME = "example.invalid"  # RFC 2606: never resolves


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        (DOCUMENTATION_ADDRESS, False),
        ("2001:db8::1", False),
        ("0.0.0.0", False),
        (DOCUMENTATION_NAME, False),
    ],
)
def test_loopback_is_127_8_and_ipv6_one_and_localhost(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_connect_to_a_documentation_address_is_refused(loopback_guard: LoopbackGuard) -> None:
    with loopback_guard.expect_refusal() as seen, pytest.raises(OffLoopbackError, match="192.0.2.1"):
        socket.create_connection((DOCUMENTATION_ADDRESS, 80), timeout=1)
    assert seen == [f"connect(('{DOCUMENTATION_ADDRESS}', 80))"]


def test_looking_up_an_outside_name_is_refused(loopback_guard: LoopbackGuard) -> None:
    with loopback_guard.expect_refusal() as seen, pytest.raises(OffLoopbackError, match="example.invalid"):
        socket.getaddrinfo(DOCUMENTATION_NAME, 443)
    assert seen == [f"getaddrinfo('{DOCUMENTATION_NAME}')"]


async def test_aiohttp_through_asyncio_is_refused(loopback_guard: LoopbackGuard) -> None:
    with loopback_guard.expect_refusal():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(OffLoopbackError):  # not an OSError: clients do not retry or hide it
                await session.get(f"http://{DOCUMENTATION_ADDRESS}/", timeout=aiohttp.ClientTimeout(total=2))


async def test_loopback_and_unix_sockets_pass(tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    unix = await asyncio.start_unix_server(lambda r, w: w.close(), tmp_path / "s")
    async with server, unix:
        for host in ("127.0.0.1", "localhost"):
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
        _, writer = await asyncio.open_unix_connection(tmp_path / "s")
        writer.close()


def test_a_swallowed_refusal_still_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import socket

        def test_health_check_that_hides_errors():
            try:
                socket.create_connection(("{DOCUMENTATION_ADDRESS}", 443), timeout=1)
            except Exception:
                pass  # "unreachable": the code under test carries on

        def test_on_loopback():
            socket.getaddrinfo("localhost", 80)
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "tests.loopback_guard", "-p", "no:cacheprovider", "-p", "no:asyncio"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test reached off loopback: connect(('192.0.2.1', 443))*"])
