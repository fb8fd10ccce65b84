"""What a gateway's refusal means for the operator: the setting to check and the path that was called.

A 404 is either the route (the base URL is wrong: AZURE_AI_ENDPOINT) or the model (no such model or
deployment: AZURE_AI_DEPLOYMENT). The error body tells them apart where the gateway gives one: OpenAI's
`model_not_found`, Azure's `DeploymentNotFound`, LiteLLM's "Invalid model name" (a 400). A 401 or 403 is
the credentials: AZURE_AI_KEY and AZURE_AI_KEY_HEADER, or the managed identity's role when keyless; so
is LiteLLM's 400 `auth_error` / `no_db_connection` (its answer, without a database, to a key that is not
the master key).

Messages name the request path only (no host, no query string) and never quote the upstream text, which
may echo part of the key (OpenAI's "Incorrect API key provided: sk-...").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

#: Upstream error codes that mean "no such model / deployment" (compared lower-case).
MODEL_NOT_FOUND_CODES = frozenset({"model_not_found", "deploymentnotfound", "deployment_not_found"})
_MODEL_MISSING_TEXT = re.compile(
    r"invalid model name|unknown model|no deployment|"
    r"\b(model|deployment)\b.{0,80}\b(not found|does not exist|not exist)",
    re.IGNORECASE | re.DOTALL,
)
#: Error types some gateways answer a refused key with, as a 400 (LiteLLM).
CREDENTIAL_ERROR_TYPES = frozenset({"auth_error", "no_db_connection"})
#: An error code is quoted only when it looks like an identifier (never free text).
_SAFE_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_ROUTE_EXAMPLES = ".../openai/v1 for APIM and Azure OpenAI, .../v1 for LiteLLM and OpenAI"


class Fault(StrEnum):
    """Which setting a gateway failure points at."""

    ENDPOINT = "AZURE_AI_ENDPOINT"
    CREDENTIALS = "AZURE_AI_KEY"
    DEPLOYMENT = "AZURE_AI_DEPLOYMENT"
    OTHER = "other"


@dataclass(frozen=True)
class Diagnosis:
    fault: Fault
    message: str  # safe to answer and log
    code: str | None  # the upstream error code, when it is an identifier


def _error_fields(body: object) -> tuple[str | None, str, str]:
    """(code, type, message text) from an OpenAI-style `{"error": {...}}`, an APIM
    `{statusCode, message}`, a FastAPI `{"detail": ...}` or a raw text body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            code, kind = inner.get("code"), inner.get("type")
            text = " ".join(str(inner.get(k) or "") for k in ("message", "detail"))
            return (str(code) if code is not None else None), str(kind or ""), text
        return None, "", str(inner)
    return None, "", body if isinstance(body, str) else ""


def _model_missing(code: str | None, text: str) -> bool:
    return (code or "").lower() in MODEL_NOT_FOUND_CODES or bool(_MODEL_MISSING_TEXT.search(text))


def diagnose(status: int, body: object, path: str, *, deployment: str, key_header: str | None) -> Diagnosis:
    """Classify an upstream error status and body; `key_header` is None in managed-identity mode."""
    code, kind, text = _error_fields(body)
    safe_code = code if code is not None and _SAFE_CODE.match(code) else None
    called = f"POST {path}"
    if status in (400, 404) and _model_missing(code, text):
        why = f", {safe_code}" if safe_code else ""
        return Diagnosis(
            Fault.DEPLOYMENT,
            f"the AI gateway has no model or deployment named {deployment!r} (upstream {status}{why} for "
            f"{called}): check AZURE_AI_DEPLOYMENT",
            safe_code,
        )
    if status == 404:
        return Diagnosis(
            Fault.ENDPOINT,
            f"the AI gateway has no route {called} (upstream 404): check AZURE_AI_ENDPOINT, the base URL "
            f"used exactly as given ({_ROUTE_EXAMPLES})",
            safe_code,
        )
    if status in (401, 403) or (status == 400 and kind.lower() in CREDENTIAL_ERROR_TYPES):
        if key_header is None:
            fix = (
                "check AZURE_AI_KEY (unset: the app's managed identity was refused; it needs Cognitive "
                "Services OpenAI User, or set AZURE_AI_KEY and AZURE_AI_KEY_HEADER)"
            )
        else:
            sent = "Authorization: Bearer" if key_header == "authorization" else "api-key"
            fix = (
                f"check AZURE_AI_KEY and AZURE_AI_KEY_HEADER (the key went in {sent}; APIM and Azure "
                "take api-key, OpenAI, LiteLLM and Portkey take authorization)"
            )
        return Diagnosis(
            Fault.CREDENTIALS,
            f"the AI gateway refused the call (upstream {status} for {called}): {fix}",
            safe_code,
        )
    return Diagnosis(Fault.OTHER, f"the AI gateway failed (upstream status {status} for {called})", safe_code)
