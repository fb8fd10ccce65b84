"""Renders the signal catalogue and the alert queries into docs/observability.md.

The doc's generated parts sit between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers;
`python -m app.observability.catalogue` rewrites them, and a test fails while the doc is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from app.observability import alerts, signals

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def render_signals() -> str:
    rows = [
        "| Name | Kind | Unit | Attributes | The question it answers |",
        "|---|---|---|---|---|",
    ]
    for signal in signals.ALL_SIGNALS:
        attributes = ", ".join(f"`{a}`" for a in signal.attributes) or "none"
        rows.append(f"| `{signal.name}` | {signal.kind} | {signal.unit} | {attributes} | {signal.question} |")
    return "\n".join(rows)


def render_alerts() -> str:
    parts: list[str] = []
    for alert in alerts.SOP_ALERTS:
        reads = ", ".join(f"`{r}`" for r in alert.reads)
        parts.append(
            f"### {alert.title} (`{alert.id}`, SOP {alert.sop})\n\n"
            f"Fires when {alert.condition}. Reads {reads}.\n\n```kql\n{alert.kql}\n```"
        )
    parts.append(
        "### Chat latency by agent (dashboard, not an alert)\n\n"
        f"```kql\n{alerts.CHAT_LATENCY_BY_AGENT_KQL}\n```"
    )
    return "\n\n".join(parts)


SECTIONS = {"signals": render_signals, "alerts": render_alerts}


def render(text: str) -> str:
    """`text` with every generated section replaced by its current rendering."""
    for name, renderer in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"docs/observability.md lacks the generated:{name} markers")
        text = pattern.sub(lambda m, r=renderer: m.group(1) + r() + "\n" + m.group(2), text)  # type: ignore[misc]
    return text


def main() -> int:
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
