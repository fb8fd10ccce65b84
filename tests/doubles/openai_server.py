"""An OpenAI-compatible chat-completions server for tests and bench, mounted at any prefix.

Implements `POST {prefix}/chat/completions` (the APIM `.../openai/v1` route by default; `/v1` as
OpenAI and LiteLLM serve it), plain and streamed (SSE chunks, the usage chunk when
`stream_options.include_usage`, then `[DONE]`), with the real response shapes. Any other path is
aiohttp's plain 404. Each request is recorded. Behaviour is scripted per request with `script(...)`:
a reply text, an HTTP error with headers (429 + Retry-After), a delay (for timeouts), or a stream that
fails midway. Unscripted requests get a deterministic reply naming the last user message.

With `key=`, the key must arrive in the header the gateway expects (`api-key`, as APIM and Azure; or
`authorization`, `Bearer <key>` as OpenAI and LiteLLM): otherwise 401 in that gateway's shape, which
echoes what it got (as OpenAI's "Incorrect API key provided" does), so a test can prove the service
never repeats it. With `models=`, an unknown model is a 404 `model_not_found` (OpenAI) or
`DeploymentNotFound` (Azure).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.doubles.server import LoopbackServer


@dataclass
class Step:
    reply: str | None = None  # None: the default echo
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before answering
    chunk_delay_s: float = 0.0  # between streamed chunks
    fail_after_chunks: int | None = None  # streaming: drop the connection after n chunks
    prompt_tokens: int = 11
    completion_tokens: int = 7
    omit_usage: bool = False  # a gateway that sends no `usage` (plain or streamed)


@dataclass
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))


class OpenAIDouble:
    def __init__(
        self,
        prefix: str = "/openai/v1",
        *,
        key: str | None = None,
        key_header: Literal["api-key", "authorization"] = "api-key",
        models: set[str] | None = None,
        flavour: Literal["openai", "azure"] = "openai",
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.key = key
        self.key_header = key_header
        self.models = models
        self.flavour = flavour
        self.requests: list[Recorded] = []
        #: Streams the caller closed before the last chunk (e.g. the service stopping a call).
        self.streams_aborted = 0
        self._steps: deque[Step] = deque()
        app = web.Application()
        app.router.add_post(f"{self.prefix}/chat/completions", self._completions)
        self._server = LoopbackServer(app)

    @property
    def base_url(self) -> str:
        return self._server.url + self.prefix

    def script(self, *steps: Step) -> None:
        self._steps.extend(steps)

    async def __aenter__(self) -> OpenAIDouble:
        await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    def _refusal(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        """401 for a key in the wrong place, 404 for an unknown model; None when the call may go on."""
        if self.key is not None:
            if self.key_header == "api-key":
                got, expected = request.headers.get("api-key"), self.key
            else:
                got, expected = request.headers.get("Authorization"), f"Bearer {self.key}"
            if got != expected:
                # Echo whatever credential came (OpenAI quotes part of it), so tests prove it is not repeated.
                got = got or request.headers.get("api-key") or request.headers.get("Authorization")
                if self.flavour == "azure":  # APIM's shape
                    payload: dict[str, Any] = {
                        "statusCode": 401,
                        "message": f"Access denied due to invalid subscription key {got!r}.",
                    }
                else:
                    payload = {
                        "error": {
                            "message": f"Incorrect API key provided: {got!r}.",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": "invalid_api_key",
                        }
                    }
                return web.json_response(payload, status=401)
        model = body.get("model")
        if self.models is not None and model not in self.models:
            if self.flavour == "azure":
                error = {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                }
            else:
                error = {
                    "message": f"The model `{model}` does not exist or you do not have access to it.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "model_not_found",
                }
            return web.json_response({"error": error}, status=404)
        return None

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(Recorded(headers=dict(request.headers), body=body))
        refused = self._refusal(request, body)
        if refused is not None:
            return refused
        step = self._steps.popleft() if self._steps else Step()
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        if step.status != 200:
            kind = "rate_limit_exceeded" if step.status == 429 else "server_error"
            return web.json_response(
                {
                    "error": {
                        "message": f"double says {step.status}",
                        "type": kind,
                        "param": None,
                        "code": kind,
                    }
                },
                status=step.status,
                headers=step.headers,
            )
        last_user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        text = step.reply if step.reply is not None else f"reply {len(self.requests)} to: {last_user}"
        created, ident, model = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:12]}", body["model"]
        usage: dict[str, int] | None = {
            "prompt_tokens": step.prompt_tokens,
            "completion_tokens": step.completion_tokens,
            "total_tokens": step.prompt_tokens + step.completion_tokens,
        }
        if step.omit_usage:
            usage = None
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                    "system_fingerprint": None,
                }
            )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }

        pieces = [text[i : i + 8] for i in range(0, len(text), 8)]
        events = [chunk({"role": "assistant", "content": ""}, None)]
        events += [chunk({"content": p}, None) for p in pieces]
        events.append(chunk({}, "stop"))
        if usage is not None and (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        try:
            for n, event in enumerate(events):
                if step.fail_after_chunks is not None and n >= step.fail_after_chunks:
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
                if step.chunk_delay_s:
                    await asyncio.sleep(step.chunk_delay_s)
                    if request.transport is None or request.transport.is_closing():
                        self.streams_aborted += 1  # the caller closed the stream: stop writing
                        return response
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.streams_aborted += 1
            raise
        return response
