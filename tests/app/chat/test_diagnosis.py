"""Upstream error bodies -> the setting to check (app/chat/diagnosis.py), in the shapes real gateways
answer: OpenAI, Azure OpenAI, APIM, LiteLLM and a plain FastAPI/aiohttp 404; never the upstream text."""

from __future__ import annotations

import pytest

from app.chat.diagnosis import Fault, diagnose

PATH = "/v1/chat/completions"


@pytest.mark.parametrize(
    ("status", "body", "fault"),
    [
        (404, {"statusCode": 404, "message": "Resource not found"}, Fault.ENDPOINT),  # APIM
        (404, {"detail": "Not Found"}, Fault.ENDPOINT),  # LiteLLM / FastAPI
        (404, "404: Not Found", Fault.ENDPOINT),  # aiohttp, plain text
        (404, None, Fault.ENDPOINT),
        (404, {"message": "x", "type": "invalid_request_error", "code": "model_not_found"}, Fault.DEPLOYMENT),
        (
            404,
            {"code": "DeploymentNotFound", "message": "The API deployment ... does not exist."},
            Fault.DEPLOYMENT,
        ),
        (404, {"message": "The model `gpt-x` does not exist", "code": None}, Fault.DEPLOYMENT),
        (
            400,
            {"message": "Invalid model name passed in model=x", "code": "400"},
            Fault.DEPLOYMENT,
        ),  # LiteLLM
        (400, {"message": "messages must not be empty", "code": "invalid_value"}, Fault.OTHER),
        (
            401,
            {"statusCode": 401, "message": "Access denied due to invalid subscription key."},
            Fault.CREDENTIALS,
        ),
        (403, {"error": {"code": "PermissionDenied", "message": "lacks role"}}, Fault.CREDENTIALS),
        (400, {"message": "No connected db.", "type": "no_db_connection", "code": "400"}, Fault.CREDENTIALS),
        (500, {"message": "boom"}, Fault.OTHER),
    ],
)
def test_fault_is_read_from_status_and_body(status: int, body: object, fault: Fault) -> None:
    found = diagnose(status, body, PATH, deployment="chat", key_header="api-key")
    assert found.fault is fault
    assert f"POST {PATH}" in found.message and str(status) in found.message
    if fault is not Fault.OTHER:
        assert f"check {fault.value}" in found.message


def test_upstream_text_and_key_are_never_quoted() -> None:
    body = {"message": "Incorrect API key provided: sk-abc123secret.", "code": "invalid_api_key"}
    found = diagnose(401, body, PATH, deployment="chat", key_header="authorization")
    assert "sk-abc123secret" not in found.message and "Incorrect" not in found.message
    assert "AZURE_AI_KEY_HEADER" in found.message and "Authorization: Bearer" in found.message
    odd = diagnose(
        404,
        {"code": "bad code with spaces", "message": "model x not found"},
        PATH,
        deployment="d",
        key_header=None,
    )
    assert odd.code is None and "bad code" not in odd.message


def test_keyless_refusal_points_at_the_managed_identity() -> None:
    found = diagnose(403, None, PATH, deployment="chat", key_header=None)
    assert "managed identity" in found.message and "Cognitive Services OpenAI User" in found.message
