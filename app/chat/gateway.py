"""The AI gateway client: one shared `AsyncOpenAI` per process, and honest failures.

Endpoint: AZURE_AI_ENDPOINT is the OpenAI-compatible base URL and is used as given; only a bare Azure
AI resource endpoint is completed to its `/openai/v1` route (or the Foundry project's, with
AZURE_AI_PROJECT_NAME). `app/chat/endpoint.py` holds the rule and its examples.

Credentials: with AZURE_AI_KEY the key goes where AZURE_AI_KEY_HEADER says: `api-key` (APIM
subscription key / Azure OpenAI key; no `Authorization` header is sent) or `authorization`
(`Authorization: Bearer <key>`: OpenAI, LiteLLM, Portkey). Without a key, Entra bearer tokens come from
`azure.identity.aio` - `ManagedIdentityCredential(client_id=AZURE_CLIENT_ID)` when that is set,
`DefaultAzureCredential` otherwise - for scope `https://cognitiveservices.azure.com/.default`
(`https://ai.azure.com/.default` for a Foundry project route). The SDK asks the token provider before
each request; azure-identity caches and refreshes the token.

Failures map to `GatewayError` subclasses with the HTTP status the API answers: 429 (after bounded
backoff honouring Retry-After), 504 on timeout, 502 for anything else upstream. A 404/401/403 names
the path called and the setting to check (`app/chat/diagnosis.py`). The SDK's own retries are off so
the backoff budget is ours.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from azure.core.credentials_async import AsyncTokenCredential
from openai import AsyncOpenAI, AsyncStream, RequestOptions
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from app.chat.diagnosis import Fault, diagnose
from app.chat.endpoint import GatewayEndpoint, resolve_endpoint
from app.settings import Settings

log = logging.getLogger("engram.chat.gateway")

#: Connecting should be quick even when answering is not.
CONNECT_TIMEOUT_S = 5.0
#: Retry-After absent on a 429: wait this long before the retry.
DEFAULT_RETRY_AFTER_S = 1.0

T = TypeVar("T")
ChatMessage = dict[str, str]
COMPLETIONS_PATH = "/chat/completions"


class GatewayError(Exception):
    """The gateway call failed; `status` is what our API answers, `message` is safe to show."""

    status = 502

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GatewayNotConfigured(GatewayError):
    status = 503


class GatewayThrottled(GatewayError):
    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class GatewayTimeout(GatewayError):
    status = 504


class GatewayUpstreamError(GatewayError):
    status = 502

    def __init__(self, message: str, fault: Fault = Fault.OTHER) -> None:
        super().__init__(message)
        self.fault = fault


NOT_CONFIGURED = GatewayNotConfigured(
    "chat is not configured: set AZURE_AI_ENDPOINT (and AZURE_AI_KEY, or give the app's managed "
    "identity access to the gateway)"
)


@dataclass(frozen=True)
class Completion:
    content: str
    tokens_used: int | None
    # The gateway's `usage` split (None when it sent none: some gateways omit it).
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class StreamEnd:
    tokens_used: int | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def gateway_endpoint(settings: Settings) -> GatewayEndpoint:
    """The base URL and token scope for the configured endpoint (`app/chat/endpoint.py`)."""
    return resolve_endpoint(settings.azure_ai_endpoint or "", settings.azure_ai_project_name)


class Gateway:
    """Chat completions through the gateway; build once per process with `Gateway.from_settings`."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        settings: Settings,
        on_close: Callable[[], Awaitable[None]] | None = None,
        key_only: bool = False,
    ) -> None:
        self._client = client
        # With an `api-key` key, it travels only there: `openai.omit` drops the SDK's Bearer header.
        headers: dict[str, Any] = {"Authorization": openai.omit} if key_only else {}
        # What `chat.completions.create` sends as request options: our headers, bearer auth on.
        self._options: RequestOptions = {"headers": headers, "security": {"bearer_auth": True}}
        self._model = model
        self._settings = settings
        self._on_close = on_close
        # Where the key went, for error messages: None when keyless (Entra tokens).
        self._key_header = settings.azure_ai_key_header if settings.azure_ai_key is not None else None
        self._endpoint = gateway_endpoint(settings)

    @classmethod
    def from_settings(
        cls, settings: Settings, credential: AsyncTokenCredential | None = None
    ) -> Gateway | None:
        """The process gateway, or None when AZURE_AI_ENDPOINT is not set (chat answers 503).

        `credential` replaces the managed identity / DefaultAzureCredential choice (keyless only).
        """
        if not settings.azure_ai_endpoint:
            return None
        endpoint = gateway_endpoint(settings)
        timeout = openai.Timeout(settings.chat_timeout_seconds, connect=CONNECT_TIMEOUT_S)
        on_close: Callable[[], Awaitable[None]] | None = None
        api_key_header = False
        if settings.azure_ai_key is not None:
            key = settings.azure_ai_key.get_secret_value()
            api_key_header = settings.azure_ai_key_header == "api-key"
            client = AsyncOpenAI(
                api_key=key,  # sent as `Authorization: Bearer` unless dropped for `api-key`
                base_url=endpoint.base_url,
                timeout=timeout,
                max_retries=0,
                default_headers={"api-key": key} if api_key_header else None,
            )
        else:
            from azure.identity.aio import (
                DefaultAzureCredential,
                ManagedIdentityCredential,
                get_bearer_token_provider,
            )

            if credential is None:
                credential = (
                    ManagedIdentityCredential(client_id=settings.azure_client_id)
                    if settings.azure_client_id
                    else DefaultAzureCredential()
                )
            client = AsyncOpenAI(
                api_key=get_bearer_token_provider(credential, endpoint.scope),
                base_url=endpoint.base_url,
                timeout=timeout,
                max_retries=0,
            )
            on_close = credential.close
        log.info(
            "chat gateway: POST %s%s (%s), key in %s",
            endpoint.path,
            COMPLETIONS_PATH,
            "completed from a bare Azure AI endpoint" if endpoint.completed else "endpoint as given",
            settings.azure_ai_key_header if settings.azure_ai_key is not None else "none (Entra token)",
        )
        return cls(
            client,
            model=settings.azure_ai_deployment,
            settings=settings,
            on_close=on_close,
            key_only=api_key_header,
        )

    async def aclose(self) -> None:
        await self._client.close()
        if self._on_close is not None:
            await self._on_close()

    async def complete(self, messages: list[ChatMessage]) -> Completion:
        """One reply; raises a `GatewayError` rather than return an empty or apologetic answer."""
        response = await self._with_backoff(
            lambda: self._client.post(
                COMPLETIONS_PATH,
                cast_to=ChatCompletion,
                body=self._body(messages, stream=False),
                options=self._options,
            )
        )
        choice = response.choices[0] if response.choices else None
        content = (choice.message.content or "") if choice is not None else ""
        if not content.strip():
            raise GatewayUpstreamError("the model returned an empty reply; try again or shorten the request")
        usage = response.usage
        if usage is None:
            return Completion(content=content, tokens_used=None)
        return Completion(
            content=content,
            tokens_used=usage.total_tokens,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )

    async def stream(self, messages: list[ChatMessage]) -> AsyncIterator[str | StreamEnd]:
        """Open the stream (errors raise here, before any byte is sent), then yield deltas and the end.

        Usage: `it = await gateway.stream(messages)`; iterate `it`. Errors after the first delta
        raise from the iterator as `GatewayError`s too.
        """
        upstream = await self._with_backoff(
            lambda: self._client.post(
                COMPLETIONS_PATH,
                cast_to=ChatCompletion,
                body=self._body(messages, stream=True),
                options=self._options,
                stream=True,
                stream_cls=AsyncStream[ChatCompletionChunk],
            )
        )
        return self._deltas(upstream)

    async def _deltas(self, upstream: Any) -> AsyncIterator[str | StreamEnd]:
        usage: Any = None
        produced = False
        try:
            async with asyncio.timeout(self._settings.chat_timeout_seconds):
                async for chunk in upstream:
                    if chunk.usage is not None:  # the last chunk, with stream_options.include_usage
                        usage = chunk.usage
                    for choice in chunk.choices or []:
                        delta = choice.delta.content if choice.delta is not None else None
                        if delta:
                            produced = True
                            yield delta
        except TimeoutError:
            raise GatewayTimeout("the model did not finish within CHAT_TIMEOUT_SECONDS") from None
        except openai.APIError as exc:
            raise self._translate(exc) from None
        finally:
            await upstream.close()
        if not produced:
            raise GatewayUpstreamError("the model returned an empty reply; try again or shorten the request")
        if usage is None:
            yield StreamEnd(tokens_used=None)
        else:
            yield StreamEnd(
                tokens_used=usage.total_tokens,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
            )

    def _body(self, messages: list[ChatMessage], *, stream: bool) -> dict[str, Any]:
        """The chat-completions request body, built as JSON directly.

        `chat.completions.create` would run the SDK's recursive TypedDict transform over every
        message first (about 6 ms for 30 turns of history); for our plain `{role, content}` string
        messages that transform is the identity, so the body goes through the SDK's generic
        `post` instead, which keeps its auth, headers, timeouts, error types and response parsing.
        """
        body: dict[str, Any] = {"model": self._model, "messages": messages}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        cap = self._settings.chat_max_output_tokens
        if cap:
            body["max_completion_tokens"] = cap
        return body

    async def _with_backoff(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retry 429s honouring Retry-After within CHAT_THROTTLE_* bounds; translate other errors."""
        waited = 0.0
        attempt = 0
        budget = self._settings.chat_throttle_max_wait_seconds
        while True:
            try:
                async with asyncio.timeout(self._settings.chat_timeout_seconds):
                    return await call()
            except TimeoutError:
                raise GatewayTimeout("the model did not answer within CHAT_TIMEOUT_SECONDS") from None
            except openai.RateLimitError as exc:
                retry_after = _retry_after_seconds(exc.response.headers)
                if attempt >= self._settings.chat_throttle_retries or waited + retry_after > budget:
                    raise GatewayThrottled(
                        "the AI gateway is throttling requests; retry after the Retry-After delay",
                        retry_after,
                    ) from None
                attempt += 1
                waited += retry_after
                log.info("gateway 429; retrying in %.2fs (attempt %d)", retry_after, attempt)
                await asyncio.sleep(retry_after)
            except openai.APIError as exc:
                raise self._translate(exc) from None

    def _translate(self, exc: openai.APIError) -> GatewayError:
        if isinstance(exc, openai.APITimeoutError):
            return GatewayTimeout("the model did not answer within CHAT_TIMEOUT_SECONDS")
        if isinstance(exc, openai.RateLimitError):
            return GatewayThrottled(
                "the AI gateway is throttling requests", _retry_after_seconds(exc.response.headers)
            )
        if isinstance(exc, openai.APIStatusError):
            found = diagnose(
                exc.status_code,
                exc.body,
                _called_path(exc, self._endpoint),
                deployment=self._model,
                key_header=self._key_header,
            )
            log.warning(
                "gateway answered %s: %s",
                exc.status_code,
                found.message,
                extra={"gateway_fault": found.fault.value, "upstream_code": found.code},
            )
            return GatewayUpstreamError(found.message, found.fault)
        if isinstance(exc, openai.APIConnectionError):
            log.warning(
                "gateway unreachable at %s: %s", _called_path(exc, self._endpoint), type(exc).__name__
            )
            return GatewayUpstreamError("the AI gateway could not be reached (check AZURE_AI_ENDPOINT)")
        log.warning("gateway error: %s", type(exc).__name__)
        return GatewayUpstreamError("the AI gateway returned an unusable response")


def _retry_after_seconds(headers: Any) -> float:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue  # an HTTP-date: fall back to the default
        if math.isfinite(value) and value >= 0:
            return value
    return DEFAULT_RETRY_AFTER_S


def _called_path(exc: openai.APIError, endpoint: GatewayEndpoint) -> str:
    """The request path (never the host or a query string) of the failed call."""
    try:
        return str(exc.request.url.path) or endpoint.path + COMPLETIONS_PATH
    except (AttributeError, RuntimeError):  # an error raised without a request
        return endpoint.path + COMPLETIONS_PATH
