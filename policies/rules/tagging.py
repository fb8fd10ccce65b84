"""Tagging: the tags every other rule keys off, on every taggable resource.

SOP-TAG-001  environment, sop-level, data-classification and managed-by=pulumi present and consistent
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from .common import (
    ALL_LEVELS,
    ANY_RESOURCE,
    KNOWN_TAGGABLE,
    LEVEL_OF_ENVIRONMENT,
    PROD,
    REQUIRED_TAGS,
    Rule,
    RuleContext,
    is_map,
    level_of_tag,
    peek,
)


def is_taggable(resource_type: str, props: Mapping[str, Any]) -> bool:
    """Tracked ARM resources take tags; they are the ones with a location (or tags already)."""
    if resource_type in KNOWN_TAGGABLE:
        return True
    keys = list(props)
    return resource_type.startswith("azure-native:") and ("location" in keys or "tags" in keys)


def check_required_tags(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    raw = props.get("tags")  # a tag map unknown at preview defers the rule to `pulumi up`
    tags: Mapping[str, Any] = raw if is_map(raw) else {}
    missing = [t for t in REQUIRED_TAGS if peek(tags, t) in (None, "")]
    problems: list[str] = []
    if missing:
        problems.append(f"missing tags {missing}; set {', '.join(missing)} (see docs/policies.md).")
    level = peek(tags, "sop-level")
    if level not in (None, "") and level_of_tag(level) is None:
        problems.append(f'tag sop-level is {level!r}; set it to "1".."5".')
    managed = peek(tags, "managed-by")
    if managed not in (None, "") and managed != "pulumi":
        problems.append(f'tag managed-by is {managed!r}; set it to "pulumi".')
    env = peek(tags, "environment")
    declared = level_of_tag(level)
    named = LEVEL_OF_ENVIRONMENT.get(env.lower()) if isinstance(env, str) else None
    if named is not None and declared is not None and named != declared:
        problems.append(
            f"tag environment={env!r} means SOP level {named} but sop-level "
            f"is {level!r}; make them agree (the stricter one applies meanwhile)."
        )
    return problems


REQUIRED_TAGS_RULE = Rule(
    id="SOP-TAG-001",
    name="engram-azure-resource-configure-required-tags",
    description=(
        "Taggable resources must carry the environment, sop-level, data-classification and managed-by tags."
    ),
    why="The policy pack, cost reports and incident triage all read the SOP level and data class from tags.",
    severity=Severity.MEDIUM,
    enforcement=EnforcementLevel.MANDATORY,
    sop_section="7",
    levels=ALL_LEVELS,
    resource_types=(ANY_RESOURCE,),
    fix=(
        "Apply the stack's default tags to every resource (environment, sop-level, data-classification, "
        "managed-by)."
    ),
    psrule="Azure.Resource.UseTags",
)

CATALOGUE = [REQUIRED_TAGS_RULE.resource(check_required_tags, applies_to=is_taggable)]
