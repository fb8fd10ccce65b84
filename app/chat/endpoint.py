"""AZURE_AI_ENDPOINT -> the OpenAI-compatible base URL the SDK calls, and the Entra token scope.

The endpoint is the base URL: the SDK calls `<base>/chat/completions`. One exception keeps the Azure
portal's value working: a bare Azure AI resource endpoint (a host on `*.openai.azure.com`,
`*.cognitiveservices.azure.com` or `*.services.ai.azure.com`, no path) is completed to its
OpenAI-compatible route, `/openai/v1`, or `/api/projects/<AZURE_AI_PROJECT_NAME>/openai/v1` for a
Foundry project. Anything else is used exactly as given, so a gateway whose route is `/v1` (LiteLLM,
OpenAI), `/<path>/openai/v1` (APIM) or anything else works:

    https://<res>.openai.azure.com                  -> https://<res>.openai.azure.com/openai/v1
    https://<res>.services.ai.azure.com + project p -> .../api/projects/p/openai/v1
    https://<apim>.azure-api.net/engram/openai/v1   -> as given
    http://127.0.0.1:4000/v1 (LiteLLM)              -> as given
    https://api.openai.com/v1                       -> as given
    https://api.openai.com                          -> as given (OpenAI answers 404: its base ends in /v1)
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
FOUNDRY_PROJECT_SCOPE = "https://ai.azure.com/.default"
#: Hosts whose bare endpoint (the one the Azure portal shows) is completed to the OpenAI-compatible route.
AZURE_AI_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
_PROJECTS = "/api/projects/"


@dataclass(frozen=True)
class GatewayEndpoint:
    """Where chat goes: `base_url` for the SDK, `scope` for keyless (Entra) tokens."""

    base_url: str
    scope: str
    completed: bool  # True when the route was appended to a bare Azure endpoint

    @property
    def path(self) -> str:
        """The base URL's path (no host, no query): what errors and logs may show."""
        return urlsplit(self.base_url).path


def is_azure_ai_host(host: str) -> bool:
    return host.lower().rstrip(".").endswith(AZURE_AI_HOST_SUFFIXES)


def resolve_endpoint(endpoint: str, project: str | None = None) -> GatewayEndpoint:
    """Apply the rule in the module docstring; trailing slashes never matter, a query is dropped
    (Settings refuses one: the OpenAI v1 routes need no `api-version`, and a key belongs in a header)."""
    parts = urlsplit(endpoint.strip())
    path = parts.path.rstrip("/")
    if not path and is_azure_ai_host(parts.hostname or ""):
        if project:
            path, scope = f"{_PROJECTS}{project.strip('/')}/openai/v1", FOUNDRY_PROJECT_SCOPE
        else:
            path, scope = "/openai/v1", COGNITIVE_SERVICES_SCOPE
        base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        return GatewayEndpoint(base_url=base, scope=scope, completed=True)
    scope = FOUNDRY_PROJECT_SCOPE if _PROJECTS in path else COGNITIVE_SERVICES_SCOPE
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return GatewayEndpoint(base_url=base, scope=scope, completed=False)
