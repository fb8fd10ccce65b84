"""`UsageMeter`: recording is memory only, the writer batches into the store, bounded and counted;
VoiceLive `response.done` usage is split by modality; the daily budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.observability import signals
from app.usage.meter import UsageMeter, voice_counts
from app.usage.store import UsageCounts, UsageStore
from tests.telemetry import Sink

KEY = b"test-pseudonym-key"


def meter_on(store: UsageStore, **overrides: object) -> UsageMeter:
    return UsageMeter(store, KEY, **overrides)  # type: ignore[arg-type]


def today() -> datetime:
    return datetime.now(UTC)


async def test_recording_waits_for_the_flush_then_sums_in_one_row(usage_store: UsageStore) -> None:
    meter = meter_on(usage_store)
    for _ in range(3):
        meter.record_chat("ann", "t1", "elena", "chat", 10, 4)
    ref = meter.user_ref("ann")
    assert ref != "ann" and len(ref) == 64  # the audit trail's keyed pseudonym
    assert await usage_store.tokens_on(ref, today().date()) == 0  # nothing stored yet
    await meter.flush()
    (line,) = await usage_store.lines(("agent_id", "channel"), since=today().date(), until=today().date())
    assert line.counts == UsageCounts(requests=3, text_input_tokens=30, text_output_tokens=12)


async def test_a_gateway_without_usage_is_counted_as_such(usage_store: UsageStore) -> None:
    meter = meter_on(usage_store)
    meter.record_chat("ann", None, "elena", "chat", None, None)
    await meter.flush()
    (line,) = await usage_store.lines(("tenant_id",), since=today().date(), until=today().date())
    assert line.group == {"tenant_id": ""}
    assert line.counts == UsageCounts(requests=1, requests_without_usage=1)


async def test_the_writer_backlog_is_bounded_and_drops_are_counted(
    usage_store: UsageStore, sink: Sink
) -> None:
    before = sink.value(signals.USAGE_DROPPED.name, reason="backlog_full")
    meter = meter_on(usage_store, max_pending=2)
    for agent in ("a", "b", "c", "d"):
        meter.record_chat("ann", None, agent, "chat", 1, 1)
    meter.record_chat("ann", None, "a", "chat", 1, 1)  # an existing row still adds up
    assert meter.dropped == 2
    assert sink.value(signals.USAGE_DROPPED.name, reason="backlog_full") == before + 2
    await meter.flush()
    lines = await usage_store.lines(("agent_id",), since=today().date(), until=today().date())
    assert {line.group["agent_id"]: line.counts.requests for line in lines} == {"a": 2, "b": 1}


async def test_a_failed_flush_keeps_its_rows_for_the_next(usage_store: UsageStore) -> None:
    meter = meter_on(usage_store)
    meter.record_chat("ann", None, "elena", "chat", 5, 5)
    real_add = usage_store.add

    async def broken(batch: object) -> None:
        raise OSError("database away")

    usage_store.add = broken  # type: ignore[method-assign]
    await meter.flush()
    usage_store.add = real_add  # type: ignore[method-assign]
    await meter.flush()
    assert await usage_store.tokens_on(meter.user_ref("ann"), today().date()) == 10


async def test_the_writer_task_flushes_in_the_background_and_on_close(usage_store: UsageStore) -> None:
    meter = meter_on(usage_store, flush_s=0.05)
    meter.start()
    meter.record_chat("ann", None, "elena", "chat", 1, 2)
    await meter.aclose()
    assert await usage_store.tokens_on(meter.user_ref("ann"), today().date()) == 3


async def test_voice_session_records_response_usage_and_seconds(usage_store: UsageStore) -> None:
    meter = meter_on(usage_store)
    session = meter.voice_session("ann", "t1", "elena", "realtime")
    session.on_usage(
        "marcus",
        {
            "total_tokens": 350,
            "input_tokens": 120,
            "output_tokens": 230,
            "input_token_details": {"text_tokens": 20, "audio_tokens": 100, "cached_tokens": 0},
            "output_token_details": {"text_tokens": 30, "audio_tokens": 200},
        },
    )
    session.close()
    await meter.flush()
    lines = await usage_store.lines(
        ("agent_id", "model", "channel"), since=today().date(), until=today().date()
    )
    by_agent = {line.group["agent_id"]: line for line in lines}
    marcus = by_agent["marcus"].counts
    assert (marcus.text_input_tokens, marcus.audio_input_tokens) == (20, 100)
    assert (marcus.text_output_tokens, marcus.audio_output_tokens) == (30, 200)
    assert by_agent["elena"].counts.voice_seconds >= 0 and by_agent["elena"].group["channel"] == "voice"


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, UsageCounts(requests=1, requests_without_usage=1)),
        (
            {"input_tokens": 9, "output_tokens": 4},
            UsageCounts(requests=1, text_input_tokens=9, text_output_tokens=4),
        ),
        (
            {"input_tokens": "x", "output_tokens": -3, "output_token_details": {"audio_tokens": True}},
            UsageCounts(requests=1),
        ),
    ],
)
def test_voice_counts_without_a_split_or_with_junk(usage: object, expected: UsageCounts) -> None:
    assert voice_counts(usage) == expected


async def test_the_budget_counts_stored_and_unflushed_tokens(usage_store: UsageStore) -> None:
    meter = meter_on(usage_store, daily_token_budget=30)
    meter.record_chat("ann", None, "elena", "chat", 10, 10)
    await meter.flush()
    assert await meter.budget_retry_after("ann") is None  # 20 of 30
    meter.record_chat("ann", None, "elena", "chat", 5, 5)  # not flushed yet: still counted
    wait = await meter.budget_retry_after("ann")
    assert wait is not None and 1 <= wait <= 86_400
    assert await meter.budget_retry_after("bob") is None
    assert await meter_on(usage_store).budget_retry_after("ann") is None  # no budget set
