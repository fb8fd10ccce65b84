"""`UsageMeter`: collects usage on the request path in memory and stores it in the background.

Recording is a dictionary update (no I/O, never blocks a reply or the audio path). A writer task
flushes the collected rows every USAGE_FLUSH_SECONDS as one transaction of upsert-increments. At most
USAGE_MAX_PENDING distinct rows wait between flushes: a new row past that is dropped and counted
(`usage_records_dropped`), so a stalled database cannot grow the process. A failed flush keeps its
rows for the next one (within the same bound). On shutdown the writer flushes once more; a replica
killed outright loses at most one interval of usage.

The user is stored as the audit trail's keyed pseudonym, never the id (see app/audit/trail.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from app.audit.trail import pseudonymise
from app.observability import metrics
from app.usage.store import NO_TENANT, UsageCounts, UsageKey, UsageStore

log = logging.getLogger("engram.usage")


class UsageMeter:
    def __init__(
        self,
        store: UsageStore,
        pseudonym_key: bytes,
        *,
        flush_s: float = 1.0,
        max_pending: int = 10_000,
        daily_token_budget: int | None = None,
    ) -> None:
        self.store = store
        self._key = pseudonym_key
        self._flush_s = flush_s
        self._max_pending = max_pending
        self.daily_token_budget = daily_token_budget
        self._pending: dict[UsageKey, UsageCounts] = {}
        self._writer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.dropped = 0

    def user_ref(self, user_id: str) -> str:
        return pseudonymise(self._key, user_id)

    # --- recording (the request path: memory only) ---------------------------------------------------

    def record_chat(
        self,
        user_id: str,
        tenant_id: str | None,
        agent_id: str,
        model: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
    ) -> None:
        """One chat reply; a gateway that sent no usage is counted in `requests_without_usage`."""
        known = prompt_tokens is not None or completion_tokens is not None
        self._record(
            user_id,
            tenant_id,
            agent_id,
            model,
            "chat",
            UsageCounts(
                requests=1,
                requests_without_usage=0 if known else 1,
                text_input_tokens=max(prompt_tokens or 0, 0),
                text_output_tokens=max(completion_tokens or 0, 0),
            ),
        )

    def record_voice_response(
        self, user_id: str, tenant_id: str | None, agent_id: str, model: str, usage: object
    ) -> None:
        """One VoiceLive `response.done`'s `usage` object (see `voice_counts`)."""
        self._record(user_id, tenant_id, agent_id, model, "voice", voice_counts(usage))

    def record_voice_seconds(
        self, user_id: str, tenant_id: str | None, agent_id: str, model: str, seconds: float
    ) -> None:
        self._record(
            user_id, tenant_id, agent_id, model, "voice", UsageCounts(voice_seconds=max(seconds, 0.0))
        )

    def _record(
        self,
        user_id: str,
        tenant_id: str | None,
        agent_id: str,
        model: str,
        channel: str,
        counts: UsageCounts,
    ) -> None:
        key = UsageKey(
            day=datetime.now(UTC).date(),
            tenant_id=tenant_id or NO_TENANT,
            user_ref=self.user_ref(user_id),
            agent_id=agent_id[:64],
            model=model[:128],
            channel=channel,
        )
        self._merge({key: counts})

    def _merge(self, rows: Mapping[UsageKey, UsageCounts]) -> None:
        for key, counts in rows.items():
            existing = self._pending.get(key)
            if existing is not None:
                existing.add(counts)
            elif len(self._pending) < self._max_pending:
                self._pending[key] = counts
            else:
                self.dropped += 1
                metrics.usage_dropped("backlog_full")
        if len(self._pending) >= self._max_pending // 2:
            self._wake.set()  # flush early rather than start dropping

    def voice_session(self, user_id: str, tenant_id: str | None, agent_id: str, model: str) -> VoiceMetering:
        """Metering for one voice connection: `on_usage` for the bridge, seconds counted on `close()`."""
        return VoiceMetering(self, user_id, tenant_id, agent_id, model)

    # --- the budget -----------------------------------------------------------------------------------

    async def budget_retry_after(self, user_id: str) -> int | None:
        """Seconds until the user's budget resets when today's tokens reached it; None otherwise.

        Today = the stored rows plus what this replica has not flushed yet; another replica's
        unflushed tokens (at most one flush interval) are not seen.
        """
        if self.daily_token_budget is None:
            return None
        now = datetime.now(UTC)
        ref = self.user_ref(user_id)
        used = await self.store.tokens_on(ref, now.date()) + self.pending_tokens(ref, now.date())
        if used < self.daily_token_budget:
            return None
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        return max(1, math.ceil((midnight - now).total_seconds()))

    def pending_tokens(self, user_ref: str, day: date) -> int:
        return sum(
            c.tokens.total for k, c in self._pending.items() if k.user_ref == user_ref and k.day == day
        )

    async def erase_usage(self, user_id: str) -> int:
        """Erasure: this replica's unstored usage of the user is stored first, then every row of the
        user is folded into the anonymous "erased" rows (`UsageStore.erase`)."""
        await self.flush()
        return await self.store.erase(self.user_ref(user_id))

    # --- the writer ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._run(), name="usage-writer")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_s):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Store what was collected so far; on failure keep it for the next flush."""
        async with self._flush_lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                await self.store.add(list(batch.items()))
            except Exception as exc:
                log.warning("usage flush failed; retried next interval", extra={"error": type(exc).__name__})
                metrics.usage_dropped("flush_failed_retrying")
                self._merge(batch)

    async def aclose(self) -> None:
        """Stop the writer and flush once more (bounded by the caller's shutdown)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        await self.flush()


def voice_counts(usage: object) -> UsageCounts:
    """Counts from a VoiceLive `response.done` usage (`TokenUsage`: input/output tokens, each split in
    `input_token_details` / `output_token_details` into text and audio). Without the details the
    whole count is taken as text (the service reports them; a missing split is not invented as
    audio). No usage at all is one response without usage."""
    if not isinstance(usage, dict):
        return UsageCounts(requests=1, requests_without_usage=1)

    def split(total_key: str, details_key: str) -> tuple[int, int]:
        total = _int(usage.get(total_key))
        details = usage.get(details_key)
        if not isinstance(details, dict):
            return total, 0
        return _int(details.get("text_tokens")), _int(details.get("audio_tokens"))

    text_in, audio_in = split("input_tokens", "input_token_details")
    text_out, audio_out = split("output_tokens", "output_token_details")
    return UsageCounts(
        requests=1,
        text_input_tokens=text_in,
        text_output_tokens=text_out,
        audio_input_tokens=audio_in,
        audio_output_tokens=audio_out,
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class VoiceMetering:
    """One voice connection's usage: each `response.done` usage as it comes, the seconds at the end
    (attributed to the agent the session opened with)."""

    def __init__(
        self, meter: UsageMeter, user_id: str, tenant_id: str | None, agent_id: str, model: str
    ) -> None:
        self._meter = meter
        self._user = (user_id, tenant_id)
        self._agent_id = agent_id
        self._model = model
        self._started = time.monotonic()

    def on_usage(self, agent_id: str, usage: object) -> None:
        self._meter.record_voice_response(*self._user, agent_id, self._model, usage)

    def close(self) -> None:
        seconds = time.monotonic() - self._started
        self._meter.record_voice_seconds(*self._user, self._agent_id, self._model, seconds)
