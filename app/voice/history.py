"""The conversation so far, as VoiceLive conversation items: what a renewed or resumed session restores.

A new VoiceLive session knows nothing of the old one. The episode's last turns (chat and voice alike)
are sent as `conversation.item.create` events after the `session.update`: user turns as `input_text`
parts, assistant turns as `text` parts (the SDK's `OutputTextContentPart`), newest kept first within a
turn count and a token budget, so a long episode cannot crowd out the model's context. Restored items
are never written back to memory: the bridge records only items the upstream itself reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azure.ai.voicelive.models import (
    AssistantMessageItem,
    InputTextContentPart,
    OutputTextContentPart,
    UserMessageItem,
)

from app.memory.context import estimate_tokens
from app.memory.store import Turn


@dataclass(frozen=True)
class Restored:
    """The items to send, and whether the conversation ends on an unanswered user turn."""

    items: tuple[dict[str, Any], ...]
    ends_with_user: bool


def restore_items(
    turns: Sequence[Turn], *, max_turns: int, budget_tokens: int, speaking_agent: str
) -> Restored:
    """Items for the newest turns that fit (`turns` oldest first); other agents' words are labelled."""
    kept: list[dict[str, Any]] = []
    used = 0
    for turn in reversed(turns[-max_turns:] if max_turns else ()):
        text = turn.content.strip()
        if not text:
            continue
        if turn.role == "assistant" and turn.agent_id != speaking_agent:
            text = f"[{turn.agent_id}] {text}"  # agent switching: the history is shared, say who spoke
        cost = estimate_tokens(text)
        if used + cost > budget_tokens:
            break
        used += cost
        kept.append(_item(turn.role, text))
    kept.reverse()
    ends_with_user = bool(kept) and kept[-1]["item"]["role"] == "user"
    return Restored(tuple(kept), ends_with_user)


def _item(role: str, text: str) -> dict[str, Any]:
    item = (
        UserMessageItem(content=[InputTextContentPart(text=text)])
        if role == "user"
        else AssistantMessageItem(content=[OutputTextContentPart(text=text)])
    )
    return {"type": "conversation.item.create", "item": item.as_dict()}
