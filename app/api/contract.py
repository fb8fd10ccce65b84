"""What every route's OpenAPI entry shares: the error body and the statuses each dependency can answer.

Routes name their own statuses with `errors(404, ...)`; `document_common_errors` adds the ones any
route can meet (400 unparsable body, 413 body too large, 422 validation, 401/403/429/503 from the
security dependencies) after the routes are built, so the spec lists every status the service sends.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

SESSION_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"

#: A session id in a path: the chat and memory episode id (1-128 URL-safe characters).
SessionIdPath = Annotated[
    str,
    Path(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN, description="The session (episode) id."),
]


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: a message (or the list of validation problems) and the request id."""

    detail: str | list[ValidationProblem] = Field(description="What went wrong, safe to show.")
    request_id: str | None = Field(None, description="Quote it to the operator (also in X-Request-ID).")


_DESCRIPTIONS: dict[int, str] = {
    400: "The body is not valid JSON.",
    401: "No valid bearer token (see WWW-Authenticate).",
    403: "The caller lacks the permission this needs.",
    404: "Not found (or not the caller's).",
    409: "Conflicts with the current state.",
    413: "The request body is larger than MAX_REQUEST_BODY_BYTES.",
    422: "The request does not match the schema.",
    429: "Too many requests; see Retry-After.",
    502: "The AI gateway failed.",
    503: "A dependency is not configured or out of reach; see Retry-After when present.",
    504: "The model did not answer in time.",
}


def errors(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these statuses, each with the error body model."""
    return {
        code: {"model": ErrorBody, "description": descriptions.get(f"s{code}", _DESCRIPTIONS[code])}
        for code in codes
    }
