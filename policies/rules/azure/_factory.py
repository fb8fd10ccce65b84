"""One way to write an Azure deployability rule's metadata, so every module states only what differs.

Every AZ rule applies at every level (Azure does not care which environment a resource belongs to), is
mandatory (a violation is a failed or useless deployment) and cites its source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ..common import ALL_LEVELS, AZURE_RULE_PREFIX, Rule

#: What `Rule.sop_section` says of a rule that encodes Azure's behaviour rather than the SOP.
SECTION = "Azure"

RuleMaker = Callable[..., Rule]


def rule_maker(
    area: str,
    *,
    prefix: str = "",
    types: tuple[str, ...] | None = None,
    severity: Severity = Severity.HIGH,
) -> RuleMaker:
    """`make(number, name, description, why, fix, source, **extra)` for the rules `AZ-<area>-NNN`.

    `prefix` goes before each name (`engram-apimanagement-`); `types` are the resource types a rule
    covers unless it names its own `resource_types`; `extra` may override `severity` too.
    """

    def make(number: int, name: str, description: str, why: str, fix: str, source: str, **extra: Any) -> Rule:
        if "resource_types" not in extra and types is None:
            raise TypeError(f"{AZURE_RULE_PREFIX}{area}-{number:03d}: name its resource_types")
        return Rule(
            id=f"{AZURE_RULE_PREFIX}{area}-{number:03d}",
            name=f"{prefix}{name}",
            description=description,
            why=why,
            severity=extra.pop("severity", severity),
            enforcement=EnforcementLevel.MANDATORY,
            sop_section=SECTION,
            levels=ALL_LEVELS,
            resource_types=extra.pop("resource_types", types),
            fix=fix,
            source=source,
            **extra,
        )

    return make
