"""What every route's OpenAPI entry shares: the error body and the statuses each dependency can answer.

Routes name their own statuses with `errors(404, ...)`; `document_common_errors` adds the ones any
route can meet (400 unparsable body, 413 body too large, 422 validation, 401/403/429/503 from the
security dependencies) after the routes are built, so the spec lists every status the service sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path
from fastapi import routing as fastapi_routing
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi import utils as fastapi_openapi_utils
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from pydantic.config import JsonDict

from app.settings import Settings

SESSION_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
#: Whitespace as JSON Schema's (ECMAScript) `\s` has it, so the schema and the validators agree on
#: what "blank" means (Python's `str.isspace` also counts \x1c-\x1f and \x85).
_WHITESPACE = (
    "\t\n\x0b\x0c\r \xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_NOT_BLANK = re.compile(
    "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"
)
#: JSON-schema only (the model's validator gives the clear message): at least one non-blank character.
NOT_BLANK: JsonDict = {"pattern": _NOT_BLANK.pattern}


def not_blank(value: str, field: str) -> str:
    """`value` without surrounding whitespace; ValueError naming `field` when nothing else is left."""
    if not _NOT_BLANK.search(value):
        raise ValueError(f"{field} must not be empty")
    return value.strip(_WHITESPACE)


def _json_integer(value: object) -> object:
    """JSON Schema's `integer` includes 2.0 and excludes `true`; pydantic's strict `int` alone would
    refuse the first, its lax one accept the second (and "2")."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer in a JSON body, with strict=True on the model: exactly JSON Schema's `integer`.
JsonInt = Annotated[int, BeforeValidator(_json_integer)]


#: A session id in a path: the chat and memory episode id (1-128 URL-safe characters).
SessionIdPath = Annotated[
    str,
    Path(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN, description="The session (episode) id."),
]


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339_only(value: object) -> object:
    """Query times are RFC 3339 with an offset, as the spec's `date-time` says: no bare numbers
    (pydantic would read them as Unix times) and no zone-less times."""
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("use an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:00:00Z")
    return value


#: A date-time query parameter: RFC 3339 with an offset (`Z` or `+hh:mm`).
Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339_only)]


AGENT_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
#: An agent id in a path (case-insensitive; the catalogue names the known ones on a 404).
AgentIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=AGENT_ID_PATTERN, description="An agent id, e.g. elena.")
]


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


#: A date-time in a response: always with its offset (SQLite hands back naive UTC times), so it is a
#: valid RFC 3339 `date-time` as the spec says.
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]


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


#: The spec's description: what the REST routes share, and the voice websocket (OpenAPI 3.1 has no
#: websocket operations, so its protocol is told here and in docs/voice-protocol.md).
API_DESCRIPTION = """Chat and voice with Engram's AI agents, with shared episodic memory.

**Authentication**: `Authorization: Bearer <token>` (Entra ID; `dev_<user>_<role>` in development).
Open without a token in every environment (SOP 10.1): `/health`, `/ready`, `GET /api/v1/agents`,
`GET /api/v1/agents/{id}`, `GET /api/v1/voice/status`, `GET /api/v1/voice/config/{agent}`.
Every error answers `{"detail": ..., "request_id": ...}` and never carries a stack trace.

**Voice websocket** `WS /api/v1/voice/voicelive/{session_id}?agent=<agent_id>` (docs/voice-protocol.md):
authenticate with `Sec-WebSocket-Protocol: engram.v1, bearer.<token>` or a ticket from
`POST /api/v1/voice/ticket` (`ticket.<t>` or `?ticket=<t>`). All frames are JSON text.
Browser -> server: `{"type":"audio","data":"<base64 PCM16 24 kHz mono>"}`,
`{"type":"agent","agent_id":"..."}`, `{"type":"cancel"}`, `{"type":"text","content":"..."}`,
`{"type":"consent","recording":true|false}` (recording consent for this session; `false` withdraws it
and recording stops at once; a client that never sends it is never recorded).
Server -> browser: `{"type":"agent_switched","agent_id":"..."}`;
`{"type":"recording","state":"on"|"off","reason":"..."}` (answers each consent; `off` with a `reason`
when recording is not enabled, or when the store failed mid-session: the call goes on);
`{"type":"transcription","speaker":"user"|"assistant","status":"listening"|"processing"|"complete","text":"..."}`
(assistant `processing` carries the answer so far in `text` and the new piece in `delta`);
`{"type":"audio","data":"<base64>","format":"audio/pcm16"}`; `{"type":"stop_playback"}`;
`{"type":"error","message":"..."}` (bad input, including an unknown `type`, gets an error and the
session goes on). Close codes: 1000 normal or time limit, 1008 auth/origin/ownership/bad session id,
1011 not configured, 1013 at capacity, rate limited or past the daily token budget, 1014 VoiceLive
failed, 4410 the user's data was erased.
"""


def _dependency_calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependency_calls(sub)


def route_statuses(route: Any) -> set[int]:
    """The statuses the route's dependencies and parameters can answer, besides its own."""
    from app.security.deps import get_identity

    statuses: set[int] = set()
    for call in _dependency_calls(route.dependant):
        if call is get_identity:
            statuses |= {401, 503}  # no or bad token; identity provider out of reach
        name = getattr(call, "__name__", "")
        if name == "_check":  # require(permission)
            statuses.add(403)
        elif name == "_limited":  # rate_limited(permission, bucket)
            statuses |= {403, 429}
    if get_flat_params(route.dependant) or route.body_field is not None:
        statuses.add(422)  # the same rule FastAPI uses to add its own 422
    if route.body_field is not None:
        statuses |= {400, 413}
    return statuses


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """The app's API routes with their full paths, as `get_openapi` sees them.

    FastAPI >= 0.130 keeps included routers as `_IncludedRouter` entries and resolves them through
    `iter_route_contexts`; older releases list `APIRoute`s in `app.routes` directly.
    """
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    resolve = getattr(fastapi_openapi_utils, "_get_api_route_for_openapi", None)
    if iter_contexts is None or resolve is None:
        yield from (route for route in app.routes if isinstance(route, APIRoute))
        return
    for context in iter_contexts(app.routes):
        route = resolve(context)  # an APIRoute-like view with the full path, or None
        if route is not None:
            yield route


def _error_response(code: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """`app.openapi()` lists every status each route can answer, each with `ErrorBody`, and carries
    the limits that come from settings (chat content length)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error_schema.pop("$defs", {}))
        components["ErrorBody"] = error_schema
        for route in _api_routes(app):
            if not route.include_in_schema:
                continue
            for method in route.methods:
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                for code in sorted(route_statuses(route)):
                    existing = responses.get(str(code))
                    if code == 422 or existing is None or "content" not in existing:
                        described = (existing or {}).get("description") or _DESCRIPTIONS[code]
                        responses[str(code)] = {**_error_response(code), "description": described}
                for code, entry in responses.items():  # route-named errors get the body model too
                    if code.isdigit() and int(code) >= 400 and "content" not in entry:
                        entry["content"] = _error_response(int(code))["content"]
        chat = components.get("ChatRequest", {}).get("properties", {}).get("content")
        if chat is not None:
            chat["maxLength"] = settings.chat_max_content_chars
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
