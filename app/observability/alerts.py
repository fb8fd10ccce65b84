"""The SOP 6.6 alert queries (KQL), written once next to the signal names they read.

Pure data like `signals.py`: the infrastructure's scheduled-query alert rules can take `kql` and
`threshold` from here, and docs/observability.md is generated from it. Queries use the Application
Insights table names (`customMetrics`, `requests`); scope the rule to the Application Insights
component. In the Log Analytics workspace the same data sits in `AppMetrics` / `AppRequests`.

How the service's OpenTelemetry data lands there (azure-monitor-opentelemetry): counters are exported
as deltas per export interval (60 s), so `sum(valueSum)` counts events; the up-down counter is
cumulative, so the latest value per replica (`cloud_RoleInstance`) is the current level; histograms
arrive as sum/count/min/max per interval with no buckets, so a true p95 comes from the request spans
(`requests.duration`), not from the histogram. Request spans are sampled (the distro's default is
rate-limited, 5 traces/s per replica; `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` change it), so a
percentile over `requests` is an estimate and request counts are `sum(itemCount)`, never `count()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.observability import signals

#: The chat route's server span name (FastAPI instrumentation names spans "<METHOD> <route template>").
CHAT_REQUEST_SPAN = "POST /api/v1/chat"


@dataclass(frozen=True)
class AlertQuery:
    id: str
    sop: str
    title: str
    condition: str  # the SOP wording
    kql: str  # returns rows only when the alert should fire
    reads: tuple[str, ...]  # signal names (or span names) the query depends on
    threshold: float  # the number in the `where` clause, for rules that want it separately
    window_minutes: int = 5


VOICE_ERROR_RATE = AlertQuery(
    id="voicelive-error-rate",
    sop="6.6",
    title="VoiceLive error rate",
    condition=(
        "failed voice sessions / sessions started > 5% over 5 minutes (a lost VoiceLive session that is "
        "renewed is not a failure; it counts once, as renewal_failed, only when renewal gives up)"
    ),
    kql=f"""customMetrics
| where timestamp > ago(5m)
| where name in ("{signals.VOICE_SESSION_ERRORS.name}", "{signals.VOICE_SESSIONS_STARTED.name}")
| summarize errors = sumif(valueSum, name == "{signals.VOICE_SESSION_ERRORS.name}"),
            started = sumif(valueSum, name == "{signals.VOICE_SESSIONS_STARTED.name}")
| extend error_rate = iff(started > 0, errors / started, 0.0)
| where error_rate > 0.05""",
    reads=(signals.VOICE_SESSION_ERRORS.name, signals.VOICE_SESSIONS_STARTED.name),
    threshold=0.05,
)

CHAT_P95 = AlertQuery(
    id="chat-latency-p95",
    sop="6.6",
    title="Chat latency p95",
    condition="95th percentile of chat request latency > 3 s over 5 minutes",
    kql=f"""requests
| where timestamp > ago(5m)
| where name == "{CHAT_REQUEST_SPAN}"
| summarize p95_ms = percentile(duration, 95), requests = sum(itemCount)
| where p95_ms > 3000""",
    reads=(CHAT_REQUEST_SPAN,),
    threshold=3000.0,
)

ACTIVE_SESSIONS = AlertQuery(
    id="voice-sessions-active",
    sop="6.6",
    title="Concurrent voice sessions",
    condition="open voice sessions across replicas > 100",
    kql=f"""customMetrics
| where timestamp > ago(5m)
| where name == "{signals.VOICE_SESSIONS_ACTIVE.name}"
| summarize arg_max(timestamp, value) by cloud_RoleInstance
| summarize active_sessions = sum(value)
| where active_sessions > 100""",
    reads=(signals.VOICE_SESSIONS_ACTIVE.name,),
    threshold=100.0,
)

AUTH_FAILURES = AlertQuery(
    id="auth-failures",
    sop="6.6",
    title="Authentication failures",
    condition="more than 10 refused authentications in a minute",
    kql=f"""customMetrics
| where timestamp > ago(5m)
| where name == "{signals.AUTH_FAILURES.name}"
| summarize failures = sum(valueSum) by bin(timestamp, 1m)
| where failures > 10""",
    reads=(signals.AUTH_FAILURES.name,),
    threshold=10.0,
)

SOP_ALERTS: tuple[AlertQuery, ...] = (VOICE_ERROR_RATE, CHAT_P95, ACTIVE_SESSIONS, AUTH_FAILURES)

#: Not an alert: the chat histogram's average and maximum per 5 minutes, by agent (dashboard tile).
CHAT_LATENCY_BY_AGENT_KQL = f"""customMetrics
| where timestamp > ago(1h)
| where name == "{signals.CHAT_LATENCY.name}"
| extend agent_id = tostring(customDimensions.agent_id), outcome = tostring(customDimensions.outcome)
| summarize avg_ms = sum(valueSum) / sum(valueCount), max_ms = max(valueMax), requests = sum(valueCount)
    by bin(timestamp, 5m), agent_id, outcome"""
