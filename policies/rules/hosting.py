"""Container Apps sizing and availability, per the SOP section 7 matrix.

    level  environment  vCPU  memory  replicas
    1      staging      0.5   1 GiB   0-3
    2      dev          0.5   1 GiB   0-2
    3      test         0.5   1 GiB   0-2
    4      uat          1     2 GiB   1-5
    5      prod         1     2 GiB   1-10

The SOP names no CPU/memory for dev and uat: dev takes staging's size, uat takes prod's.

SOP-SCALE-001  maxReplicas within the level's cap (every level; caps adjustable in config)
SOP-SCALE-002  minReplicas >= 1 (uat and prod)
SOP-SCALE-003  container CPU within the level's cap (every level)
SOP-SCALE-004  container memory within the level's cap (every level)
SOP-HA-001     zone-redundant Container Apps environment (prod)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, Severity

from .common import (
    ALL_LEVELS,
    CONTAINER_APP,
    ENVIRONMENT_OF_LEVEL,
    MANAGED_ENVIRONMENT,
    PROD,
    Rule,
    RuleContext,
    from_level,
    is_map,
    items,
    peek,
    rule_maker,
    sub,
)

MAX_REPLICAS: dict[int, int] = {1: 3, 2: 2, 3: 2, 4: 5, 5: 10}
MIN_REPLICAS_FROM_LEVEL = 4
CPU_CAP: dict[int, float] = {1: 0.5, 2: 0.5, 3: 0.5, 4: 1.0, 5: 1.0}
MEMORY_CAP_GIB: dict[int, float] = {1: 1.0, 2: 1.0, 3: 1.0, 4: 2.0, 5: 2.0}
ACA_DEFAULT_MAX_REPLICAS = 10  # what Container Apps uses when maxReplicas is omitted
ACA_DEFAULT_CPU = 0.5
ACA_DEFAULT_MEMORY = "1Gi"

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Gi|G|Mi|M)?\s*$")


def memory_gib(value: str) -> float | None:
    """`"1Gi"` -> 1.0, `"512Mi"` -> 0.5; None when it is not a Container Apps memory quantity."""
    match = _MEMORY.match(value)
    if not match:
        return None
    number, unit = float(match.group(1)), (match.group(2) or "Gi")
    return number / 1024 if unit in ("Mi", "M") else number


def max_replica_cap(ctx: RuleContext) -> int:
    overrides = ctx.config.get("maxReplicas")
    env = ENVIRONMENT_OF_LEVEL[ctx.level]
    if is_map(overrides) and isinstance(peek(overrides, env), int | float):
        return int(overrides[env])
    return MAX_REPLICAS[ctx.level]


def check_max_replicas(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = sub(props, "template", "scale").get("maxReplicas")
    effective = ACA_DEFAULT_MAX_REPLICAS if value is None else value
    cap = max_replica_cap(ctx)
    if isinstance(effective, int | float) and effective <= cap:
        return []
    return [
        f"Container app template.scale.maxReplicas is {value!r} (effective {effective!r}); set it to at "
        f"most {cap} for {ENVIRONMENT_OF_LEVEL[ctx.level]} (SOP level {ctx.level})."
    ]


def check_min_replicas(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = sub(props, "template", "scale").get("minReplicas")
    if isinstance(value, int | float) and value >= 1:
        return []
    return [
        f"Container app template.scale.minReplicas is {value!r}; set it to at least 1 so "
        f"{ENVIRONMENT_OF_LEVEL[ctx.level]} never scales to zero."
    ]


def _containers(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in items(props, "template", "containers") if is_map(c)]


def check_cpu(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    cap, problems = CPU_CAP[ctx.level], []
    for container in _containers(props):
        cpu = sub(container, "resources").get("cpu")
        effective = ACA_DEFAULT_CPU if cpu is None else cpu
        if not isinstance(effective, int | float) or effective > cap:
            problems.append(
                f"Container {container.get('name')!r} resources.cpu is {cpu!r}; set it to at most {cap} "
                f"vCPU for {ENVIRONMENT_OF_LEVEL[ctx.level]} (SOP level {ctx.level})."
            )
    return problems


def check_memory(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    cap, problems = MEMORY_CAP_GIB[ctx.level], []
    for container in _containers(props):
        memory = sub(container, "resources").get("memory")
        effective = memory_gib(ACA_DEFAULT_MEMORY if memory is None else str(memory))
        if effective is None or effective > cap:
            problems.append(
                f"Container {container.get('name')!r} resources.memory is {memory!r}; set it to at most "
                f'"{cap:g}Gi" for {ENVIRONMENT_OF_LEVEL[ctx.level]} (SOP level {ctx.level}).'
            )
    return problems


def check_environment_zone_redundant(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = props.get("zoneRedundant")
    if value is True:
        return []
    return [
        f"Container Apps environment zoneRedundant is {value!r}; set zoneRedundant to true "
        f"(needs vnetConfiguration.infrastructureSubnetId)."
    ]


_rule = rule_maker("SOP-SCALE", resource_types=(CONTAINER_APP,), sop_section="7", levels=ALL_LEVELS)

MAX_REPLICAS_RULE = _rule(
    1,
    "engram-app-containerapp-configure-max-replicas",
    "Container apps must cap maxReplicas at the SOP matrix value for their level.",
    "The matrix bounds cost and blast radius per environment (staging 3, dev 2, test 2, uat 5, prod 10).",
    "Set template.scale.maxReplicas to the level's cap (or adjust maxReplicas in the pack config).",
    severity=Severity.MEDIUM,
    config_schema=PolicyConfigSchema(
        properties={
            "maxReplicas": {
                "type": "object",
                "description": "Replica cap per environment (staging, dev, test, uat, prod).",
                "properties": {
                    env: {"type": "integer", "minimum": 1} for env in ENVIRONMENT_OF_LEVEL.values()
                },
                "default": {ENVIRONMENT_OF_LEVEL[level]: cap for level, cap in MAX_REPLICAS.items()},
            }
        }
    ),
)
MIN_REPLICAS_RULE = _rule(
    2,
    "engram-app-containerapp-configure-min-replicas",
    "Container apps in uat and production must keep at least one replica running.",
    "Scale-to-zero adds a cold start to the first voice or chat request; uat and prod must not.",
    "Set template.scale.minReplicas >= 1.",
    severity=Severity.MEDIUM,
    levels=from_level(MIN_REPLICAS_FROM_LEVEL),
)
CPU_RULE = _rule(
    3,
    "engram-app-containerapp-configure-cpu-cap",
    "Container CPU must stay within the SOP matrix size for the level.",
    "Sizes are part of the matrix the environments are costed and tested against.",
    "Set template.containers[].resources.cpu to at most 0.5 (levels 1-3) or 1 (levels 4-5).",
    severity=Severity.LOW,
)
MEMORY_RULE = _rule(
    4,
    "engram-app-containerapp-configure-memory-cap",
    "Container memory must stay within the SOP matrix size for the level.",
    "Sizes are part of the matrix the environments are costed and tested against.",
    'Set template.containers[].resources.memory to at most "1Gi" (levels 1-3) or "2Gi" (levels 4-5).',
    severity=Severity.LOW,
)
ZONE_REDUNDANT_ENVIRONMENT = Rule(
    id="SOP-HA-001",
    name="engram-app-managedenvironment-enable-zone-redundancy",
    description="Production Container Apps environments must be zone redundant.",
    why="Production replicas are spread over availability zones so one zone failure is not an outage.",
    severity=Severity.HIGH,
    enforcement=EnforcementLevel.MANDATORY,
    sop_section="8",
    levels=frozenset({5}),
    resource_types=(MANAGED_ENVIRONMENT,),
    fix="Set zoneRedundant=true on a VNet-integrated environment.",
    psrule="Azure.ContainerApp.AvailabilityZone",
)

CATALOGUE = [
    MAX_REPLICAS_RULE.resource(check_max_replicas),
    MIN_REPLICAS_RULE.resource(check_min_replicas),
    CPU_RULE.resource(check_cpu),
    MEMORY_RULE.resource(check_memory),
    ZONE_REDUNDANT_ENVIRONMENT.resource(check_environment_zone_redundant),
]
