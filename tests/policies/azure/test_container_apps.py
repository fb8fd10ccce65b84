"""AZ-ACA-*: Container Apps environments and apps, including the same-stack image rule."""

from __future__ import annotations

from policies.gate import evaluate
from policies.plan import PlannedResource
from policies.rules.azure import container_apps as rules
from tests.policies.builders import (
    CONTAINER_APP,
    MANAGED_ENVIRONMENT,
    PRIVATE_ZONE,
    REGISTRY,
    SUBNET,
    UNKNOWN_STRING,
    ZONE_LINK,
    aca_subnet,
    container_app,
    environment_zone,
    managed_environment,
    messages,
    registry,
    resource,
    run_resource,
    run_stack,
    urn,
    zone_link,
)

INTERNAL, ZONES, ENV_SUBNET, DNS, NAME, INGRESS, IDENTITY, CPU, IMAGE = rules.CATALOGUE
BOOTSTRAP = "mcr.microsoft.com/k8se/quickstart:latest"


def test_compliant_environment_and_app_pass() -> None:
    for entry in (INTERNAL, ZONES):
        assert run_resource(entry, MANAGED_ENVIRONMENT, managed_environment()) == []
    for entry in (NAME, INGRESS, IDENTITY, CPU):
        assert run_resource(entry, CONTAINER_APP, container_app()) == []


def test_internal_environment_without_subnet_is_refused() -> None:
    props = managed_environment()
    props["zoneRedundant"] = False
    del props["vnetConfiguration"]["infrastructureSubnetId"]
    assert messages(run_resource(INTERNAL, MANAGED_ENVIRONMENT, props)) == [
        "Container Apps environment vnetConfiguration.internal is True without infrastructureSubnetId; set "
        "vnetConfiguration.infrastructureSubnetId to the environment's subnet."
    ]


def test_zone_redundant_environment_without_vnet_is_refused() -> None:
    props = managed_environment()
    del props["vnetConfiguration"]
    assert messages(run_resource(ZONES, MANAGED_ENVIRONMENT, props)) == [
        "Container Apps environment zoneRedundant is True without vnetConfiguration.infrastructureSubnetId; "
        "zone redundancy needs a custom virtual network, so set the subnet (or zoneRedundant false)."
    ]


def _env_on(subnet_props: dict[str, object], profiles: bool = True) -> list[PlannedResource]:
    net = resource(SUBNET, subnet_props, name="apps")
    env_props = managed_environment()
    if profiles:
        env_props["workloadProfiles"] = [{"name": "Consumption", "workloadProfileType": "Consumption"}]
    env = resource(
        MANAGED_ENVIRONMENT, env_props, name="env", property_dependencies={"vnetConfiguration": (net.urn,)}
    )
    return [net, env]


def test_environment_subnet_size_and_delegation() -> None:
    assert run_stack(ENV_SUBNET, _env_on(aca_subnet())) == []
    assert run_stack(ENV_SUBNET, _env_on(aca_subnet("10.0.0.0/23", delegated=False), profiles=False)) == []
    assert messages(run_stack(ENV_SUBNET, _env_on(aca_subnet("10.0.0.0/28")))) == [
        "Container Apps environment 'env' (workload profiles) uses subnet 'apps' of size /28; give it a /27 "
        "or larger subnet."
    ]
    assert messages(run_stack(ENV_SUBNET, _env_on(aca_subnet(delegated=False)))) == [
        "Container Apps environment 'env' (workload profiles) uses subnet 'apps' without a "
        "Microsoft.App/environments delegation; delegate it to Microsoft.App/environments."
    ]


def _dns_stack(with_link: bool = True) -> list[PlannedResource]:
    env = resource(MANAGED_ENVIRONMENT, managed_environment(), name="env")
    zone = resource(
        PRIVATE_ZONE, environment_zone(), name="zone", property_dependencies={"privateZoneName": (env.urn,)}
    )
    link = resource(
        ZONE_LINK, zone_link(), name="link", property_dependencies={"privateZoneName": (zone.urn,)}
    )
    return [env, zone, link] if with_link else [env, zone]


def test_internal_environment_needs_linked_private_dns_zone() -> None:
    assert run_stack(DNS, _dns_stack()) == []
    assert messages(run_stack(DNS, _dns_stack(with_link=False))) == [
        "Internal Container Apps environment 'env': the private DNS zone named after its "
        "defaultDomain has no "
        "VirtualNetworkLink; add an azure-native:privatedns:PrivateZone with privateZoneName = the "
        "environment's defaultDomain, a wildcard A record to its staticIp, and a VirtualNetworkLink to the "
        "virtual network."
    ]


def test_invalid_app_name_is_refused() -> None:
    props = container_app()
    props["containerAppName"] = "engram--api"
    assert messages(run_resource(NAME, CONTAINER_APP, props)) == [
        "Container app containerAppName 'engram--api' is not 2-32 lower-case letters, digits and hyphens "
        'starting with a letter, ending with a letter or digit and without "--"; rename it.'
    ]


