"""Post-deploy validation of a running Engram API: the SOP 1.1 curl checklist as code.

`run_verify` walks the checks a platform engineer would run by hand after a deployment — health, one chat
turn, the voice status, a voice websocket up to its ready message, and the memory read-back of that chat
turn — and returns one result per check. Each failure carries the id of a troubleshooting hint from
`HINTS` (SOP section 9), the same ids `docs/runbook.md` is organised by. The CLI (`engram verify`), the
deploy workflow's smoke test and `engram rollback` all use this module.

Nothing here prints or logs the bearer token; server answers are shortened before they are shown.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Origin, Subprotocol

#: The SOP's validation question; its answer must be non-empty and the turn must come back from memory.
VERIFY_QUESTION = "What is the capital of France?"
DEFAULT_AGENT = "elena"
#: Chat waits on the model; everything else is a local round trip.
DEFAULT_CHAT_TIMEOUT_S = 60.0
DEFAULT_TIMEOUT_S = 15.0
#: Longest server text quoted in a result (error bodies are safe by design, but may be long).
_DETAIL_MAX = 400
#: In the service's gateway errors (app/chat/diagnosis.py): the path called and the setting to check.
_CALLED = re.compile(r"\bPOST (/[^\s)]*)")
_CHECK_SETTING = re.compile(r"\bcheck (AZURE_AI_[A-Z_]+)")
_GATEWAY_HINTS = {
    "AZURE_AI_ENDPOINT": "chat-upstream-endpoint",
    "AZURE_AI_KEY": "chat-upstream-auth",
    "AZURE_AI_DEPLOYMENT": "chat-upstream-deployment",
}

SPEECH_USER_ROLE_ID = "f2dc8367-1007-4938-bd23-fe263f013447"

#: Troubleshooting hints by id (SOP 9). `docs/runbook.md` has a section per id; a test keeps them in step.
HINTS: dict[str, str] = {
    "api-unreachable": (
        "The API did not answer. Check the URL (the container app FQDN or the revision URL), that a "
        "revision is active and healthy (az containerapp revision list), and that ingress is external."
    ),
    "health-database": (
        "database_ok is false: check DATABASE_URL (a Key Vault reference the app identity can read) and "
        "that PostgreSQL accepts the app (firewall / private endpoint, Entra login)."
    ),
    "health-memory": (
        "Memory is degraded (Zep unreachable): check ZEP_API_KEY / ZEP_API_URL. Chat keeps working on the "
        "SQL store meanwhile."
    ),
    "auth-token": (
        "The API refused the caller (401): pass --token with a token for the Engram API (AUTH_REQUIRED is "
        "on); in development a dev token such as dev_<user>_user works."
    ),
    "auth-role": (
        "The caller lacks the permission (403): assign the engram.user app role to the identity used for "
        "verification."
    ),
    "chat-not-configured": (
        "Chat is not configured (503): set AZURE_AI_ENDPOINT to the gateway's OpenAI-compatible base URL "
        "(.../openai/v1 for APIM and Azure, .../v1 for LiteLLM and OpenAI) and AZURE_AI_DEPLOYMENT to "
        "the chat deployment or model name."
    ),
    "chat-upstream-endpoint": (
        "Suspect AZURE_AI_ENDPOINT: the AI gateway has no such route (upstream 404). The endpoint is the "
        "base URL the service appends /chat/completions to, used exactly as given (only a bare Azure AI "
        "resource host is completed to /openai/v1): .../<path>/openai/v1 for APIM, .../openai/v1 for "
        "Azure OpenAI, .../v1 for LiteLLM and OpenAI."
    ),
    "chat-upstream-deployment": (
        "Suspect AZURE_AI_DEPLOYMENT: the AI gateway has no model or deployment by that name. Set it to a "
        "deployment on the AI Services account (Azure, APIM) or a model the gateway serves (LiteLLM's "
        "model_name, an OpenAI model)."
    ),
    "chat-upstream-auth": (
        "Suspect AZURE_AI_KEY / AZURE_AI_KEY_HEADER: the AI gateway refused the service (upstream 401/403). "
        "Check the key (the APIM subscription key in Key Vault; the subscription active) and where it "
        "goes: AZURE_AI_KEY_HEADER=api-key for APIM and Azure, authorization (Bearer) for OpenAI, LiteLLM "
        "and Portkey; without a key the app identity needs Cognitive Services OpenAI User."
    ),
    "chat-upstream": (
        "The AI gateway failed (502): check the APIM backend and that AZURE_AI_DEPLOYMENT names a "
        "deployment that exists on the AI Services account."
    ),
    "chat-rate-limited": (
        "The gateway rate-limited the call (429): wait for Retry-After, or raise the APIM limit / the "
        "deployment's TPM capacity."
    ),
    "chat-timeout": (
        "The gateway or model timed out (504): check AI Services health and capacity, and the gateway's "
        "backend timeout."
    ),
    "chat-empty": (
        "Chat answered with empty content (SOP 9.2 empty responses): context too long or a content filter; "
        "check the deployment and the gateway logs."
    ),
    "agent-unknown": "The agent does not exist (404): use --agent with an id from GET /api/v1/agents.",
    "voice-not-configured": (
        "VoiceLive is not configured: set AZURE_VOICELIVE_ENDPOINT to the AI Services endpoint "
        "(https://<name>.cognitiveservices.azure.com) and AZURE_VOICELIVE_MODEL."
    ),
    "voice-auth": (
        "VoiceLive refused the service (401/403): assign Cognitive Services Speech User "
        f"({SPEECH_USER_ROLE_ID}) to the app's managed identity on the AI Services account (or check "
        "AZURE_VOICELIVE_KEY); role assignments take a few minutes to apply."
    ),
    "voice-upstream": (
        "The VoiceLive session failed: check AZURE_VOICELIVE_MODEL is available in the account's region, "
        "AZURE_VOICELIVE_API_VERSION, and network access from the app to AI Services."
    ),
    "voice-ws-refused": (
        "The voice websocket was refused at the handshake: check --token (AUTH_REQUIRED), the allowed "
        "origins, and that the ingress passes websockets."
    ),
    "voice-no-ready": (
        "The voice session never became ready: VoiceLive did not answer in time; check network access to "
        "AI Services (private endpoint DNS in production) and the service logs for the session."
    ),
    "memory-empty": (
        "The chat turn did not come back from memory: check DATABASE_URL and the memory store "
        "(migrations applied: engram db upgrade), and the service logs for write errors."
    ),
    "route-missing": (
        "The route does not exist (404 Not Found): the deployed image predates this API, or --api-base "
        "misses a path prefix."
    ),
    "unexpected-status": "The endpoint answered an unexpected status: see the detail and the service logs.",
}


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check outcome, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: CheckStatus
    detail: str
    hint_id: str | None = None
    called: str | None = None  # the upstream request the service reported (method and path)

    @property
    def hint(self) -> str | None:
        if not self.hint_id:
            return None
        return HINTS[self.hint_id] + (f" The service called {self.called}." if self.called else "")

    def as_dict(self) -> dict[str, Any]:
        result = {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "hint_id": self.hint_id,
            "hint": self.hint,
        }
        return result | ({"called": self.called} if self.called else {})  # only for a gateway failure


@dataclass
class VerifyReport:
    api_base: str
    session_id: str
    agent: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.status is CheckStatus.PASS for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "api_base": self.api_base,
            "session_id": self.session_id,
            "agent": self.agent,
            "passed": self.passed,
            "checks": [c.as_dict() for c in self.checks],
        }


def _fail(name: str, detail: str, hint_id: str) -> CheckResult:
    return CheckResult(name, CheckStatus.FAIL, detail, hint_id)


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.PASS, detail)


class VerifyInputError(ValueError):
    """The verification target is not usable (e.g. not an http(s) URL)."""


def normalise_api_base(api_base: str) -> str:
    """`https://host[/prefix]` without a trailing slash; anything else is a clear error."""
    parts = urlsplit(api_base.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VerifyInputError(
            f"--api-base must be an http(s) URL with a host, e.g. https://<API_HOST>; got {api_base!r}"
        )
    if "<" in api_base or ">" in api_base:
        raise VerifyInputError(f"--api-base still holds a placeholder: {api_base!r}")
    if parts.query or parts.fragment:
        raise VerifyInputError("--api-base must not carry a query string or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def websocket_url(api_base: str, path: str) -> str:
    parts = urlsplit(api_base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path + path, "", ""))


@dataclass(frozen=True)
class VerifyOptions:
    api_base: str
    token: str | None = None
    agent: str = DEFAULT_AGENT
    timeout_s: float = DEFAULT_TIMEOUT_S
    chat_timeout_s: float = DEFAULT_CHAT_TIMEOUT_S
    origin: str | None = None  # sent on the websocket, for services that check the browser origin
    question: str = VERIFY_QUESTION


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


def _error_detail(response: httpx.Response) -> str:
    """The `detail` of an error body (FastAPI shape) or the start of the raw text."""
    try:
        body = response.json()
    except ValueError:
        return _short(response.text)
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return _short(detail if isinstance(detail, str) else json.dumps(detail))
    return _short(json.dumps(body))


def _gateway_failure(detail: str) -> tuple[str, str | None]:
    """(hint id, upstream request) for a 502 from chat: the setting the service says to check, else
    an auth-sounding message (an older service), else the generic gateway hint."""
    called = _CALLED.search(detail)
    setting = _CHECK_SETTING.search(detail)
    hint = _GATEWAY_HINTS.get(setting.group(1)) if setting else None
    if hint is None:
        hint = "chat-upstream-auth" if _mentions_auth_failure(detail) else "chat-upstream"
    return hint, f"POST {called.group(1)}" if called else None


def _mentions_auth_failure(text: str) -> bool:
    lowered = text.lower()
    return any(
        marker in lowered
        for marker in ("401", "403", "unauthori", "forbidden", "authenticat", "permission", "access denied")
    )


def _status_hint(response: httpx.Response) -> str:
    if response.status_code == 404 and _error_detail(response) == "Not Found":
        return "route-missing"  # FastAPI's answer for an unknown path, not a handler's 404
    return {401: "auth-token", 403: "auth-role"}.get(response.status_code, "unexpected-status")


class _Verifier:
    def __init__(self, options: VerifyOptions, client: httpx.AsyncClient, session_id: str) -> None:
        self.options = options
        self.client = client
        self.session_id = session_id
        self.chat_passed = False

    async def health(self, name: str) -> CheckResult:
        try:
            response = await self.client.get("/health")
        except httpx.HTTPError as exc:
            return _fail(name, f"GET /health: {type(exc).__name__}", "api-unreachable")
        if response.status_code != 200:
            return _fail(name, f"GET /health -> {response.status_code}", "api-unreachable")
        try:
            body = response.json()
        except ValueError:
            return _fail(name, "GET /health did not answer JSON", "api-unreachable")
        if body.get("database_ok") is False:
            return _fail(name, "database_ok is false", "health-database")
        memory = body.get("memory") or {}
        if body.get("status") != "ok":
            hint = "health-memory" if memory.get("degraded") else "unexpected-status"
            return _fail(name, f"status is {body.get('status')!r}", hint)
        return _ok(
            name,
            f"ok; version {body.get('version')}, environment {body.get('environment')}, "
            f"memory {memory.get('backend', '?')}",
        )

    async def chat(self, name: str) -> CheckResult:
        payload = {
            "content": self.options.question,
            "agent_id": self.options.agent,
            "session_id": self.session_id,
        }
        timeout = self.options.chat_timeout_s
        try:
            response = await self.client.post("/api/v1/chat", json=payload, timeout=timeout)
        except httpx.TimeoutException:
            return _fail(name, f"no answer within {self.options.chat_timeout_s:g} s", "chat-timeout")
        except httpx.HTTPError as exc:
            return _fail(name, f"POST /api/v1/chat: {type(exc).__name__}", "api-unreachable")
        code = response.status_code
        if code != 200:
            detail = f"POST /api/v1/chat -> {code}: {_error_detail(response)}"
            if code == 502:
                hint, called = _gateway_failure(_error_detail(response))
                return CheckResult(name, CheckStatus.FAIL, detail, hint, called)
            if code == 503:
                hint = "chat-not-configured"
            elif code == 429:
                hint = "chat-rate-limited"
            elif code == 504:
                hint = "chat-timeout"
            else:
                hint = _status_hint(response)
                hint = "agent-unknown" if code == 404 and hint != "route-missing" else hint
            return _fail(name, detail, hint)
        try:
            body = response.json()
        except ValueError:
            return _fail(name, "chat answered 200 without JSON", "unexpected-status")
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            return _fail(name, "chat answered 200 with empty content", "chat-empty")
        self.chat_passed = True
        return _ok(name, f"{body.get('agent_name', self.options.agent)}: {_short(content)}")

    async def voice_status(self, name: str) -> CheckResult:
        try:
            response = await self.client.get("/api/v1/voice/status")
        except httpx.HTTPError as exc:
            return _fail(name, f"GET /api/v1/voice/status: {type(exc).__name__}", "api-unreachable")
        if response.status_code != 200:
            detail = f"GET /api/v1/voice/status -> {response.status_code}: {_error_detail(response)}"
            return _fail(name, detail, _status_hint(response))
        body = response.json()
        if body.get("voicelive_configured") is not True:
            return _fail(name, "voicelive_configured is false", "voice-not-configured")
        return _ok(
            name,
            f"configured; model {body.get('model')}, auth {body.get('auth_mode')}, "
            f"endpoint {body.get('endpoint')}",
        )

    async def voice_session(self, name: str) -> CheckResult:
        url = websocket_url(self.options.api_base, f"/api/v1/voice/voicelive/{self.session_id}")
        subprotocols = [Subprotocol("engram.v1")]
        if self.options.token:
            subprotocols.append(Subprotocol(f"bearer.{self.options.token}"))
        try:
            async with asyncio.timeout(self.options.timeout_s):
                async with ws_connect(
                    url,
                    subprotocols=subprotocols,
                    origin=Origin(self.options.origin) if self.options.origin else None,
                    open_timeout=self.options.timeout_s,
                    close_timeout=2,
                ) as ws:
                    return await self._await_ready(name, ws)
        except TimeoutError:
            return _fail(name, f"no ready message within {self.options.timeout_s:g} s", "voice-no-ready")
        except InvalidStatus as exc:
            code = exc.response.status_code
            return _fail(name, f"websocket handshake refused with HTTP {code}", "voice-ws-refused")
        except ConnectionClosed as exc:
            return _closed_result(name, exc)
        except (InvalidHandshake, OSError) as exc:
            return _fail(name, f"websocket: {type(exc).__name__}", "api-unreachable")

    async def _await_ready(self, name: str, ws: Any) -> CheckResult:
        while True:
            raw = await ws.recv()
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                continue  # binary or non-JSON frames are not the ready signal
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind == "agent_switched":
                return _ok(name, f"ready; agent {message.get('agent_id')}")
            if kind == "error":
                return _voice_error_result(name, str(message.get("message", "")))

    async def memory(self, name: str) -> CheckResult:
        if not self.chat_passed:
            return CheckResult(name, CheckStatus.SKIP, "needs a successful chat turn first")
        path = f"/api/v1/memory/episodes/{self.session_id}"
        try:
            response = await self.client.get(path)
        except httpx.HTTPError as exc:
            return _fail(name, f"GET {path}: {type(exc).__name__}", "api-unreachable")
        if response.status_code == 404 and _status_hint(response) != "route-missing":
            return _fail(name, "the chat session has no episode (404)", "memory-empty")
        if response.status_code != 200:
            detail = f"GET {path} -> {response.status_code}: {_error_detail(response)}"
            return _fail(name, detail, _status_hint(response))
        turns = response.json().get("transcript") or []
        asked = [t for t in turns if t.get("role") == "user" and t.get("content") == self.options.question]
        if not asked:
            return _fail(name, f"episode has {len(turns)} turn(s), none is the chat question", "memory-empty")
        return _ok(name, f"episode has {len(turns)} turn(s) including the chat turn")


def _voice_error_result(name: str, message: str) -> CheckResult:
    detail = f"voice error: {_short(message)}"
    if "AZURE_VOICELIVE_ENDPOINT" in message or "not configured" in message.lower():
        return _fail(name, detail, "voice-not-configured")
    if _mentions_auth_failure(message):
        return _fail(name, detail, "voice-auth")
    return _fail(name, detail, "voice-upstream")


def _closed_result(name: str, exc: ConnectionClosed) -> CheckResult:
    close = exc.rcvd
    code = close.code if close else None
    reason = close.reason if close else ""
    detail = f"websocket closed before ready (code {code}{': ' + _short(reason) if reason else ''})"
    if code == 1008:
        return _fail(name, detail, "voice-ws-refused")
    if reason and ("AZURE_VOICELIVE_ENDPOINT" in reason or _mentions_auth_failure(reason)):
        return _voice_error_result(name, reason)
    return _fail(name, detail, "voice-upstream")


async def run_verify(options: VerifyOptions, *, session_id: str | None = None) -> VerifyReport:
    """Run every check in SOP order and return the report (never raises for a failing service)."""
    api_base = normalise_api_base(options.api_base)
    options = VerifyOptions(**{**options.__dict__, "api_base": api_base})
    session = session_id or str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    report = VerifyReport(api_base=api_base, session_id=session, agent=options.agent)
    async with httpx.AsyncClient(base_url=api_base, headers=headers, timeout=options.timeout_s) as client:
        verifier = _Verifier(options, client, session)
        checks = (
            ("health", verifier.health),
            ("chat", verifier.chat),
            ("voice status", verifier.voice_status),
            ("voice session", verifier.voice_session),
            ("memory read-back", verifier.memory),
        )
        unreachable = False
        for name, check in checks:
            if unreachable:
                result = CheckResult(name, CheckStatus.SKIP, "the API is unreachable")
            else:
                result = await check(name)
                unreachable = name == "health" and result.hint_id == "api-unreachable"
            report.checks.append(result)
    return report
