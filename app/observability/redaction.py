"""Masks personal data and credentials in text (SOP 6.7 "PII masked in logs").

Order matters: whole tokens (JWTs, bearer values, keys) go first so their pieces are not half-masked
as something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # JWT: three base64url parts, the first two start with '{"' encoded (eyJ).
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[JWT]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [TOKEN]"),
    # key=value / "key": "value" / api-key: value, for credential-like names.
    (
        re.compile(
            r"(?i)((?:api[-_]?key|apikey|subscription[-_]?key|secret|password|passwd|pwd|token|"
            r"access[-_]?key|account[-_]?key|sharedaccesskey|client[-_]?secret|authorization)"
            r"\"?\s*[:=]\s*\"?)([^\s\"',;&]{4,})"
        ),
        r"\1[REDACTED]",
    ),
    # Well-known key shapes: OpenAI-style (sk-...), Azure storage/AI 32-hex keys, Zep keys.
    (re.compile(r"\b(?:sk|pk|z)[_-][A-Za-z0-9_-]{16,}"), "[API_KEY]"),
    (re.compile(r"\b[a-f0-9]{32}\b"), "[API_KEY]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL]"),
]


# Payment cards: 13-19 digits, optionally grouped by single spaces or dashes; Luhn-checked so that
# ordinary long numbers (epoch milliseconds, ids) stay readable.
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
# Phone numbers: optional +country, optional (area), then 2-5 groups; at least 9 digits overall.
_PHONE = re.compile(
    r"(?<![\w.:/-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,5}){1,4}(?![\w.:/-])"
)
_DATE_OR_IP = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,3}(?:\.\d{1,3}){3}$")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if _DATE_OR_IP.match(text) or sum(ch.isdigit() for ch in text) < 9:
        return text
    return "[PHONE]"


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = _CARD.sub(_mask_card, text)
    return _PHONE.sub(_mask_phone, text)


def redact_value(value: Any) -> Any:
    """Redact strings inside plain containers (log `extra` payloads)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value
