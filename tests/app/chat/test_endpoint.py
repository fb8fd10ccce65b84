"""The AZURE_AI_ENDPOINT rule (app/chat/endpoint.py): a path is kept as given, only a bare Azure AI host is
completed (with the Foundry project form), trailing slashes never matter, and keyless tokens get the
scope of the route."""

from __future__ import annotations

import pytest

from app.chat.endpoint import COGNITIVE_SERVICES_SCOPE, FOUNDRY_PROJECT_SCOPE, resolve_endpoint


@pytest.mark.parametrize(
    ("endpoint", "base_url"),
    [
        ("https://res.openai.azure.com", "https://res.openai.azure.com/openai/v1"),
        ("https://res.openai.azure.com/", "https://res.openai.azure.com/openai/v1"),
        ("https://res.cognitiveservices.azure.com", "https://res.cognitiveservices.azure.com/openai/v1"),
        ("https://res.services.ai.azure.com//", "https://res.services.ai.azure.com/openai/v1"),
        ("https://RES.OpenAI.Azure.com", "https://RES.OpenAI.Azure.com/openai/v1"),
    ],
)
def test_bare_azure_ai_host_is_completed_to_openai_v1(endpoint: str, base_url: str) -> None:
    resolved = resolve_endpoint(endpoint)
    assert (resolved.base_url, resolved.scope, resolved.completed) == (
        base_url,
        COGNITIVE_SERVICES_SCOPE,
        True,
    )


def test_bare_foundry_host_with_a_project_gets_the_project_route_and_scope() -> None:
    resolved = resolve_endpoint("https://res.services.ai.azure.com/", "sales")
    assert resolved.base_url == "https://res.services.ai.azure.com/api/projects/sales/openai/v1"
    assert resolved.scope == FOUNDRY_PROJECT_SCOPE
    assert resolved.path == "/api/projects/sales/openai/v1"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://apim.azure-api.net/engram/openai/v1",  # APIM
        "https://res.openai.azure.com/openai/v1",  # Azure OpenAI v1, given in full
        "http://127.0.0.1:4000/v1",  # LiteLLM
        "https://api.openai.com/v1",  # OpenAI
        "https://gw.example.com/ai/custom-route",  # any other gateway route
        "https://res.openai.azure.com/v1",  # a path on an Azure host is kept too
    ],
)
def test_an_endpoint_with_a_path_is_used_exactly_as_given(endpoint: str) -> None:
    for given in (endpoint, endpoint + "/", endpoint + "//"):
        resolved = resolve_endpoint(given, "ignored-project")
        assert resolved.base_url == endpoint
        assert not resolved.completed


@pytest.mark.parametrize(
    "endpoint", ["https://api.openai.com", "http://127.0.0.1:4000", "https://openai.azure.com.evil.example"]
)
def test_a_bare_host_that_is_not_azure_ai_is_used_as_given(endpoint: str) -> None:
    resolved = resolve_endpoint(endpoint + "/")
    assert (resolved.base_url, resolved.completed) == (endpoint, False)
    assert resolved.path == ""


def test_a_full_project_route_asks_for_the_foundry_scope() -> None:
    resolved = resolve_endpoint("https://res.services.ai.azure.com/api/projects/sales/openai/v1")
    assert resolved.scope == FOUNDRY_PROJECT_SCOPE and not resolved.completed
    apim = resolve_endpoint("https://apim.azure-api.net/engram/openai/v1", "sales")
    assert apim.scope == COGNITIVE_SERVICES_SCOPE
