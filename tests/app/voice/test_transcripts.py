"""The transcript ledger: conversation order, once per item, drops and the wait limit."""

from __future__ import annotations

from app.voice.transcripts import TranscriptLedger


def texts(turns: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(t.role, t.text) for t in turns]


def test_a_turn_waits_for_the_earlier_items_transcript() -> None:
    ledger = TranscriptLedger(wait_s=10)
    ledger.expect("u1", "user", "elena", now=0)
    assert ledger.fill("a1", "assistant", "elena", "answer", now=1) == []
    assert texts(ledger.fill("u1", "user", "elena", "question", now=2)) == [
        ("user", "question"),
        ("assistant", "answer"),
    ]


def test_each_item_is_released_once() -> None:
    ledger = TranscriptLedger(wait_s=10)
    assert texts(ledger.fill("a1", "assistant", "elena", "first", now=0)) == [("assistant", "first")]
    assert ledger.fill("a1", "assistant", "elena", "second", now=1) == []
    ledger.expect("a1", "assistant", "elena", now=2)
    assert ledger.pending == 0


def test_the_first_text_for_an_item_wins() -> None:
    ledger = TranscriptLedger(wait_s=10)
    ledger.expect("u1", "user", "elena", now=0)
    ledger.fill("a1", "assistant", "elena", "text done", now=1)
    ledger.fill("a1", "assistant", "elena", "transcript done", now=2)
    turns = ledger.fill("u1", "user", "elena", "q", now=3)
    assert texts(turns) == [("user", "q"), ("assistant", "text done")]


def test_a_dropped_item_unblocks_the_queue() -> None:
    ledger = TranscriptLedger(wait_s=10)
    ledger.expect("u1", "user", "elena", now=0)
    ledger.fill("a1", "assistant", "elena", "answer", now=1)
    assert texts(ledger.drop("u1", now=2)) == [("assistant", "answer")]


def test_an_overdue_head_is_skipped_not_the_turns_behind_it() -> None:
    ledger = TranscriptLedger(wait_s=10)
    ledger.expect("u1", "user", "elena", now=0)
    ledger.fill("a1", "assistant", "elena", "answer", now=1)
    assert ledger.release(now=9.9) == []
    assert texts(ledger.release(now=10)) == [("assistant", "answer")]
    assert ledger.fill("u1", "user", "elena", "late", now=11) == []  # never out of order, never twice


def test_close_releases_everything_with_text_in_order() -> None:
    ledger = TranscriptLedger(wait_s=10)
    ledger.expect("u1", "user", "elena", now=0)
    ledger.fill("a1", "assistant", "marcus", "answer", now=1)
    ledger.fill("u2", "user", "marcus", "more", now=2)
    closed = ledger.close()
    assert [(t.role, t.agent_id, t.text) for t in closed] == [
        ("assistant", "marcus", "answer"),
        ("user", "marcus", "more"),
    ]
    assert closed[0].created_at <= closed[1].created_at


def test_empty_text_is_not_a_turn() -> None:
    ledger = TranscriptLedger(wait_s=10)
    assert ledger.fill("a1", "assistant", "elena", "   ", now=0) == []
