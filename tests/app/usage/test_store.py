"""`UsageStore` on SQLite and PostgreSQL: upsert-increments (also concurrent ones), the groupings the
routes read, pagination, and erasure folding a user's rows into anonymous aggregates."""

from __future__ import annotations

import asyncio
from datetime import date

from app.usage.store import ERASED_USER_REF, UsageCounts, UsageKey, UsageStore

DAY1, DAY2 = date(2026, 11, 30), date(2026, 12, 1)


def key(
    day: date = DAY2, user: str = "u1", agent: str = "elena", channel: str = "chat", tenant: str = "t1"
) -> UsageKey:
    return UsageKey(day=day, tenant_id=tenant, user_ref=user, agent_id=agent, model="chat", channel=channel)


def chat(prompt: int, completion: int) -> UsageCounts:
    return UsageCounts(requests=1, text_input_tokens=prompt, text_output_tokens=completion)


async def test_adds_increment_the_one_row_of_their_key(usage_store: UsageStore) -> None:
    await usage_store.add([(key(), chat(10, 5))])
    await usage_store.add([(key(), chat(1, 2)), (key(agent="marcus"), chat(3, 4))])
    lines = await usage_store.lines(("agent_id",), since=DAY2, until=DAY2, user_ref="u1")
    by_agent = {line.group["agent_id"]: line.counts for line in lines}
    assert by_agent["elena"] == UsageCounts(requests=2, text_input_tokens=11, text_output_tokens=7)
    assert by_agent["marcus"].text_input_tokens == 3
    assert await usage_store.tokens_on("u1", DAY2) == 11 + 7 + 3 + 4
    assert await usage_store.tokens_on("u1", DAY1) == 0


async def test_concurrent_adds_lose_no_count(usage_store: UsageStore) -> None:
    """Replicas add to the same row at once: the upsert-increment is atomic on both backends."""
    await asyncio.gather(*(usage_store.add([(key(), chat(1, 1))]) for _ in range(20)))
    (line,) = await usage_store.lines(("day",), since=DAY2, until=DAY2)
    assert line.counts.requests == 20 and line.counts.tokens.total == 40


async def test_voice_counts_and_seconds_add_up(usage_store: UsageStore) -> None:
    voice = UsageCounts(requests=1, audio_input_tokens=100, audio_output_tokens=200, text_output_tokens=5)
    await usage_store.add(
        [(key(channel="voice"), voice), (key(channel="voice"), UsageCounts(voice_seconds=12.5))]
    )
    (line,) = await usage_store.lines(("channel",), since=DAY2, until=DAY2, user_ref="u1")
    assert line.group == {"channel": "voice"}
    assert line.counts.voice_seconds == 12.5 and line.counts.tokens.total == 305


async def test_lines_are_newest_day_first_and_filtered_by_range_user_and_tenant(
    usage_store: UsageStore,
) -> None:
    await usage_store.add(
        [
            (key(day=DAY1), chat(1, 1)),
            (key(day=DAY2), chat(2, 2)),
            (key(user="u2"), chat(5, 5)),
            (key(user="u3", tenant="t2"), chat(7, 7)),
        ]
    )
    mine = await usage_store.lines(("day",), since=DAY1, until=DAY2, user_ref="u1")
    assert [line.group["day"] for line in mine] == [DAY2, DAY1]
    assert [line.group["day"] for line in await usage_store.lines(("day",), since=DAY1, until=DAY1)] == [DAY1]
    tenant = await usage_store.lines(("user_ref",), since=DAY1, until=DAY2, tenant_id="t2")
    assert [line.group["user_ref"] for line in tenant] == ["u3"]


async def test_groups_paginate_with_a_total(usage_store: UsageStore) -> None:
    await usage_store.add([(key(user=f"u{i}"), chat(1, 1)) for i in range(5)])
    keys = ("day", "tenant_id", "user_ref")
    first, total = await usage_store.groups(
        keys, since=DAY2, until=DAY2, tenant_id=None, user_ref=None, limit=2, offset=0
    )
    rest, _ = await usage_store.groups(
        keys, since=DAY2, until=DAY2, tenant_id=None, user_ref=None, limit=10, offset=2
    )
    assert total == 5 and len(first) == 2 and len(rest) == 3
    assert {k[2] for k in first} | {k[2] for k in rest} == {f"u{i}" for i in range(5)}
    picked = await usage_store.lines((*keys, "model"), since=DAY2, until=DAY2, keys=first, key_columns=keys)
    assert {line.group["user_ref"] for line in picked} == {k[2] for k in first}


async def test_erasure_folds_the_users_rows_into_anonymous_aggregates(usage_store: UsageStore) -> None:
    await usage_store.add([(key(user="gone"), chat(10, 10)), (key(user="other"), chat(1, 1))])
    await usage_store.add([(key(user=ERASED_USER_REF), chat(100, 0))])  # someone erased earlier
    assert await usage_store.erase("gone") == 1
    assert await usage_store.erase("gone") == 0  # idempotent
    lines = await usage_store.lines(("user_ref",), since=DAY2, until=DAY2)
    by_user = {line.group["user_ref"]: line.counts for line in lines}
    assert set(by_user) == {"other", ERASED_USER_REF}
    assert by_user[ERASED_USER_REF] == UsageCounts(requests=2, text_input_tokens=110, text_output_tokens=10)
    tenant_total = await usage_store.lines(("tenant_id",), since=DAY2, until=DAY2)
    assert tenant_total[0].counts.tokens.total == 20 + 2 + 100  # the tenant's totals did not change
