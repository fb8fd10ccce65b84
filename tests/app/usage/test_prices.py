"""The price table: costs from USAGE_PRICES only, null with a reason when a price is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import SettingsError as UnparsableSetting

from app.settings import SettingsError, load_settings
from app.usage.prices import Cost, PriceTable, Tokens, total_cost

PRICES = PriceTable(
    {
        "chat": {"text_input": 0.0025, "text_output": 0.01},
        "realtime": {"text_input": 0.005, "text_output": 0.02, "audio_input": 0.04, "audio_output": 0.08},
    }
)


def test_chat_cost_is_per_1k_tokens_by_modality() -> None:
    assert PRICES.cost("chat", Tokens(text_input=2000, text_output=500)) == Cost(0.01)


def test_voice_cost_prices_text_and_audio_apart() -> None:
    tokens = Tokens(text_input=1000, text_output=1000, audio_input=1000, audio_output=1000)
    assert PRICES.cost("realtime", tokens).amount == pytest.approx(0.145)


def test_an_unknown_model_is_null_with_the_reason() -> None:
    cost = PRICES.cost("gpt-unknown", Tokens(text_input=10))
    assert cost.amount is None and cost.reason == "no price for model 'gpt-unknown' in USAGE_PRICES"


def test_a_missing_modality_price_with_tokens_is_null_never_guessed() -> None:
    cost = PRICES.cost("chat", Tokens(text_input=10, audio_output=1))
    assert cost.amount is None and cost.reason == "no audio_output price for model 'chat' in USAGE_PRICES"


def test_a_missing_modality_price_without_tokens_costs_nothing() -> None:
    assert PRICES.cost("chat", Tokens(text_input=1000)) == Cost(0.0025)


def test_a_total_with_any_unpriced_part_is_null() -> None:
    assert total_cost([Cost(0.5), Cost(0.25)]) == Cost(0.75)
    assert total_cost([Cost(0.5), Cost(None, "no price")]) == Cost(None, "no price")


def test_prices_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("USAGE_PRICES", '{"chat": {"text_input": 0.001}}')
    settings = load_settings(_env_file=None, data_dir=tmp_path)
    assert settings.usage_prices == {"chat": {"text_input": 0.001}}


@pytest.mark.parametrize(
    "value",
    ['{"chat": {"video_input": 0.001}}', '{"chat": {"text_input": -1}}', "not json"],
)
def test_a_bad_price_table_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("USAGE_PRICES", value)
    # Unparsable JSON is refused by pydantic-settings itself (as for every JSON setting).
    with pytest.raises((SettingsError, UnparsableSetting), match="(?i)usage_prices"):
        load_settings(_env_file=None, data_dir=tmp_path)
