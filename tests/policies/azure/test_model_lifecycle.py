"""The model lifecycle table: current picks, states on a given day, and the table's own consistency."""

from __future__ import annotations

from datetime import date

import pytest

from policies.rules.azure import model_lifecycle as lifecycle
from policies.rules.azure.model_lifecycle import MODELS, State, current, status

TODAY = date(2026, 12, 1)


def test_current_picks_as_of_the_table_date() -> None:
    assert lifecycle.AS_OF == TODAY
    assert current("chat").label == "gpt-5.6-sol 2026-07-09"
    assert current("realtime").label == "gpt-realtime-1.5 2026-02-23"


def test_current_by_model_name_falls_back_to_the_family_when_every_version_is_closed() -> None:
    assert current("gpt-realtime", TODAY).label == "gpt-realtime-1.5 2026-02-23"
    assert current("gpt-5-chat", TODAY).label == "gpt-5.6-sol 2026-07-09"
    assert current("gpt-5.4", TODAY).label == "gpt-5.4 2026-03-05"


def test_current_is_never_preview_deprecated_or_retired() -> None:
    for family in lifecycle.FAMILIES:
        pick = current(family, TODAY)
        assert pick.lifecycle == "GA"
        assert status(pick.model, pick.version, TODAY).state is State.AVAILABLE


def test_current_rejects_an_unknown_name() -> None:
    with pytest.raises(KeyError):
        current("gpt-7")


@pytest.mark.parametrize(
    ("model", "version", "on", "state"),
    [
        ("gpt-5-chat", "2025-10-03", date(2026, 2, 1), State.AVAILABLE),  # preview: deployable until retired
        ("gpt-5-chat", "2025-10-03", TODAY, State.RETIRED),
        ("gpt-realtime", "2025-08-28", date(2026, 8, 27), State.AVAILABLE),
        ("gpt-realtime", "2025-08-28", date(2026, 8, 28), State.DEPRECATED),  # not for new customers
        ("gpt-realtime", "2025-08-28", date(2027, 3, 2), State.RETIRED),
        ("gpt-realtime-1.5", "2026-02-23", TODAY, State.AVAILABLE),
        ("gpt-5.6-sol", "2026-07-09", TODAY, State.AVAILABLE),
        ("gpt-5", "2099-01-01", TODAY, State.UNKNOWN),
    ],
)
def test_status_on_a_day(model: str, version: str, on: date, state: State) -> None:
    assert status(model, version, on).state is state


def test_status_names_the_replacement_when_not_deployable() -> None:
    retired = status("gpt-5-chat", "2025-10-03", TODAY)
    assert retired.replacement is not None and retired.replacement.label == "gpt-5.6-sol 2026-07-09"
    assert status("gpt-5.6-sol", "2026-07-09", TODAY).replacement is None
    assert status("gpt-realtime", "1999-01-01", TODAY).replacement == current("realtime", TODAY)


def test_table_rows_are_unique_dated_and_sourced() -> None:
    keys = [(m.model, m.version) for m in MODELS]
    assert len(keys) == len(set(keys))
    for m in MODELS:
        assert m.source.startswith("https://")
        assert m.retires_on is not None and m.released < m.retires_on
        if m.deprecated_on is not None:
            assert m.released < m.deprecated_on <= m.retires_on
        if m.lifecycle == "Preview":
            assert m.deprecated_on is None
