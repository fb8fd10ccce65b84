"""Usage: `GET /api/v1/usage` (the caller's own, by day and agent) and `GET /api/v1/admin/usage`
(admin: by day, tenant and user, paginated). Both show a cost estimate from USAGE_PRICES; a cost
the table cannot price is null with the reason. Users appear as the audit trail's pseudonym
(`user_ref`), never their id.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, BeforeValidator, Field

from app.api.deps import ServicesDep
from app.security.deps import CurrentIdentity, UsageAdmin
from app.usage.meter import UsageMeter
from app.usage.prices import Cost, PriceTable, total_cost
from app.usage.store import ERASED_USER_REF, NO_TENANT, UsageCounts

router = APIRouter(tags=["usage"])

#: The longest range one request may ask for (days, inclusive).
MAX_RANGE_DAYS = 366
#: The range when none is given: the last 30 days, today included.
DEFAULT_RANGE_DAYS = 30
MAX_PAGE = 500
MAX_OFFSET = 1_000_000


class TokenCounts(BaseModel):
    text_input: int
    text_output: int
    audio_input: int
    audio_output: int
    total: int


class CostEstimate(BaseModel):
    amount: float | None = Field(
        description="Estimated cost in the price table's currency; null when unpriced."
    )
    reason: str | None = Field(description="Why the amount is null (a price missing from USAGE_PRICES).")


class UsageFigures(BaseModel):
    requests: int = Field(description="Chat replies and voice responses.")
    requests_without_usage: int = Field(description="Replies whose gateway answer carried no token usage.")
    tokens: TokenCounts
    voice_seconds: float
    cost: CostEstimate


class UsageDay(UsageFigures):
    day: date
    agent_id: str
    channel: str
    model: str


class BudgetStatus(BaseModel):
    daily_token_budget: int | None = Field(description="USAGE_DAILY_TOKEN_BUDGET; null when there is none.")
    used_today: int = Field(description="Tokens used today (UTC), this replica's unstored ones included.")
    remaining_today: int | None


class UsageReport(BaseModel):
    since: date = Field(description="First day reported (a range over 366 days is cut to its last 366).")
    until: date
    user_ref: str = Field(description="The caller's pseudonym, as in the audit trail.")
    days: list[UsageDay] = Field(description="Newest day first, then agent, channel and model.")
    totals: UsageFigures
    budget: BudgetStatus


class AdminUsageItem(UsageFigures):
    day: date
    tenant_id: str | None
    user_ref: str = Field(description=f"The user's pseudonym; \"{ERASED_USER_REF}\" for erased users' usage.")
    models: list[str]


class AdminUsagePage(BaseModel):
    items: list[AdminUsageItem] = Field(description="Newest day first, then tenant and user.")
    total_count: int
    limit: int
    offset: int


def _meter(meter: UsageMeter | None) -> UsageMeter:
    if meter is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "usage metering is off (set USAGE_METERING_ENABLED=true)"
        )
    return meter


def _days_before(day: date, days: int) -> date:
    try:
        return day - timedelta(days=days)
    except OverflowError:  # before year 1
        return date.min


def _range(since: date | None, until: date | None) -> tuple[date, date]:
    """The inclusive day range actually reported (the answer names it).

    Schema-valid ranges are never refused (as the audit route does): `since` after `until` is an empty
    report, and a range longer than `MAX_RANGE_DAYS` is cut to the last `MAX_RANGE_DAYS` days up to
    `until`, so one request reads a bounded number of rows.
    """
    until = until or datetime.now(UTC).date()
    since = since or _days_before(until, DEFAULT_RANGE_DAYS - 1)
    if since <= until:
        since = max(since, _days_before(until, MAX_RANGE_DAYS - 1))
    return since, until


def _figures(counts: UsageCounts, cost: Cost) -> dict[str, Any]:
    tokens = counts.tokens
    return {
        "requests": counts.requests,
        "requests_without_usage": counts.requests_without_usage,
        "tokens": TokenCounts(
            text_input=tokens.text_input,
            text_output=tokens.text_output,
            audio_input=tokens.audio_input,
            audio_output=tokens.audio_output,
            total=tokens.total,
        ),
        "voice_seconds": round(counts.voice_seconds, 3),
        "cost": CostEstimate(amount=cost.amount, reason=cost.reason),
    }


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: object) -> object:
    """Query dates are `YYYY-MM-DD` as the spec's `date` says: no bare numbers (pydantic would read
    them as Unix times) and no date-times."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("use a date as YYYY-MM-DD, e.g. 2026-01-31")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]

