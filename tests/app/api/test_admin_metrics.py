"""`GET /api/v1/admin/metrics`: admin only, numbers from what was recorded, nulls without data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.observability import metrics
from app.observability.live import LIVE
from tests.conftest import make_settings

ADMIN = {"Authorization": "Bearer dev_root_admin"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    LIVE.clear()
    with TestClient(create_app(make_settings(tmp_path))) as test_client:
        yield test_client
    LIVE.clear()


def test_needs_the_metrics_permission(client: TestClient) -> None:
    assert client.get("/api/v1/admin/metrics").status_code == 403  # POC analyst
    user = client.get("/api/v1/admin/metrics", headers={"Authorization": "Bearer dev_bob_user"})
    assert user.status_code == 403
    assert "metrics:read" in user.json()["detail"]
    assert client.get("/api/v1/admin/metrics", headers=ADMIN).status_code == 200


def test_without_data_rates_and_percentiles_are_null(client: TestClient) -> None:
    body = client.get("/api/v1/admin/metrics", headers=ADMIN).json()
    assert body["chat_latency"] == {"samples": 0, "p50_ms": None, "p95_ms": None, "by_outcome": {}}
    assert body["voice"]["error_rate"] is None
    assert body["voice"]["active_sessions"] == 0
    assert body["memory"] == {"backend": "sql", "degradations": 0, "zep_reachable": None, "degraded": False}


def test_reports_what_the_emitters_recorded(client: TestClient) -> None:
    for ms in (100.0, 200.0, 300.0, 4000.0):
        metrics.chat_latency(ms, "pm", "ok")
    metrics.voice_session_started("pm")
    metrics.voice_session_started("pm")
    metrics.voice_sessions_active(+2)
    metrics.voice_session_error("upstream_closed")
    metrics.memory_degraded("add", "timeout")
    body = client.get("/api/v1/admin/metrics", headers=ADMIN, params={"minutes": 10}).json()
    assert body["window_minutes"] == 10
    assert body["chat_latency"]["samples"] == 4
    assert (body["chat_latency"]["p50_ms"], body["chat_latency"]["p95_ms"]) == (200.0, 4000.0)
    assert body["voice"]["active_sessions"] == 2
    assert body["voice"]["error_rate"] == 0.5
    assert body["memory"]["degraded"] is True


def test_a_bad_token_is_refused_and_counted(client: TestClient) -> None:
    for _ in range(3):
        refused = client.get("/api/v1/admin/metrics", headers={"Authorization": "Bearer not-a-token"})
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    body = client.get("/api/v1/admin/metrics", headers=ADMIN).json()
    assert body["auth_failures_last_minute"] == 3


def test_window_is_bounded(client: TestClient) -> None:
    response = client.get("/api/v1/admin/metrics", headers=ADMIN, params={"minutes": 61})
    assert response.status_code == 422
