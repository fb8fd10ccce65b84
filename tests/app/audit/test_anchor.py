"""The service logs the audit head (`audit_head`: seq + hash only) periodically, and stops on shutdown.

The lines go through the service's real JSON formatter and redaction filters, so a test fails if the
redaction ever mangles the hash (it would no longer be a usable anchor) or a field beyond seq and
hash sneaks in.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.audit.anchor import HEAD_EVENT, head_anchor_task, log_head
from app.audit.trail import Anchor, AuditTrail
from app.observability.logging import context_filters, json_formatter
from tests.app.audit.helpers import http_event
from tests.app.security.conftest import service
from tests.conftest import make_settings

TINY = 0.01  # seconds between head lines where a test runs on the real clock
WAIT = 10.0  # the most a test waits for a line before failing


Line = dict[str, object]


class HeadLines(logging.Handler):
    """The `audit_head` lines of logger engram.audit, formatted and filtered as the service prints them."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(json_formatter())
        for log_filter in context_filters():
            self.addFilter(log_filter)
        self.lines: list[Line] = []
        self._arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        line = json.loads(self.format(record))
        if line["message"] == HEAD_EVENT:
            self.lines.append(line)
            self._arrived.set()

    async def until(self, done: Callable[[list[Line]], bool]) -> None:
        """Wait for lines until `done(lines)` holds; fail after WAIT seconds."""
        async with asyncio.timeout(WAIT):
            while not done(self.lines):
                self._arrived.clear()
                await self._arrived.wait()


@pytest.fixture
def head_lines() -> Iterator[HeadLines]:
    captured = HeadLines()
    logger = logging.getLogger("engram.audit")
    level = logger.level
    logger.addHandler(captured)
    logger.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        logger.removeHandler(captured)
        logger.setLevel(level)


class ManualClock:
    """The anchor loop's `pause`: each interval ends when the test calls `tick()` (or on shutdown)."""

    def __init__(self) -> None:
        self._ticks: asyncio.Queue[None] = asyncio.Queue()
        self.pauses: list[float] = []  # the interval of every pause the loop took

    def tick(self) -> None:
        self._ticks.put_nowait(None)

    async def pause(self, stop: asyncio.Event, interval: float) -> None:
        self.pauses.append(interval)
        tick, stopped = asyncio.ensure_future(self._ticks.get()), asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({tick, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tick.cancel()
            stopped.cancel()


async def _run_ready_tasks() -> None:
    """Let every task that can run, run (a few loop turns): what has not happened then, did not."""
    for _ in range(5):
        await asyncio.sleep(0)


def _anchor_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "audit-head-anchor"]


async def test_head_line_carries_seq_and_full_hash_only(trail: AuditTrail, head_lines: HeadLines) -> None:
    for n in range(3):
        last = await trail.append(http_event(n, user="alice@example.com"))
    await log_head(trail)
    (line,) = head_lines.lines
    assert (line["seq"], line["hash"]) == (3, last.hash)  # unredacted: a usable anchor
    assert Anchor.parse(f"{line['seq']}:{line['hash']}") == Anchor(3, last.hash)
    standard = {"time", "level", "logger", "message", "request_id", "trace_id", "span_id"}
    assert set(line) - standard == {"seq", "hash"}
    assert line["logger"] == "engram.audit" and line["level"] == "INFO"


async def test_empty_trail_logs_nothing(trail: AuditTrail, head_lines: HeadLines) -> None:
    assert await log_head(trail) is None
    assert head_lines.lines == []


async def test_periodic_lines_follow_the_head_and_stop_on_shutdown(
    trail: AuditTrail, head_lines: HeadLines
) -> None:
    clock = ManualClock()
    first = await trail.append(http_event(1))
    async with head_anchor_task(trail, 60, pause=clock.pause):
        await head_lines.until(lambda lines: len(lines) >= 1)  # at start
        clock.tick()
        await head_lines.until(lambda lines: len(lines) >= 2)  # then each interval
        assert len(_anchor_tasks()) == 1
        second = await trail.append(http_event(2))
        clock.tick()
        await head_lines.until(lambda lines: lines[-1]["seq"] == 2)
    assert _anchor_tasks() == []  # stopped with the service, not left running
    seen = {(line["seq"], line["hash"]) for line in head_lines.lines}
    assert seen == {(1, first.hash), (2, second.hash)}
    assert len(head_lines.lines) == 3 and clock.pauses == [60, 60, 60]  # one line per interval
    clock.tick()  # an interval after shutdown: nobody is left to log
    await _run_ready_tasks()
    assert len(head_lines.lines) == 3


async def test_interval_zero_logs_nothing(trail: AuditTrail, head_lines: HeadLines) -> None:
    clock = ManualClock()
    await trail.append(http_event(1))
    async with head_anchor_task(trail, 0, pause=clock.pause):
        assert _anchor_tasks() == []
        clock.tick()
        await _run_ready_tasks()
    assert head_lines.lines == [] and clock.pauses == []


async def test_a_failed_read_is_logged_and_retried(
    trail: AuditTrail, head_lines: HeadLines, caplog: pytest.LogCaptureFixture
) -> None:
    await trail.append(http_event(1))
    real_head, calls = trail.head, 0

    async def flaky_head() -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return await real_head()

    trail.head = flaky_head  # type: ignore[method-assign]
    async with head_anchor_task(trail, TINY):
        await head_lines.until(lambda lines: len(lines) >= 1)
    failures = [r for r in caplog.records if r.getMessage() == "audit head not logged"]
    assert [getattr(r, "error", None) for r in failures] == ["ConnectionError"]


def test_the_service_logs_the_head_from_its_lifespan(tmp_path: Path, head_lines: HeadLines) -> None:
    # Independent of AUDIT_LOG_ENABLED: erasure and retention records are chained (and anchored) anyway.
    settings = make_settings(tmp_path, audit_anchor_interval_seconds=TINY)
    with service(settings) as client:
        assert client.portal is not None
        record = client.portal.call(client.app.state.audit.append, http_event(1))  # type: ignore[attr-defined]

        client.portal.call(head_lines.until, lambda lines: any(line["seq"] == 1 for line in lines))
        assert client.portal.call(_anchor_tasks_count) == 1
        assert {(line["seq"], line["hash"]) for line in head_lines.lines} == {(1, record.hash)}


async def _anchor_tasks_count() -> int:
    return len(_anchor_tasks())


async def test_a_hanging_read_is_cancelled_on_shutdown(
    trail: AuditTrail,
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hanging_head() -> object:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    trail.head = hanging_head  # type: ignore[method-assign]
    async with asyncio.timeout(WAIT):  # shutdown is bounded by the grace, not by the read
        async with head_anchor_task(trail, TINY, stop_grace=TINY):
            await started.wait()
    assert cancelled.is_set() and _anchor_tasks() == []