def test_ingress_without_target_port_is_refused() -> None:
    props = container_app()
    del props["configuration"]["ingress"]["targetPort"]
    assert messages(run_resource(INGRESS, CONTAINER_APP, props)) == [
        "Container app ingress has no targetPort; set configuration.ingress.targetPort."
    ]


def test_ingress_with_unknown_transport_is_refused() -> None:
    props = container_app()
    props["configuration"]["ingress"]["transport"] = "grpc"
    assert messages(run_resource(INGRESS, CONTAINER_APP, props)) == [
        "Container app ingress transport is 'grpc'; set it to one of ['auto', 'http', 'http2', 'tcp']."
    ]


def test_key_vault_secret_with_unassigned_identity_is_refused() -> None:
    props = container_app()
    props["configuration"]["secrets"][0]["identity"] = "system"
    assert messages(run_resource(IDENTITY, CONTAINER_APP, props)) == [
        "Container app secret 'azure-ai-key' uses identity \"system\" but identity.type has no "
        "SystemAssigned; "
        "add SystemAssigned to identity.type."
    ]


def test_registry_with_unassigned_identity_is_refused() -> None:
    props = container_app()
    props["configuration"]["registries"][0]["identity"] = "/subscriptions/x/identities/other"
    assert messages(run_resource(IDENTITY, CONTAINER_APP, props)) == [
        "Container app registry 'acrengram.azurecr.io' uses identity '/subscriptions/x/identities/other', "
        "which is not in identity.userAssignedIdentities; assign it to the app."
    ]


def test_invalid_cpu_memory_pair_is_refused() -> None:
    props = container_app()
    props["template"]["containers"][0]["resources"]["memory"] = "3Gi"
    assert messages(run_resource(CPU, CONTAINER_APP, props)) == [
        "Container app requests cpu 1 with memory 3Gi in total; on the consumption profile use cpu 0.25-4 in "
        "steps of 0.25 with memory twice the cpu (for example 1 and 2Gi)."
    ]


def _app(image: str, ignore: tuple[str, ...] = ()) -> PlannedResource:
    props = container_app()
    props["template"]["containers"][0]["image"] = image
    return PlannedResource(
        urn=urn(CONTAINER_APP, "api"),
        type=CONTAINER_APP,
        name="api",
        properties=props,
        ignore_changes=ignore,
    )


def _image_app(image: str, registry_urn: str) -> PlannedResource:
    return PlannedResource(
        urn=urn(CONTAINER_APP, "api"),
        type=CONTAINER_APP,
        name="api",
        properties=_app(image).properties,
        property_dependencies={"template": (registry_urn,)},
    )


def _image_findings(resources: list[PlannedResource], first: bool) -> list[str]:
    config = {IMAGE.rule.name: {"firstDeployment": True}} if first else None
    return messages(evaluate(resources, stack="prod", policies=[IMAGE.policy], config=config).findings)


def test_image_computed_from_a_registry_created_in_this_run_is_refused() -> None:
    """At a real preview, an image built from a new registry's login server is unknown."""
    acr = resource(REGISTRY, registry(), name="acr")
    found = _image_findings([acr, _image_app(UNKNOWN_STRING, acr.urn)], first=False)
    assert found == [
        "Container app 'api' pulls an image computed from its login server from registry 'acr', created in "
        "the same deployment: the registry is empty then and the revision fails with MANIFEST_UNKNOWN; "
        "start from a public bootstrap image (e.g. mcr.microsoft.com/k8se/quickstart:latest, port 80) and "
        "let the pipeline build into the registry before it sets the image."
    ]


def test_a_known_image_on_an_existing_registry_passes_a_real_preview() -> None:
    acr = resource(REGISTRY, registry(), name="acr")
    app = _image_app("acrengram.azurecr.io/engram-api:1.0.0", acr.urn)
    assert _image_findings([acr, app], first=False) == []


def test_offline_first_deployment_refuses_the_same_stack_registry_image() -> None:
    acr = resource(REGISTRY, registry(), name="acr")
    app = _image_app("acrengram.azurecr.io/engram-api:1.0.0", acr.urn)
    found = _image_findings([acr, app], first=True)
    assert len(found) == 1 and "'acrengram.azurecr.io/engram-api:1.0.0' from registry 'acr'" in found[0]


def test_bootstrap_image_passes_a_first_deployment() -> None:
    acr = resource(REGISTRY, registry(), name="acr")
    assert _image_findings([acr, _image_app(BOOTSTRAP, acr.urn)], first=True) == []


def test_registry_outside_the_stack_is_not_judged() -> None:
    assert run_stack(IMAGE, [_app("acrengram.azurecr.io/engram-api:1.0.0")]) == []
