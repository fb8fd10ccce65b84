"""Hosting: Container Apps scale, image, probes, revision mode and ignored paths; the args' guards."""

from __future__ import annotations

import pytest
from pulumi_azure_native import app as aca

from components.hosting import (
    BLUE_GREEN_OWNED,
    BOOTSTRAP_IMAGE,
    BOOTSTRAP_PORT,
    ContainerRegistryArgs,
    HostingArgs,
)
from components.private_endpoint import PrivateLinkPlacement
from policies.plan import read_stack_config, run_program
from tests.components.conftest import HOSTED, container, dig, plan_for

SCALE = {
    "staging": (0.5, "1Gi", 0, 3),
    "test": (0.5, "1Gi", 0, 2),
    "uat": (1.0, "2Gi", 1, 5),
    "prod": (1.0, "2Gi", 1, 10),
}


@pytest.mark.parametrize("stack", list(SCALE))
def test_scale_cpu_and_memory_follow_the_sop(stack: str) -> None:
    plan = plan_for(stack)
    cpu, memory, low, high = SCALE[stack]
    app = plan.one("azure-native:app:ContainerApp")
    assert dig(app.inputs, "template.scale.minReplicas") == low
    assert dig(app.inputs, "template.scale.maxReplicas") == high
    resources = container(plan)["resources"]
    assert resources == {"cpu": cpu, "memory": memory}


def _hosting(stack: str, tag: str | None = None) -> dict[str, object]:
    hosting = dict(read_stack_config(stack)["engram:hosting"])
    if tag is not None:  # as the deploy pipeline sets it (`pulumi config set --path ...image.tag`)
        hosting["image"] = {**hosting["image"], "tag": tag}
    return hosting


@pytest.mark.parametrize("stack", HOSTED)
def test_probes_and_ingress_once_the_pipeline_has_built_the_image(stack: str) -> None:
    plan = run_program(stack, config_overrides={"engram:hosting": _hosting(stack, tag="abc123")})
    probes = {p["type"]: p["httpGet"]["path"] for p in container(plan)["probes"]}
    assert probes == {"Liveness": "/health", "Readiness": "/ready"}
    app = plan.one("azure-native:app:ContainerApp")
    assert app.inputs["configuration"]["ingress"]["targetPort"] == 8080
    registry = plan.one("azure-native:containerregistry:Registry")
    assert container(plan)["image"] == f"{registry.outputs['loginServer']}/engram-api:abc123"


@pytest.mark.parametrize("stack", HOSTED)
def test_a_first_deployment_runs_the_public_bootstrap_image(stack: str) -> None:
    """No tag yet: the registry this run creates is empty, so the app must not pull from it."""
    plan = plan_for(stack)
    assert container(plan)["image"] == BOOTSTRAP_IMAGE
    assert "probes" not in container(plan) or container(plan)["probes"] == []
    app = plan.one("azure-native:app:ContainerApp")
    assert app.inputs["configuration"]["ingress"]["targetPort"] == BOOTSTRAP_PORT
    assert plan.outputs["registryLoginServer"]  # where the pipeline then builds the real image


@pytest.mark.parametrize("stack", HOSTED)
def test_only_prod_runs_multiple_revisions_and_leaves_blue_green_to_the_pipeline(stack: str) -> None:
    app = plan_for(stack).one("azure-native:app:ContainerApp")
    mode = app.inputs["configuration"]["activeRevisionsMode"]
    if stack == "prod":
        assert mode == "Multiple"
        assert set(app.ignore_changes) == {
            "template.containers[0].image",
            "template.revisionSuffix",
            "configuration.ingress.traffic",
        }
    else:
        assert mode == "Single"
        assert app.ignore_changes == ()


def test_a_profile_setting_not_the_stack_name_picks_the_revision_mode() -> None:
    plan = run_program(
        "uat", config_overrides={"engram:hosting": {**_hosting("uat"), "activeRevisionsMode": "Multiple"}}
    )
    app = plan.one("azure-native:app:ContainerApp")
    assert app.inputs["configuration"]["activeRevisionsMode"] == "Multiple"
    assert app.ignore_changes == BLUE_GREEN_OWNED


def test_ignored_paths_are_the_wire_names_of_real_container_app_properties() -> None:
    """Each path reaches a value the SDK sends when the property is set (a typo would reach nothing)."""

    def program() -> None:
        aca.ContainerApp(
            "probe",
            resource_group_name="rg",
            managed_environment_id="env",
            configuration={
                "active_revisions_mode": "Multiple",
                "ingress": {"target_port": 8080, "traffic": [{"revision_name": "probe--r1", "weight": 100}]},
            },
            template={"revision_suffix": "r1", "containers": [{"name": "api", "image": "acr/engram-api:1"}]},
        )

    inputs = run_program("staging", program=program).one("azure-native:app:ContainerApp").inputs
    assert {path: dig(inputs, path) for path in BLUE_GREEN_OWNED} == {
        "template.containers[0].image": "acr/engram-api:1",
        "template.revisionSuffix": "r1",
        "configuration.ingress.traffic": [{"revisionName": "probe--r1", "weight": 100.0}],
    }


def hosting_args(**overrides: object) -> HostingArgs:
    values: dict[str, object] = {
        "resource_group_name": "rg",
        "location": "eastus2",
        "tags": {},
        "workspace_customer_id": "ws",
        "workspace_name": "ws",
        "identity_id": "id",
        "image": "img",
        "registry_server": None,
        "cpu": 0.5,
        "memory": "1Gi",
        "min_replicas": 0,
        "max_replicas": 2,
        "cors_origins": ["https://ui"],
        "env": {"ENVIRONMENT": "test"},
        "secret_env": {"AZURE_AI_KEY": "azure-ai-key"},
        "key_vault_secrets": {"azure-ai-key": "https://kv/secrets/azure-ai-key"},
    }
    values.update(overrides)
    return HostingArgs(**values)  # type: ignore[arg-type]


def test_a_plain_secret_variable_is_refused() -> None:
    with pytest.raises(ValueError, match=r"secret-like variables must use secret_env.*ZEP_API_KEY"):
        hosting_args(env={"ZEP_API_KEY": "zk-123"})


def test_a_secret_ref_without_a_key_vault_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="no Key Vault reference: \\['database-url'\\]"):
        hosting_args(secret_env={"DATABASE_URL": "database-url"})


def test_internal_environment_needs_a_subnet() -> None:
    with pytest.raises(ValueError, match="infrastructure_subnet_id"):
        hosting_args(internal=True)


def test_internal_environment_needs_its_private_dns() -> None:
    with pytest.raises(ValueError, match="nothing resolves its apps"):
        hosting_args(internal=True, infrastructure_subnet_id="snet")


def test_a_private_registry_needs_premium() -> None:
    placement = PrivateLinkPlacement(subnet_id="snet", zone_ids={"registry": ["zone"]})
    with pytest.raises(ValueError, match="needs the Premium SKU"):
        ContainerRegistryArgs(
            resource_group_name="rg",
            location="eastus2",
            tags={},
            registry_name="engramacr",
            private_link=placement,
        )
