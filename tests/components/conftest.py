"""Offline runs of the real program, once per stack per session, shared by the component tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from policies.plan import OfflinePlan, PlannedResource, run_program

STACKS = ("staging", "dev", "test", "uat", "prod")
HOSTED = ("staging", "test", "uat", "prod")  # the stacks that run the service in Azure
LEVELS = {"staging": 1, "dev": 2, "test": 3, "uat": 4, "prod": 5}

_plans: dict[str, OfflinePlan] = {}


def plan_for(stack: str) -> OfflinePlan:
    """The program's plan for a stack's own YAML config (computed once per test session)."""
    if stack not in _plans:
        _plans[stack] = run_program(stack)
    return _plans[stack]


@pytest.fixture(params=STACKS)
def plan(request: pytest.FixtureRequest) -> OfflinePlan:
    return plan_for(request.param)


@pytest.fixture
def prod() -> OfflinePlan:
    return plan_for("prod")


def dig(node: Any, path: str) -> Any:
    """The value at a path in wire inputs, or None: `dig(inputs, "template.scale.minReplicas")`; list
    indexes as numbers (`containers.0`) or, as Pulumi writes property paths, in brackets (`a.b[0].c`)."""
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def container(plan: OfflinePlan) -> dict[str, Any]:
    app = plan.one("azure-native:app:ContainerApp")
    return dig(app.inputs, "template.containers.0")  # type: ignore[no-any-return]


def env_of(plan: OfflinePlan) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(plan)["env"]}


def by_id(plan: OfflinePlan) -> dict[str, PlannedResource]:
    return {r.id: r for r in plan.resources if r.id}


@pytest.fixture
def no_plan_cache() -> Iterator[None]:
    saved = dict(_plans)
    _plans.clear()
    yield
    _plans.clear()
    _plans.update(saved)
