"""The redaction filter masks PII and credentials and leaves ordinary text alone."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from app.observability.logging import configure_logging, request_id_var
from app.observability.redaction import redact
from tests.conftest import make_settings

MASKED = [
    ("write to jane.doe@contoso.example", "jane.doe@contoso.example", "[EMAIL]"),
    ("call me on +1 425-555-0100", "425-555-0100", "[PHONE]"),
    ("uk office +44 20 7946 0958", "7946 0958", "[PHONE]"),
    ("(425) 555-0100 after six", "555-0100", "[PHONE]"),
    ("card 4111 1111 1111 1111 expires", "4111 1111 1111 1111", "[CARD]"),
    ("card 5500-0000-0000-0004 ok", "5500-0000-0000-0004", "[CARD]"),
    ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl", "[TOKEN]"),
    ("api-key: 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef", "[REDACTED]"),
    ("ZEP_API_KEY=z_1234567890abcdefghij", "z_1234567890abcdefghij", "[REDACTED]"),
    ('{"password": "hunter2-long"}', "hunter2-long", "[REDACTED]"),
    ("key sk_live_0123456789abcdefghij leaked", "sk_live_0123456789abcdefghij", "[API_KEY]"),
    ("openai sk-proj-0123456789abcdefghij leaked", "sk-proj-0123456789abcdefghij", "[API_KEY]"),
    (
        "tok eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl end",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
        "[JWT]",
    ),
]

KEPT = [
    "GET /api/v1/chat 200 in 12 ms",
    "started at 2026-11-23 19:59:52",
    "peer 192.168.100.200 connected",
    "epoch 1732392000000 ms",
    "card-like but not Luhn 4111111111111112",
    "session 5f0c2d9e-1a2b-4c3d-8e9f-001122334455",
]


@pytest.mark.parametrize(
    ("text", "secret", "marker"), MASKED, ids=[m[2] + str(i) for i, m in enumerate(MASKED)]
)
def test_sensitive_values_are_masked(text: str, secret: str, marker: str) -> None:
    out = redact(text)
    assert secret not in out
    assert marker in out


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact(text) == text


def test_log_lines_are_json_with_request_id_and_redacted(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = configure_logging(make_settings(tmp_path), stream=stream)
    try:
        token = request_id_var.set("req-42")
        try:
            logging.getLogger("engram.test").info(
                "user %s said hi", "jane.doe@contoso.example", extra={"detail": {"phone": "+1 425-555-0100"}}
            )
            try:
                raise ValueError("bad key api_key=abcdef1234567890")
            except ValueError:
                logging.getLogger("engram.test").exception("failed")
        finally:
            request_id_var.reset(token)
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["request_id"] == "req-42"
    assert first["message"] == "user [EMAIL] said hi"
    assert first["detail"] == {"phone": "[PHONE]"}
    assert first["level"] == "INFO"
    assert "abcdef1234567890" not in json.dumps(second)
    assert "ValueError" in second["exc_info"]
