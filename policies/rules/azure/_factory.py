"""One way to write an Azure deployability rule's metadata, so every module states only what differs.

Every AZ rule applies at every level (Azure does not care which environment a resource belongs to), is
mandatory (a violation is a failed or useless deployment) and cites its source.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from .. import common
from ..common import ALL_LEVELS, AZURE_RULE_PREFIX, Rule, RuleMaker

#: What `Rule.sop_section` says of a rule that encodes Azure's behaviour rather than the SOP.
SECTION = "Azure"


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
    shared: dict[str, Any] = {} if types is None else {"resource_types": types}
    make = common.rule_maker(
        f"{AZURE_RULE_PREFIX}{area}",
        name_prefix=prefix,
        severity=severity,
        sop_section=SECTION,
        levels=ALL_LEVELS,
        **shared,
    )

    def make_azure(
        number: int, name: str, description: str, why: str, fix: str, source: str, **extra: Any
    ) -> Rule:
        return make(number, name, description, why, fix, source=source, **extra)

    return make_azure
