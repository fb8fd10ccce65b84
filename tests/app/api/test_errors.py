"""Unhandled errors become a 500 with a request id; no stack trace or secret reaches the client."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
from pydantic import BaseModel

from app.main import create_app
from app.observability.logging import configure_logging
from tests.conftest import make_settings


class Body(BaseModel):
    count: int


async def test_unhandled_error_is_500_with_request_id(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("db password=hunter2-secret leaked in an exception")

    stream = io.StringIO()
    handler = configure_logging(make_settings(tmp_path), stream=stream)
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/boom", headers={"X-Request-ID": "trace-me-1"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == "trace-me-1"
    assert response.headers["x-request-id"] == "trace-me-1"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    error = next(r for r in records if r["logger"] == "engram.errors")
    assert error["request_id"] == "trace-me-1"  # the operator finds it by the id the client saw
    assert "hunter2" not in json.dumps(error)


async def test_validation_errors_do_not_echo_input(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    @app.post("/echo")
    async def echo(body: Body) -> Body:
        return body

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/echo", json={"count": "jane.doe@contoso.example"})
    assert response.status_code == 422
    assert "jane.doe" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "count"]
