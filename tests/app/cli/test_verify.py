"""`engram verify` on the command line: JSON for CI, exit status, clear input errors, no token echoed."""

from __future__ import annotations

import json
import socket

from typer.testing import CliRunner

from app.cli import cli


def _refusing_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def test_json_report_and_exit_1_when_a_check_fails() -> None:
    sock, port = _refusing_port()
    with sock:
        result = CliRunner().invoke(
            cli,
            ["verify", "--api-base", f"http://127.0.0.1:{port}", "--json", "--timeout", "2"],
            env={"ENGRAM_VERIFY_TOKEN": "secret-token-value"},
        )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["passed"] is False
    assert report["checks"][0] == {
        "name": "health",
        "status": "fail",
        "detail": "GET /health: ConnectError",
        "hint_id": "api-unreachable",
        "hint": report["checks"][0]["hint"],
    }
    assert "secret-token-value" not in result.output


def test_table_shows_the_hint() -> None:
    sock, port = _refusing_port()
    with sock:
        result = CliRunner().invoke(
            cli, ["verify", "--api-base", f"http://127.0.0.1:{port}", "--timeout", "2"]
        )
    assert result.exit_code == 1
    assert "api-unreachable" in result.output and "verification failed" in result.output


def test_placeholder_url_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["verify", "--api-base", "https://<API_HOST>"])
    assert result.exit_code == 2
    assert "placeholder" in result.output
    assert "Traceback" not in result.output