Since = Annotated[
    IsoDate | None, Query(description="First day (UTC, YYYY-MM-DD); default: 29 days before until.")
]
Until = Annotated[IsoDate | None, Query(description="Last day (UTC, YYYY-MM-DD, inclusive); default: today.")]


@router.get("/api/v1/usage", response_model=UsageReport, operation_id="usage-own")
async def own_usage(
    identity: CurrentIdentity, services: ServicesDep, since: Since = None, until: Until = None
) -> UsageReport:
    """The caller's own tokens, voice seconds and cost estimate by day and agent, and today's budget."""
    first, last = _range(since, until)
    meter = _meter(services.usage)
    await meter.flush()  # this replica's latest usage is in the answer
    prices = PriceTable(services.settings.usage_prices)
    ref = meter.user_ref(identity.user_id)
    lines = await meter.store.lines(
        ("day", "agent_id", "channel", "model"), since=first, until=last, user_ref=ref
    )
    days, costs, totals = [], [], UsageCounts()
    for line in lines:
        cost = prices.cost(line.group["model"], line.counts.tokens)
        costs.append(cost)
        totals.add(line.counts)
        days.append(UsageDay(**line.group, **_figures(line.counts, cost)))
    today = datetime.now(UTC).date()
    used = await meter.store.tokens_on(ref, today) + meter.pending_tokens(ref, today)
    budget = meter.daily_token_budget
    return UsageReport(
        since=first,
        until=last,
        user_ref=ref,
        days=days,
        totals=UsageFigures(**_figures(totals, total_cost(costs))),
        budget=BudgetStatus(
            daily_token_budget=budget,
            used_today=used,
            remaining_today=max(budget - used, 0) if budget is not None else None,
        ),
    )


@router.get("/api/v1/admin/usage", response_model=AdminUsagePage, operation_id="admin-usage")
async def admin_usage(
    _admin: UsageAdmin,
    services: ServicesDep,
    since: Since = None,
    until: Until = None,
    tenant_id: Annotated[str | None, Query(max_length=64, description="Only this tenant.")] = None,
    user_id: Annotated[str | None, Query(min_length=1, max_length=128, description="Only this user.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AdminUsagePage:
    """Usage by day, tenant and user (pseudonymised), with cost estimates, one page at a time (admin)."""
    first, last = _range(since, until)
    meter = _meter(services.usage)
    await meter.flush()
    ref = meter.user_ref(user_id) if user_id is not None else None
    tenant = None if tenant_id is None else tenant_id
    keys_on = ("day", "tenant_id", "user_ref")
    keys, total = await meter.store.groups(
        keys_on, since=first, until=last, tenant_id=tenant, user_ref=ref, limit=limit, offset=offset
    )
    lines = await meter.store.lines(
        (*keys_on, "model"), since=first, until=last, keys=keys, key_columns=keys_on
    )
    prices = PriceTable(services.settings.usage_prices)
    counts: dict[tuple[Any, ...], UsageCounts] = defaultdict(UsageCounts)
    costs: dict[tuple[Any, ...], list[Cost]] = defaultdict(list)
    models: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for line in lines:
        key = tuple(line.group[c] for c in keys_on)
        counts[key].add(line.counts)
        costs[key].append(prices.cost(line.group["model"], line.counts.tokens))
        models[key].append(line.group["model"])
    items = [
        AdminUsageItem(
            day=day,
            tenant_id=tenant_value if tenant_value != NO_TENANT else None,
            user_ref=user_ref,
            models=sorted(set(models[(day, tenant_value, user_ref)])),
            **_figures(
                counts[(day, tenant_value, user_ref)], total_cost(costs[(day, tenant_value, user_ref)])
            ),
        )
        for day, tenant_value, user_ref in keys
    ]
    return AdminUsagePage(items=items, total_count=total, limit=limit, offset=offset)
