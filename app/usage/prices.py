"""Cost estimates from the price table in settings (USAGE_PRICES, per 1K tokens by model and modality).

A cost is only ever computed from prices the table holds: a model missing from the table, or a
modality with tokens but no price, makes the cost null with the reason, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from app.settings import UsageModality

MODALITIES: tuple[UsageModality, ...] = get_args(UsageModality)


@dataclass(frozen=True)
class Tokens:
    text_input: int = 0
    text_output: int = 0
    audio_input: int = 0
    audio_output: int = 0

    def by_modality(self) -> dict[UsageModality, int]:
        return {m: getattr(self, m) for m in MODALITIES}

    @property
    def total(self) -> int:
        return self.text_input + self.text_output + self.audio_input + self.audio_output


@dataclass(frozen=True)
class Cost:
    """An estimate in the price table's currency, or None with the reason it cannot be given."""

    amount: float | None
    reason: str | None = None


class PriceTable:
    def __init__(self, prices: Mapping[str, Mapping[UsageModality, float]]) -> None:
        self._prices = {model: dict(per_modality) for model, per_modality in prices.items()}

    def cost(self, model: str, tokens: Tokens) -> Cost:
        """The cost of `tokens` on `model`; null with a reason when a needed price is missing."""
        prices = self._prices.get(model)
        if prices is None:
            return Cost(None, f"no price for model {model!r} in USAGE_PRICES")
        amount = 0.0
        for modality, count in tokens.by_modality().items():
            if count == 0:
                continue
            price = prices.get(modality)
            if price is None:
                return Cost(None, f"no {modality} price for model {model!r} in USAGE_PRICES")
            amount += count / 1000 * price
        return Cost(round(amount, 6))


def total_cost(costs: list[Cost]) -> Cost:
    """The sum of `costs`; null (with the first reason) when any part is null."""
    for cost in costs:
        if cost.amount is None:
            return Cost(None, cost.reason)
    return Cost(round(sum(c.amount or 0.0 for c in costs), 6))
