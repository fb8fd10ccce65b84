"""`GET /api/v1/usage` and `GET /api/v1/admin/usage` over the real app and the OpenAI double: what chat
records (plain, streamed, a gateway without usage), costs from the price table, date validation,
auth and admin pagination, and the daily token budget (chat 429; voice in tests/integration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.app.chat.helpers import auth, running
from tests.conftest import settings_with_doubles
from tests.doubles.openai_server import OpenAIDouble, Step

PRICES = {"gpt-test": {"text_input": 1.0, "text_output": 2.0}}


def settings_for(tmp_path: Path, gateway: OpenAIDouble, **overrides: object) -> Settings:
    return settings_with_doubles(tmp_path, gateway=gateway.base_url, **{"usage_prices": PRICES, **overrides})


async def chat(client: httpx.AsyncClient, user: str, agent: str = "elena", role: str = "analyst") -> None:
    response = await client.post(
        "/api/v1/chat", json={"content": "hi", "agent_id": agent}, headers=auth(user, role)
    )
    assert response.status_code == 200, response.text


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_own_usage_by_day_and_agent_with_cost(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(settings_for(tmp_path, gateway)) as (app, client):
        await chat(client, "ann")
        await chat(client, "ann")
        await chat(client, "ann", agent="marcus")
        await chat(client, "bob")
        response = await client.get("/api/v1/usage", headers=auth("ann"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_ref"] == app.state.usage.user_ref("ann") and "ann" not in body["user_ref"]
    days = {d["agent_id"]: d for d in body["days"]}
    assert set(days) == {"elena", "marcus"}
    elena = days["elena"]
    assert (elena["day"], elena["channel"], elena["model"], elena["requests"]) == (
        today(),
        "chat",
        "gpt-test",
        2,
    )
    assert elena["tokens"] == {
        "text_input": 22,
        "text_output": 14,
        "audio_input": 0,
        "audio_output": 0,
        "total": 36,
    }
    assert elena["cost"] == {"amount": pytest.approx(22 / 1000 * 1.0 + 14 / 1000 * 2.0), "reason": None}
    assert body["totals"]["requests"] == 3 and body["totals"]["tokens"]["total"] == 54
    assert body["budget"] == {"daily_token_budget": None, "used_today": 54, "remaining_today": None}


async def test_streamed_replies_are_metered_from_the_usage_chunk(
    tmp_path: Path, gateway: OpenAIDouble
) -> None:
    gateway.script(Step(prompt_tokens=100, completion_tokens=50))
    async with running(settings_for(tmp_path, gateway)) as (_, client):
        streamed = await client.post("/api/v1/chat/stream", json={"content": "hi"}, headers=auth("ann"))
        assert streamed.status_code == 200
        body = (await client.get("/api/v1/usage", headers=auth("ann"))).json()
    assert gateway.requests[-1].body["stream_options"] == {"include_usage": True}
    assert body["totals"]["tokens"]["text_input"] == 100 and body["totals"]["tokens"]["text_output"] == 50


async def test_a_gateway_that_omits_usage_is_counted_not_guessed(
    tmp_path: Path, gateway: OpenAIDouble
) -> None:
    gateway.script(Step(omit_usage=True), Step(omit_usage=True))
    async with running(settings_for(tmp_path, gateway)) as (_, client):
        await chat(client, "ann")
        streamed = await client.post("/api/v1/chat/stream", json={"content": "hi"}, headers=auth("ann"))
        assert streamed.status_code == 200
        body = (await client.get("/api/v1/usage", headers=auth("ann"))).json()
    totals = body["totals"]
    assert (
        totals["requests"] == 2 and totals["requests_without_usage"] == 2 and totals["tokens"]["total"] == 0
    )


async def test_a_model_missing_from_the_price_table_costs_null_with_the_reason(
    tmp_path: Path, gateway: OpenAIDouble
) -> None:
    async with running(settings_for(tmp_path, gateway, usage_prices={})) as (_, client):
        await chat(client, "ann")
        body = (await client.get("/api/v1/usage", headers=auth("ann"))).json()
    assert body["days"][0]["cost"] == {
        "amount": None,
        "reason": "no price for model 'gpt-test' in USAGE_PRICES",
    }
    assert body["totals"]["cost"]["amount"] is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "date"),
        ("until=2026-13-01", "date"),
        ("until=0", "YYYY-MM-DD"),  # not a Unix time
        ("since=2026-12-01T00:00:00Z", "YYYY-MM-DD"),
    ],
)
async def test_bad_dates_are_422_naming_the_parameter(
    tmp_path: Path, gateway: OpenAIDouble, query: str, message: str
) -> None:
    async with running(settings_for(tmp_path, gateway)) as (_, client):
        response = await client.get(f"/api/v1/usage?{query}", headers=auth("ann"))
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["loc"][0] == "query" and message in problem["msg"]


@pytest.mark.parametrize(
    ("query", "since", "until"),
    [
        ("since=2026-12-02&until=2026-12-01", "2026-12-02", "2026-12-01"),  # empty, as the audit route
        ("since=2020-01-01&until=2026-11-30", "2025-11-30", "2026-11-30"),  # cut to the last 366 days
        ("until=0001-01-05", "0001-01-01", "0001-01-05"),  # the default 30 days cannot go before year 1
    ],
)
async def test_ranges_are_reported_as_read(
    tmp_path: Path, gateway: OpenAIDouble, query: str, since: str, until: str
) -> None:
    async with running(settings_for(tmp_path, gateway)) as (_, client):
        await chat(client, "ann")
        body = (await client.get(f"/api/v1/usage?{query}", headers=auth("ann"))).json()
    assert (body["since"], body["until"], body["days"]) == (since, until, [])


async def test_a_range_without_usage_is_empty(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(settings_for(tmp_path, gateway)) as (_, client):
        await chat(client, "ann")
        old = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
        body = (await client.get(f"/api/v1/usage?since={old}&until={old}", headers=auth("ann"))).json()
    assert body["days"] == [] and body["totals"]["requests"] == 0 and body["totals"]["cost"]["amount"] == 0


async def test_usage_needs_a_token_and_the_admin_view_the_admin_role(
    tmp_path: Path, gateway: OpenAIDouble
) -> None:
    async with running(settings_for(tmp_path, gateway, auth_required=True)) as (_, client):
        anonymous = await client.get("/api/v1/usage")
        user = await client.get("/api/v1/admin/usage", headers=auth("ann", "user"))
        analyst = await client.get("/api/v1/admin/usage", headers=auth("ann", "analyst"))
        admin = await client.get("/api/v1/admin/usage", headers=auth("root", "admin"))
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert user.status_code == analyst.status_code == 403
    assert admin.status_code == 200


async def test_admin_usage_by_day_tenant_and_user_paginated(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(settings_for(tmp_path, gateway)) as (app, client):
        for user in ("ann", "bob", "cat"):
            await chat(client, user)
        await chat(client, "ann", agent="marcus")
        admin = auth("root", "admin")
        first = (await client.get("/api/v1/admin/usage?limit=2", headers=admin)).json()
        rest = (await client.get("/api/v1/admin/usage?limit=2&offset=2", headers=admin)).json()
        only_ann = (await client.get("/api/v1/admin/usage?user_id=ann", headers=admin)).json()
        other_tenant = (await client.get("/api/v1/admin/usage?tenant_id=elsewhere", headers=admin)).json()
        too_big = await client.get("/api/v1/admin/usage?limit=501", headers=admin)
    assert (first["total_count"], first["limit"], first["offset"], len(first["items"])) == (3, 2, 0, 2)
    assert len(rest["items"]) == 1
    refs = {item["user_ref"] for item in first["items"] + rest["items"]}
    assert refs == {app.state.usage.user_ref(u) for u in ("ann", "bob", "cat")}
    assert not any(u in json.dumps(first) for u in ('"ann"', '"bob"', '"cat"'))
    (ann,) = only_ann["items"]
    assert ann["requests"] == 2 and ann["tokens"]["total"] == 36 and ann["models"] == ["gpt-test"]
    assert ann["cost"]["amount"] == pytest.approx(2 * (11 / 1000 + 7 / 1000 * 2))
    assert other_tenant == {"items": [], "total_count": 0, "limit": 100, "offset": 0}
    assert too_big.status_code == 422


async def test_past_the_daily_budget_chat_answers_429_with_a_clear_message(
    tmp_path: Path, gateway: OpenAIDouble
) -> None:
    async with running(settings_for(tmp_path, gateway, usage_daily_token_budget=30)) as (_, client):
        await chat(client, "ann")  # 18 tokens
        await chat(client, "ann")  # 36: over from now on
        refused = await client.post("/api/v1/chat", json={"content": "hi"}, headers=auth("ann"))
        streamed = await client.post("/api/v1/chat/stream", json={"content": "hi"}, headers=auth("ann"))
        others = await client.post("/api/v1/chat", json={"content": "hi"}, headers=auth("bob"))
        budget = (await client.get("/api/v1/usage", headers=auth("ann"))).json()["budget"]
    assert refused.status_code == streamed.status_code == 429
    assert "daily token budget (30 tokens" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    assert others.status_code == 200
    assert len(gateway.requests) == 3, "a refused chat never reaches the gateway"
    assert budget == {"daily_token_budget": 30, "used_today": 36, "remaining_today": 0}


async def test_metering_off_answers_503_naming_the_setting(tmp_path: Path, gateway: OpenAIDouble) -> None:
    async with running(settings_for(tmp_path, gateway, usage_metering_enabled=False)) as (_, client):
        await chat(client, "ann")
        response = await client.get("/api/v1/usage", headers=auth("ann"))
    assert response.status_code == 503 and "USAGE_METERING_ENABLED" in response.json()["detail"]
