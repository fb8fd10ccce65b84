"""Lifecycle of the Azure OpenAI models Engram deploys: a dated, pure-data table (stdlib only).

The platform's components read it to choose a model version (`current("chat")`,
`current("realtime")`), and rule AZ-AI-005 reads it to refuse a deployment whose version is retired,
closed to new customers, or not in the table, on the day the policy runs.

Terms, as Azure uses them (model-retirements page):
- deprecated ("no new customers"): existing deployments keep working, a subscription that never
  deployed the version cannot create one. A GA version is open to new customers for 12 months after
  its release, then runs for existing customers until its retirement date.
- retired: every call to a deployment of the version fails; no deployment can be created.

Where the retirement schedule gives no explicit deprecation date, `deprecated_on` is the release date
plus 12 months (the published GA policy) and `deprecation_derived` says so. Re-check the table against
SCHEDULE_URL when `AS_OF` is more than a quarter old, and move `AS_OF` when you do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

#: The day this table was last checked against its sources.
AS_OF = date(2026, 12, 1)
#: The publication date of the newest retirement schedule the table was checked against.
SCHEDULE_PUBLISHED = date(2026, 9, 2)

SCHEDULE_URL = "https://learn.microsoft.com/azure/foundry/openai/concepts/model-retirement-schedule"
POLICY_URL = "https://learn.microsoft.com/azure/ai-foundry/openai/concepts/model-retirements"
#: The Dec 2025 retirement table (explicit "Deprecation date (no new customers)" column).
TABLE_2025_URL = (
    "https://github.com/MicrosoftDocs/azure-ai-docs/blob/main/"
    "articles/ai-foundry/openai/includes/retirement/models.md"
)
REALTIME_URL = "https://learn.microsoft.com/azure/ai-foundry/openai/how-to/realtime-audio-websockets"
VOICE_LIVE_URL = (
    "https://learn.microsoft.com/azure/ai-services/speech-service/voice-live#supported-models-and-regions"
)

Family = Literal["chat", "chat-small", "realtime"]
Lifecycle = Literal["GA", "Preview"]


@dataclass(frozen=True)
class ModelVersion:
    """One (model, version) row: its lifecycle and dates, and where they come from."""

    model: str
    version: str
    family: Family
    lifecycle: Lifecycle
    released: date
    #: From this day the version is closed to new customers (None: no date published).
    deprecated_on: date | None
    #: From this day every deployment of the version fails (None: no date published).
    retires_on: date | None
    source: str
    #: The replacement Azure names for this row ("model version" or a model name), if any.
    replacement: str | None = None
    #: True when `deprecated_on` is release + 12 months (the GA policy), not a published date.
    deprecation_derived: bool = False
    #: Deployment SKUs (`sku.name`) the model is offered with, where a source says so.
    skus: frozenset[str] | None = None
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.model} {self.version}"


_GLOBAL_ONLY = frozenset({"GlobalStandard"})


def _d(text: str) -> date:
    return date.fromisoformat(text)


def _ga(
    model: str,
    version: str,
    family: Family,
    retires: str,
    *,
    deprecated: str | None = None,
    source: str = SCHEDULE_URL,
    replacement: str | None = None,
    skus: frozenset[str] | None = None,
    note: str = "",
) -> ModelVersion:
    released = _d(version)
    derived = deprecated is None
    deprecated_on = released.replace(year=released.year + 1) if derived else _d(str(deprecated))
    return ModelVersion(
        model=model,
        version=version,
        family=family,
        lifecycle="GA",
        released=released,
        deprecated_on=deprecated_on,
        retires_on=_d(retires),
        source=source,
        replacement=replacement,
        deprecation_derived=derived,
        skus=skus,
        note=note,
    )


def _preview(
    model: str,
    version: str,
    family: Family,
    retires: str,
    *,
    source: str = SCHEDULE_URL,
    replacement: str | None = None,
    skus: frozenset[str] | None = None,
    note: str = "",
) -> ModelVersion:
    # Preview versions have no deprecation phase: they are deployable until they retire.
    return ModelVersion(
        model=model,
        version=version,
        family=family,
        lifecycle="Preview",
        released=_d(version),
        deprecated_on=None,
        retires_on=_d(retires),
        source=source,
        replacement=replacement,
        skus=skus,
        note=note,
    )


#: Chat and realtime models, newest schedule first (published 2026-09-02), explicit deprecation dates
#: from the Dec 2025 table where it had one.
MODELS: tuple[ModelVersion, ...] = (
    # ---- chat (full-size) -------------------------------------------------------------------------
    _ga("gpt-4o", "2024-11-20", "chat", "2027-04-14", deprecated="2025-11-20", replacement="gpt-5.1"),
    _ga("gpt-4.1", "2025-04-14", "chat", "2027-04-14", deprecated="2026-04-14", note="Legacy since 2026-04"),
    _ga("gpt-5", "2025-08-07", "chat", "2027-02-09"),
    _ga("gpt-5.1", "2025-11-13", "chat", "2027-05-15", deprecated="2026-11-13"),
    _ga(
        "gpt-5.2",
        "2025-12-11",
        "chat",
        "2027-06-08",
        deprecated="2026-12-12",
        note="deprecation 'no earlier than 2026-12-12' (Dec 2025 table)",
    ),
    _ga("gpt-5.4", "2026-03-05", "chat", "2027-09-02"),
    _ga("gpt-5.5", "2026-04-24", "chat", "2027-10-26"),
    _ga(
        "gpt-5.6-sol",
        "2026-07-09",
        "chat",
        "2028-01-11",
        skus=frozenset(
            {"GlobalStandard", "DataZoneStandard", "GlobalProvisionedManaged", "DataZoneProvisionedManaged"}
        ),
        note="Azure's named replacement for o1/o3 in the schedule; the current chat pick",
    ),
    # The -chat line was preview only; every version is retired. The 2026-03-01 date for
    # gpt-5-chat 2025-10-03 was the first announcement; Azure later moved it to 2026-05-13.
    _preview("gpt-5-chat", "2025-08-07", "chat", "2026-06-29", replacement="gpt-chat-latest"),
    _preview(
        "gpt-5-chat",
        "2025-10-03",
        "chat",
        "2026-05-13",
        replacement="gpt-chat-latest",
        note="first announced to retire 2026-03-01 (Dec 2025 table)",
    ),
    _preview("gpt-5.1-chat", "2025-11-13", "chat", "2026-06-29", replacement="gpt-chat-latest"),
    _preview("gpt-5.2-chat", "2025-12-11", "chat", "2026-05-13", replacement="gpt-chat-latest"),
    _preview("gpt-5.2-chat", "2026-02-10", "chat", "2026-06-29", replacement="gpt-chat-latest"),
    _preview("gpt-5.3-chat", "2026-03-03", "chat", "2026-06-29", replacement="gpt-chat-latest"),
    _preview(
        "gpt-chat-latest", "2026-08-06", "chat", "2026-12-02", note="rolling preview, ~3-4 months per version"
    ),
    # ---- chat (small tiers) -----------------------------------------------------------------------
    _ga("gpt-5-mini", "2025-08-07", "chat-small", "2027-02-09", deprecated="2026-08-07"),
    _ga("gpt-5.4-mini", "2026-03-17", "chat-small", "2027-09-21"),
    _ga("gpt-5.6-terra", "2026-07-09", "chat-small", "2028-01-11"),
    _ga("gpt-5.6-luna", "2026-07-09", "chat-small", "2028-01-11"),
    # ---- realtime (speech in, speech out; global deployments only) --------------------------------
    _preview(
        "gpt-4o-realtime-preview",
        "2024-12-17",
        "realtime",
        "2026-02-02",
        source=TABLE_2025_URL,
        replacement="gpt-realtime",
        skus=_GLOBAL_ONLY,
    ),
    _ga(
        "gpt-realtime",
        "2025-08-28",
        "realtime",
        "2027-03-02",
        deprecated="2026-08-28",
        skus=_GLOBAL_ONLY,
        note="retirement moved from 2027-02-28 to 2027-03-02 in the 2026-09 schedule",
    ),
    _ga(
        "gpt-realtime-mini",
        "2025-10-06",
        "realtime",
        "2027-04-06",
        deprecated="2026-10-06",
        skus=_GLOBAL_ONLY,
    ),
    _ga(
        "gpt-realtime-mini",
        "2025-12-15",
        "realtime",
        "2027-06-15",
        skus=_GLOBAL_ONLY,
        note="the 2026-09 schedule also carries a stale row retiring it 2026-12-15",
    ),
    _ga(
        "gpt-realtime-1.5",
        "2026-02-23",
        "realtime",
        "2027-08-24",
        skus=_GLOBAL_ONLY,
        note="newest GA realtime model; listed by Voice Live (managed and BYOM realtime)",
    ),
    _preview("gpt-realtime-2", "2026-05-06", "realtime", "2026-08-31", skus=_GLOBAL_ONLY),
    _preview("gpt-realtime-2.1", "2026-07-07", "realtime", "2027-06-25", skus=_GLOBAL_ONLY),
)

FAMILIES: frozenset[str] = frozenset({"chat", "chat-small", "realtime"})


class State(StrEnum):
    AVAILABLE = "available"  # deployable by a new customer
    DEPRECATED = "deprecated"  # existing deployments only ("not for new customers")
    RETIRED = "retired"  # every call fails
    UNKNOWN = "unknown"  # not in this table


@dataclass(frozen=True)
class Status:
    state: State
    entry: ModelVersion | None
    #: What to deploy instead: the newest available GA version of the same family on that day.
    replacement: ModelVersion | None

    @property
    def deployable(self) -> bool:
        return self.state is State.AVAILABLE


def lookup(model: str, version: str) -> ModelVersion | None:
    for entry in MODELS:
        if entry.model == model and entry.version == version:
            return entry
    return None


def _state(entry: ModelVersion, on: date) -> State:
    if entry.retires_on is not None and on >= entry.retires_on:
        return State.RETIRED
    if entry.deprecated_on is not None and on >= entry.deprecated_on:
        return State.DEPRECATED
    return State.AVAILABLE


def _newest_available(candidates: list[ModelVersion], on: date) -> ModelVersion | None:
    usable = [e for e in candidates if e.lifecycle == "GA" and _state(e, on) is State.AVAILABLE]
    # Newest release first; among same-day releases the table's order decides (first wins).
    return max(usable, key=lambda e: (e.released, -MODELS.index(e)), default=None)


def current(model_family_or_name: str, on: date = AS_OF) -> ModelVersion:
    """The version to deploy: the newest GA version that a new customer can still deploy on `on`.

    A family ("chat", "chat-small", "realtime") gives the family's newest such version; a model name
    gives that model's newest such version, or its family's when every version of it is closed.
    """
    if model_family_or_name in FAMILIES:
        family = model_family_or_name
        found = _newest_available([e for e in MODELS if e.family == family], on)
    else:
        same_model = [e for e in MODELS if e.model == model_family_or_name]
        if not same_model:
            raise KeyError(
                f"{model_family_or_name!r} is neither a family {sorted(FAMILIES)} nor a known model"
            )
        family = same_model[0].family
        found = _newest_available(same_model, on) or _newest_available(
            [e for e in MODELS if e.family == family], on
        )
    if found is None:
        raise LookupError(f"no GA {family} model is open to new deployments on {on}; update the table")
    return found


def status(model: str, version: str, on: date = AS_OF) -> Status:
    """Where (model, version) stands on `on`, and what replaces it when it cannot be deployed."""
    entry = lookup(model, version)
    if entry is None:
        family = next((e.family for e in MODELS if e.model == model), None)
        replacement = _newest_available([e for e in MODELS if e.family == family], on) if family else None
        return Status(State.UNKNOWN, None, replacement)
    state = _state(entry, on)
    replacement = None if state is State.AVAILABLE else _try_current(model, on)
    return Status(state, entry, replacement)


def _try_current(model: str, on: date) -> ModelVersion | None:
    try:
        return current(model, on)
    except LookupError:
        return None
