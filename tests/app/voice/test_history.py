"""The restored conversation: newest turns first within a count and a token budget, agents labelled."""

from __future__ import annotations

from datetime import UTC, datetime

from app.memory.store import Turn
from app.voice.history import restore_items


def turn(role: str, text: str, agent: str = "elena") -> Turn:
    return Turn(role, text, agent, "voice", datetime.now(UTC))  # type: ignore[arg-type]


def texts(restored: object) -> list[tuple[str, str]]:
    return [
        (e["item"]["role"], e["item"]["content"][0]["text"])
        for e in restored.items  # type: ignore[attr-defined]
    ]


def test_user_and_assistant_items_in_order_with_their_content_types() -> None:
    restored = restore_items(
        [turn("user", "hi"), turn("assistant", "hello")],
        max_turns=10,
        budget_tokens=1000,
        speaking_agent="elena",
    )
    assert [e["type"] for e in restored.items] == ["conversation.item.create"] * 2
    assert restored.items[0]["item"] == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hi"}],
    }
    assert restored.items[1]["item"]["content"] == [{"type": "text", "text": "hello"}]
    assert restored.ends_with_user is False


def test_only_the_last_n_turns() -> None:
    history = [turn("user", f"q{i}") for i in range(5)]
    restored = restore_items(history, max_turns=2, budget_tokens=1000, speaking_agent="elena")
    assert texts(restored) == [("user", "q3"), ("user", "q4")]
    assert restored.ends_with_user is True


def test_the_token_budget_drops_the_oldest_first() -> None:
    history = [turn("user", "a" * 400), turn("assistant", "b" * 40), turn("user", "c" * 40)]
    # 40 chars = 10 + 4 tokens each; the 400-char turn (104 tokens) does not fit in 40.
    restored = restore_items(history, max_turns=10, budget_tokens=40, speaking_agent="elena")
    assert texts(restored) == [("assistant", "b" * 40), ("user", "c" * 40)]


def test_zero_budget_or_count_restores_nothing() -> None:
    history = [turn("user", "hi")]
    assert restore_items(history, max_turns=0, budget_tokens=100, speaking_agent="elena").items == ()
    assert restore_items(history, max_turns=5, budget_tokens=0, speaking_agent="elena").items == ()


def test_another_agents_words_are_labelled() -> None:
    restored = restore_items(
        [turn("assistant", "Marcus here.", agent="marcus")],
        max_turns=5,
        budget_tokens=100,
        speaking_agent="elena",
    )
    assert texts(restored) == [("assistant", "[marcus] Marcus here.")]
