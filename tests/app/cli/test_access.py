"""`engram access review`: the table and JSON an admin signs, its audit record, and bad input."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from app.audit.trail import AuditEvent, AuditTrail, pseudonym_key
from app.cli import cli
from app.db.engine import create_engine, session_factory
from app.db.migrate import upgrade
from app.settings import Settings, get_settings
from tests.conftest import make_settings


def _seed(settings: Settings) -> None:
    now = datetime.now(UTC)

    async def _go() -> None:
        engine = create_engine(settings)
        try:
            await upgrade(engine)
            trail = AuditTrail(session_factory(engine), pseudonym_key(settings))
            for user, roles, days in (("dormant-admin", ["admin"], 60), ("active-user", ["user"], 1)):
                await trail.append(
                    AuditEvent(
                        event="http", user_id=user, tenant_id="t1", roles=roles, at=now - timedelta(days=days)
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(_go())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path)
    _seed(settings)
    return settings


def _access(settings: Settings, *args: str) -> Result:
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, ["access", *args], env={"DATA_DIR": str(settings.data_dir)})
    finally:
        get_settings.cache_clear()


def test_json_review_lists_the_dormant_admin_first(settings: Settings) -> None:
    result = _access(settings, "review", "--json", "--reviewer", "ops@example.test", "--client-id", "abc")
    assert result.exit_code == 0, result.output
    review = json.loads(result.stdout)
    assert review["counts"]["identities"] == 2 and review["counts"]["dormant_privileged"] == 1
    first = review["identities"][0]
    assert first["roles"] == ["admin"] and first["dormant"] is True
    assert "dormant-admin" not in result.stdout and "ops@example.test" not in result.stdout
    assert "servicePrincipals(appId='abc')" in review["compare_with_entra"]["az"]
    assert [r["value"] for r in review["app_roles"]] == ["engram.user", "engram.analyst", "engram.admin"]


def test_table_review_flags_and_is_recorded(settings: Settings) -> None:
    result = _access(settings, "review", "--since", "4w", "--reviewer", "ops")
    assert result.exit_code == 0, result.output
    assert "DORMANT privileged" in result.stdout
    assert "az rest --method GET" in result.stdout and "<API_CLIENT_ID>" in result.stdout
    assert "Signed:" in result.stdout
    again = json.loads(_access(settings, "review", "--json", "--reviewer", "ops").stdout)
    assert again["counts"]["identities"] == 2  # the first review's record is not an identity


@pytest.mark.parametrize("since", ["30", "1y", "0d"])
def test_bad_since_exits_2(settings: Settings, since: str) -> None:
    result = _access(settings, "review", "--since", since, "--reviewer", "ops")
    assert result.exit_code == 2
    assert "--since" in result.output


def test_unmigrated_database_exits_2_without_a_trace(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    result = _access(settings, "review", "--reviewer", "ops")
    assert result.exit_code == 2
    assert "engram db upgrade" in result.output and "Traceback" not in result.output


def test_assignments_file_is_matched(settings: Settings, tmp_path: Path) -> None:
    graph = tmp_path / "assignments.json"
    graph.write_text(
        json.dumps(
            {
                "value": [
                    {"principalId": "dormant-admin", "principalType": "User", "appRoleId": "r"},
                    {"principalId": "someone-else", "principalType": "User", "appRoleId": "r"},
                ]
            }
        )
    )
    result = _access(settings, "review", "--reviewer", "ops", "--assignments", str(graph))
    assert result.exit_code == 0, result.output
    assert "never-used" in result.stdout and "dormant" in result.stdout
    as_json = json.loads(
        _access(settings, "review", "--json", "--reviewer", "ops", "--assignments", str(graph)).stdout
    )
    assert [a["state"] for a in as_json["assignments"]] == ["never-used", "dormant"]


def test_assignments_file_not_json_exits_2(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    result = _access(settings, "review", "--reviewer", "ops", "--assignments", str(bad))
    assert result.exit_code == 2 and "--assignments" in result.output
