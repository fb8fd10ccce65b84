"""Every API call and websocket session lands in the trail, by route template, without content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.app.security.conftest import bearer, flush_audit, service
from tests.conftest import make_settings


@pytest.fixture
def audited(tmp_path: Path) -> TestClient:
    settings = make_settings(
        tmp_path, auth_required=True, audit_log_enabled=True, audit_pseudonym_key="k" * 32
    )
    with service(settings) as client:
        yield client  # type: ignore[misc]


def audit_page(client: TestClient, **params: object) -> dict[str, object]:
    flush_audit(client)
    response = client.get("/api/v1/admin/audit", headers=bearer("dev_root_admin"), params=params)
    assert response.status_code == 200, response.text
    flush_audit(client)
    return response.json()  # type: ignore[no-any-return]


def test_api_calls_are_recorded_with_route_template_and_no_content(audited: TestClient) -> None:
    secret = "my card is 4111 1111 1111 1111"
    audited.post("/api/test/echo", headers=bearer("dev_alice_user"), content=secret.encode())
    audited.delete("/api/v1/admin/users/bob-the-subject", headers=bearer("dev_alice_user"))  # 403
    audited.get("/health")  # a probe, not an API call
    items = audit_page(audited)["items"]
    assert [(i["method"], i["route"], i["status"]) for i in items] == [  # type: ignore[index]
        ("POST", "/api/test/echo", 200),
        ("DELETE", "/api/v1/admin/users/{user_id}", 403),
    ]
    first = items[0]  # type: ignore[index]
    assert first["roles"] == ["user"] and first["client_ip"] == "203.0.113.7"
    assert first["user_ref"] and first["user_ref"] != "alice"
    assert first["request_id"]
    dump = str(items)
    assert "4111" not in dump and "bob-the-subject" not in dump and "alice" not in dump


def test_unauthenticated_calls_are_recorded_without_a_user(audited: TestClient) -> None:
    audited.post("/api/v1/voice/ticket")
    (item,) = audit_page(audited)["items"]  # type: ignore[misc]
    assert (item["status"], item["user_ref"], item["route"]) == (401, None, "/api/v1/voice/ticket")


def test_websocket_sessions_have_start_and_end(audited: TestClient) -> None:
    with audited.websocket_connect("/test/ws", subprotocols=["bearer.dev_alice_user"]) as ws:
        ws.receive_json()
    with pytest.raises(WebSocketDisconnect), audited.websocket_connect("/test/ws"):
        pass
    events = [
        (i["event"], i["route"], i["status"], bool(i["user_ref"])) for i in audit_page(audited)["items"]
    ]  # type: ignore[attr-defined]
    assert events == [
        ("ws.start", "/test/ws", 101, True),
        ("ws.end", "/test/ws", 1000, True),
        ("ws.start", "/test/ws", 1008, False),  # refused before accept
    ]


def test_admin_audit_filters_by_user_and_pages(audited: TestClient) -> None:
    for user in ("alice", "bob", "alice"):
        audited.post("/api/test/echo", headers=bearer(f"dev_{user}_user"))
    alice = audit_page(audited, user_id="alice")["items"]
    assert len(alice) == 2  # type: ignore[arg-type]
    page = audit_page(audited, limit=2)
    assert len(page["items"]) == 2 and page["next_after"] == 2  # type: ignore[arg-type]
    rest = audit_page(audited, after=2, limit=2)
    assert rest["items"][0]["seq"] == 3  # type: ignore[index]


def test_admin_audit_rejects_inverted_window(audited: TestClient) -> None:
    response = audited.get(
        "/api/v1/admin/audit",
        headers=bearer("dev_root_admin"),
        params={"since": "2030-01-02T00:00:00", "until": "2030-01-01T00:00:00Z"},
    )
    assert response.status_code == 422


def test_audit_disabled_records_no_calls(tmp_path: Path) -> None:
    with service(make_settings(tmp_path, auth_required=True)) as client:
        client.post("/api/test/echo", headers=bearer("dev_alice_user"))
        assert audit_page(client)["items"] == []


def test_cli_verify_reports_intact_and_broken_chain(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth_required=True, audit_log_enabled=True)
    with service(settings) as client:
        for _ in range(3):
            client.post("/api/test/echo", headers=bearer("dev_alice_user"))
        flush_audit(client)
    env = {"DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-c", "from app.cli import main; main()", "audit", "verify"]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "intact: 3 records" in ok.stdout

    import sqlite3

    db = sqlite3.connect(settings.data_dir / "engram.db")
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET status = 299 WHERE seq = 2")
    db.commit()
    db.close()
    broken = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert broken.returncode == 1
    assert "broken at record 2" in broken.stderr
