"""Container Apps sizing per the SOP matrix (replicas, CPU, memory) and the zone-redundant environment."""

from __future__ import annotations

import pytest

from policies.rules import hosting
from tests.policies.builders import (
    CONTAINER_APP,
    MANAGED_ENVIRONMENT,
    container_app,
    managed_environment,
    messages,
    run_resource,
)

MAX, MIN, CPU, MEMORY, ZONES = hosting.CATALOGUE
ENVS = ["staging", "dev", "test", "uat", "prod"]


@pytest.mark.parametrize("env", ENVS)
def test_matrix_sized_app_passes_every_sizing_rule(env: str) -> None:
    for entry in (MAX, MIN, CPU, MEMORY):
        assert run_resource(entry, CONTAINER_APP, container_app(env), stack=env) == [], entry.rule.id


@pytest.mark.parametrize(("env", "cap"), [("staging", 3), ("dev", 2), ("test", 2), ("uat", 5), ("prod", 10)])
def test_max_replicas_above_cap_is_violation(env: str, cap: int) -> None:
    props = container_app(env)
    props["template"]["scale"]["maxReplicas"] = float(cap + 1)
    level = {"staging": 1, "dev": 2, "test": 3, "uat": 4, "prod": 5}[env]
    assert messages(run_resource(MAX, CONTAINER_APP, props, stack=env)) == [
        f"Container app template.scale.maxReplicas is {cap + 1.0} (effective {cap + 1.0}); set it to at most "
        f"{cap} for {env} (SOP level {level})."
    ]


def test_max_replicas_unset_means_azure_default_ten() -> None:
    props = container_app("test")
    del props["template"]["scale"]["maxReplicas"]
    assert "(effective 10)" in messages(run_resource(MAX, CONTAINER_APP, props, stack="test"))[0]


def test_max_replicas_cap_from_config() -> None:
    props = container_app("test")
    props["template"]["scale"]["maxReplicas"] = 4.0
    assert run_resource(MAX, CONTAINER_APP, props, stack="test", config={"maxReplicas": {"test": 4}}) == []


def test_min_replicas_zero_is_violation_in_uat_and_prod_only() -> None:
    props = container_app("uat")
    props["template"]["scale"]["minReplicas"] = 0.0
    assert messages(run_resource(MIN, CONTAINER_APP, props, stack="uat")) == [
        "Container app template.scale.minReplicas is 0.0; set it to at least 1 so uat never scales to zero."
    ]
    assert run_resource(MIN, CONTAINER_APP, container_app("test"), stack="test") == []


def test_cpu_above_cap_is_violation() -> None:
    props = container_app("test")
    props["template"]["containers"][0]["resources"]["cpu"] = 1.0
    assert messages(run_resource(CPU, CONTAINER_APP, props, stack="test")) == [
        "Container 'engram-api' resources.cpu is 1.0; set it to at most 0.5 vCPU for test (SOP level 3)."
    ]


def test_memory_above_cap_is_violation() -> None:
    props = container_app("prod")
    props["template"]["containers"][0]["resources"]["memory"] = "4Gi"
    assert messages(run_resource(MEMORY, CONTAINER_APP, props)) == [
        "Container 'engram-api' resources.memory is '4Gi'; set it to at most \"2Gi\" for prod (SOP level 5)."
    ]


def test_memory_quantities_parse() -> None:
    assert hosting.memory_gib("512Mi") == 0.5
    assert hosting.memory_gib("1.5Gi") == 1.5
    assert hosting.memory_gib("lots") is None


def test_unparseable_memory_is_violation() -> None:
    props = container_app("staging")
    props["template"]["containers"][0]["resources"]["memory"] = "lots"
    assert (
        "resources.memory is 'lots'"
        in messages(run_resource(MEMORY, CONTAINER_APP, props, stack="staging"))[0]
    )


def test_zone_redundancy_off_is_violation_in_prod() -> None:
    assert run_resource(ZONES, MANAGED_ENVIRONMENT, managed_environment()) == []
    props = managed_environment()
    props["zoneRedundant"] = False
    assert messages(run_resource(ZONES, MANAGED_ENVIRONMENT, props)) == [
        "Container Apps environment zoneRedundant is False; set zoneRedundant to true "
        "(needs vnetConfiguration.infrastructureSubnetId)."
    ]
