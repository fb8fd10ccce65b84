"""Container Apps environments and apps: creation-time requirements and pairings.

AZ-ACA-001  internal environment needs vnetConfiguration.infrastructureSubnetId
AZ-ACA-002  zone-redundant environment needs a custom virtual network
AZ-ACA-003  environment subnet size and delegation match the environment type (stack, when in the plan)
AZ-ACA-004  internal environment needs a private DNS zone for its default domain with a VNet link (stack)
AZ-ACA-005  container app name: 2-32 lower-case letters, digits and hyphens, no "--"
AZ-ACA-006  ingress needs targetPort and a valid transport
AZ-ACA-007  Key Vault secrets and registries pull with an identity the app has
AZ-ACA-008  consumption apps use a valid cpu/memory pair
AZ-ACA-009  no image from a registry created in the same stack (stack)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, Severity

from ..common import (
    CONTAINER_APP,
    MANAGED_ENVIRONMENT,
    PROD,
    REGISTRY,
    UNKNOWN,
    RuleContext,
    StackResource,
    depends_on,
    is_list,
    is_map,
    items,
    of_type,
    peek,
    sub,
)
from ._factory import rule_maker

SUBNET = "azure-native:network:Subnet"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
ZONE_LINK = "azure-native:privatedns:VirtualNetworkLink"
APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
TRANSPORTS = frozenset({"auto", "http", "http2", "tcp"})
DELEGATION = "microsoft.app/environments"
MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*Gi\s*$")


def _internal(props: Mapping[str, Any]) -> bool:
    return peek(sub(props, "vnetConfiguration"), "internal") is True


def _subnet_id(props: Mapping[str, Any]) -> Any:
    return peek(sub(props, "vnetConfiguration"), "infrastructureSubnetId")


def check_internal_needs_subnet(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if not _internal(props) or _subnet_id(props) not in (None, ""):
        return []
    return [
        "Container Apps environment vnetConfiguration.internal is True without infrastructureSubnetId; set "
        "vnetConfiguration.infrastructureSubnetId to the environment's subnet."
    ]


def check_zone_redundant_needs_vnet(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if props.get("zoneRedundant") is not True or _subnet_id(props) not in (None, ""):
        return []
    return [
        "Container Apps environment zoneRedundant is True without vnetConfiguration.infrastructureSubnetId; "
        "zone redundancy needs a custom virtual network, so set the subnet (or zoneRedundant false)."
    ]


# ---- AZ-ACA-003: the environment's subnet -----------------------------------------------------------


def _subnet_of(environment: StackResource, subnets: Sequence[StackResource]) -> StackResource | None:
    wanted = _subnet_id(environment.props)
    for subnet in subnets:
        if depends_on(environment, "vnetConfiguration", subnet):
            return subnet
        name = peek(subnet.props, "subnetName")
        if (
            isinstance(wanted, str)
            and isinstance(name, str)
            and wanted.lower().endswith("/subnets/" + name.lower())
        ):
            return subnet
    return None


def _prefix_length(props: Mapping[str, Any]) -> int | None:
    prefix = peek(props, "addressPrefix")
    if not isinstance(prefix, str):
        prefixes = [p for p in items(props, "addressPrefixes") if isinstance(p, str)]
        prefix = prefixes[0] if prefixes else None
    if not isinstance(prefix, str):
        return None
    try:
        return ipaddress.ip_network(prefix, strict=False).prefixlen
    except ValueError:
        return None


def _delegated(props: Mapping[str, Any]) -> bool:
    for delegation in items(props, "delegations"):
        if is_map(delegation):
            service = peek(delegation, "serviceName")
            if isinstance(service, str) and service.lower() == DELEGATION:
                return True
    return False


def check_environment_subnet(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    subnets = of_type(resources, SUBNET)
    problems: list[tuple[str, str]] = []
    for environment in of_type(resources, MANAGED_ENVIRONMENT):
        subnet = _subnet_of(environment, subnets)
        if subnet is None:
            continue
        profiles = items(environment.props, "workloadProfiles")
        length, delegated = _prefix_length(subnet.props), _delegated(subnet.props)
        if profiles:
            kind, largest, want_delegated = "workload profiles", 27, True
        else:
            kind, largest, want_delegated = "consumption-only", 23, False
        if length is not None and length > largest:
            problems.append(
                (
                    f"Container Apps environment '{environment.name}' ({kind}) uses subnet "
                    f"'{subnet.name}' of "
                    f"size /{length}; give it a /{largest} or larger subnet.",
                    environment.urn,
                )
            )
        if delegated != want_delegated:
            change = "delegate it to" if want_delegated else "remove its delegation to"
            problems.append(
                (
                    f"Container Apps environment '{environment.name}' ({kind}) uses subnet '{subnet.name}' "
                    f"{'without' if want_delegated else 'with'} a Microsoft.App/environments delegation; "
                    f"{change} Microsoft.App/environments.",
                    environment.urn,
                )
            )
    return problems


# ---- AZ-ACA-004: private DNS for an internal environment --------------------------------------------


def check_internal_environment_dns(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    zones = of_type(resources, PRIVATE_ZONE)
    links = of_type(resources, ZONE_LINK)
    problems: list[tuple[str, str]] = []
    for environment in of_type(resources, MANAGED_ENVIRONMENT):
        if not _internal(environment.props):
            continue
        own = [z for z in zones if depends_on(z, "privateZoneName", environment)]
        linked = [z for z in own if any(_zone_linked(link, z) for link in links)]
        if linked:
            continue
        what = "has no VirtualNetworkLink" if own else "is missing"
        problems.append(
            (
                f"Internal Container Apps environment '{environment.name}': the private DNS zone "
                "named after its "
                f"defaultDomain {what}; add an azure-native:privatedns:PrivateZone with "
                "privateZoneName = the "
                "environment's defaultDomain, a wildcard A record to its staticIp, and a "
                "VirtualNetworkLink to "
                f"the virtual network.",
                environment.urn,
            )
        )
    return problems


def _zone_linked(link: StackResource, zone: StackResource) -> bool:
    if depends_on(link, "privateZoneName", zone):
        return True
    name, zone_name = peek(link.props, "privateZoneName"), peek(zone.props, "privateZoneName")
    return isinstance(name, str) and bool(name) and name == zone_name


# ---- app rules --------------------------------------------------------------------------------------


def check_app_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "containerAppName")
    if not isinstance(name, str) or (APP_NAME.match(name) and "--" not in name):
        return []
    return [
        f"Container app containerAppName {name!r} is not 2-32 lower-case letters, digits and hyphens "
        "starting "
        f'with a letter, ending with a letter or digit and without "--"; rename it.'
    ]


def check_ingress(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    configuration = sub(props, "configuration")
    if "ingress" not in list(configuration):
        return []
    ingress = sub(configuration, "ingress")
    problems: list[str] = []
    port = peek(ingress, "targetPort")
    if port is None:
        problems.append("Container app ingress has no targetPort; set configuration.ingress.targetPort.")
    transport = peek(ingress, "transport")
    if isinstance(transport, str) and transport.lower() not in TRANSPORTS:
        problems.append(
            f"Container app ingress transport is {transport!r}; set it to one of {sorted(TRANSPORTS)}."
        )
    return problems


def _identities(props: Mapping[str, Any]) -> tuple[bool, set[str]]:
    identity = sub(props, "identity")
    kind = peek(identity, "type")
    system = isinstance(kind, str) and "systemassigned" in kind.replace(",", "").replace(" ", "").lower()
    assigned = peek(identity, "userAssignedIdentities")
    ids: set[str] = set()
    if is_map(assigned):
        ids = {key.lower() for key in list(assigned)}
    elif is_list(assigned):
        ids = {a.lower() for a in assigned if isinstance(a, str)}
    return system, ids


def check_identity_references(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    system, ids = _identities(props)
    problems: list[str] = []
    references = [
        ("secret", peek(s, "name"), peek(s, "identity"))
        for s in items(props, "configuration", "secrets")
        if is_map(s) and peek(s, "keyVaultUrl") is not None
    ] + [
        ("registry", peek(r, "server"), peek(r, "identity"))
        for r in items(props, "configuration", "registries")
        if is_map(r) and "identity" in list(r)
    ]
    for kind, label, identity in references:
        if not isinstance(identity, str):
            if identity is None and kind == "secret":
                problems.append(
                    f"Container app Key Vault secret {label!r} has no identity; set its identity to a "
                    f'user-assigned identity id of the app or "system".'
                )
            continue
        if identity.lower() == "system":
            if not system:
                problems.append(
                    f'Container app {kind} {label!r} uses identity "system" but identity.type has no '
                    f"SystemAssigned; add SystemAssigned to identity.type."
                )
        elif identity.lower() not in ids:
            problems.append(
                f"Container app {kind} {label!r} uses identity {identity!r}, which is not in "
                f"identity.userAssignedIdentities; assign it to the app."
            )
    return problems


def _gib(memory: Any) -> float | None:
    if not isinstance(memory, str):
        return None
    found = MEMORY.match(memory)
    return float(found.group(1)) if found else None


def check_cpu_memory(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    profile = peek(props, "workloadProfileName")
    if isinstance(profile, str) and profile.lower() != "consumption":
        return []  # dedicated profiles allow other shapes up to the node size
    cpu_total, memory_total = 0.0, 0.0
    for container in items(props, "template", "containers"):
        if not is_map(container):
            continue
        resources = sub(container, "resources")
        cpu, memory = resources.get("cpu"), _gib(resources.get("memory"))
        if not isinstance(cpu, int | float) or memory is None:
            return []  # Azure fills defaults; nothing to judge
        cpu_total, memory_total = cpu_total + cpu, memory_total + memory
    if cpu_total == 0:
        return []
    steps = cpu_total / 0.25
    if (
        0.25 <= cpu_total <= 4
        and abs(steps - round(steps)) < 1e-9
        and abs(memory_total - 2 * cpu_total) < 1e-9
    ):
        return []
    return [
        f"Container app requests cpu {cpu_total:g} with memory {memory_total:g}Gi in total; on the "
        "consumption "
        f"profile use cpu 0.25-4 in steps of 0.25 with memory twice the cpu (for example 1 and 2Gi)."
    ]


# ---- AZ-ACA-009: image before app -------------------------------------------------------------------


def _login_server(registry: StackResource) -> str | None:
    name = peek(registry.props, "registryName")
    return f"{name.lower()}.azurecr.io" if isinstance(name, str) and name else None


def _images(app: StackResource) -> list[Any]:
    return [
        peek(c, "image")
        for key in ("containers", "initContainers")
        for c in items(app.props, "template", key)
        if is_map(c)
    ]


#: Policy config: judge the plan as a stack's first deployment (the offline gate does: it plans from an
#: empty subscription). A real preview tells it apart by itself: an image built from a registry created
#: in this run is unknown until `up`.
FIRST_DEPLOYMENT = "firstDeployment"


def check_image_before_app(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    registries = of_type(resources, REGISTRY)
    if not registries:
        return []
    servers = {s: r for r in registries if (s := _login_server(r))}
    first = bool(config.get(FIRST_DEPLOYMENT))
    problems: list[tuple[str, str]] = []
    for app in of_type(resources, CONTAINER_APP):
        template_deps = {dep.urn for dep in app.property_dependencies.get("template", ())}
        for image in _images(app):
            if image is UNKNOWN:
                # Computed from a registry output unknown at preview: the registry is being created.
                registry = next((r for r in registries if r.urn in template_deps), None)
                shown = "an image computed from its login server"
            elif isinstance(image, str) and "/" in image and first:
                registry = servers.get(image.split("/", 1)[0].lower())
                shown = repr(image)
            else:
                registry = None
            if registry is None:
                continue
            problems.append(
                (
                    f"Container app '{app.name}' pulls {shown} from registry '{registry.name}', created in "
                    "the same deployment: the registry is empty then and the revision fails with "
                    "MANIFEST_UNKNOWN; start from a public bootstrap image (e.g. "
                    "mcr.microsoft.com/k8se/quickstart:latest, port 80) and let the pipeline build into "
                    "the registry before it sets the image.",
                    app.urn,
                )
            )
            break
    return problems


_rule = rule_maker("ACA", prefix="engram-app-", types=(CONTAINER_APP,))


_NETWORKING = "https://learn.microsoft.com/azure/container-apps/networking"

INTERNAL_SUBNET = _rule(
    1,
    "managedenvironment-require-subnet-when-internal",
    "Internal Container Apps environments must name their infrastructure subnet.",
    "An internal environment gets an internal load balancer in your virtual network; without "
    "infrastructureSubnetId Azure rejects internal=true.",
    "Set vnetConfiguration.infrastructureSubnetId.",
    _NETWORKING,
    resource_types=(MANAGED_ENVIRONMENT,),
)
ZONE_REDUNDANT_VNET = _rule(
    2,
    "managedenvironment-require-vnet-for-zone-redundancy",
    "Zone-redundant Container Apps environments must use a custom virtual network.",
    "Zone redundancy spreads the environment over the zones of a subnet you provide; an environment on a "
    "generated network cannot be zone redundant, and the setting cannot change after creation.",
    "Set vnetConfiguration.infrastructureSubnetId, or zoneRedundant=false.",
    "https://learn.microsoft.com/azure/reliability/reliability-azure-container-apps",
    resource_types=(MANAGED_ENVIRONMENT,),
)
ENVIRONMENT_SUBNET = _rule(
    3,
    "managedenvironment-configure-subnet-size-and-delegation",
    "A Container Apps environment's subnet must match its type in size and delegation.",
    "Workload profiles environments need a /27 or larger subnet delegated to Microsoft.App/environments; "
    "consumption-only environments need a /23 or larger subnet with no delegation. Checked only when the "
    "subnet is created in the same stack (linked by property dependency or by its name).",
    "Resize the subnet and set or remove the Microsoft.App/environments delegation.",
    _NETWORKING + "#subnet",
    resource_types=("stack",),
)
INTERNAL_DNS = _rule(
    4,
    "managedenvironment-require-private-dns-when-internal",
    "Internal Container Apps environments need a private DNS zone for their default domain linked to "
    "the network.",
    "Azure creates no DNS records for an internal environment: nothing resolves <app>.<defaultDomain> until "
    "a private zone named after the default domain (wildcard A record to the static IP) is linked to the "
    "callers' network. The zone is matched to the environment through its privateZoneName dependency, since "
    "the default domain is only known after the environment exists.",
    "Add a PrivateZone named env.default_domain, a '*' A record to env.static_ip and a VirtualNetworkLink.",
    "https://learn.microsoft.com/azure/container-apps/vnet-custom-internal#deploy-with-a-private-dns",
    resource_types=("stack",),
)
APP_NAME_RULE = _rule(
    5,
    "containerapp-configure-valid-name",
    "Container app names must meet the Azure naming rules.",
    "Container app names are 2-32 lower-case letters, digits and hyphens, start with a letter, end with "
    "a letter or digit and contain no '--' (revision names append '--<suffix>').",
    "Rename the app.",
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftapp",
    psrule="Azure.ContainerApp.Name",
    severity=Severity.MEDIUM,
)
INGRESS = _rule(
    6,
    "containerapp-configure-ingress-target-port",
    "Container app ingress must set a target port and a supported transport.",
    "Ingress routes to the container's targetPort; without it the revision is refused, and transport accepts "
    "only auto, http, http2 or tcp.",
    "Set configuration.ingress.targetPort (and transport to auto/http/http2/tcp).",
    "https://learn.microsoft.com/azure/container-apps/ingress-overview",
)
IDENTITY_REFERENCES = _rule(
    7,
    "containerapp-require-assigned-identity-references",
    "Container app Key Vault secrets and registry pulls must use an identity assigned to the app.",
    "A Key Vault reference or a registry with an identity is resolved with that identity; one that is not "
    "assigned to the app (or 'system' without a system-assigned identity) fails the revision.",
    "Assign the identity to the app (identity.userAssignedIdentities) or use 'system' with SystemAssigned.",
    "https://learn.microsoft.com/azure/container-apps/manage-secrets#reference-secret-from-key-vault",
)
CPU_MEMORY = _rule(
    8,
    "containerapp-configure-valid-cpu-memory",
    "Container apps on the consumption profile must request a valid cpu and memory pair.",
    "On the consumption profile the containers of an app must add up to 0.25-4 vCPU in 0.25 steps with "
    "memory twice the vCPU (0.25/0.5Gi up to 4/8Gi); other totals are rejected. Dedicated profiles are not "
    "checked.",
    "Set the containers' resources so cpu and memory add up to a valid pair.",
    "https://learn.microsoft.com/azure/container-apps/containers#allocations",
)
IMAGE_BEFORE_APP = _rule(
    9,
    "containerapp-disallow-same-stack-registry-image",
    "Container apps must not pull their image from a registry the same stack creates.",
    "From an empty subscription the registry is created empty in the same `pulumi up`, so the app's first "
    "revision fails with MANIFEST_UNKNOWN. At a real preview such an image is unknown (it is computed "
    "from the new registry's login server) while the template depends on the Registry: that is flagged. "
    "A later run, once the registry exists, sees a known image and passes. The offline gate plans from an "
    "empty subscription and sets firstDeployment, so there a known image on a same-stack registry's host "
    "is flagged too. An app that pulls from a registry outside the stack is not judged.",
    "Run a public bootstrap image (mcr.microsoft.com/k8se/quickstart:latest, port 80) until the pipeline "
    "has built into the new registry, then set the image tag (the platform does this when "
    "engram:hosting.image.tag is unset).",
    "https://github.com/Azure-Samples/app-templates-microservices-integration/issues/13",
    resource_types=("stack",),
    config_schema=PolicyConfigSchema(
        properties={
            FIRST_DEPLOYMENT: {
                "type": "boolean",
                "default": False,
                "description": "Judge the plan as a first deployment into an empty subscription.",
            }
        }
    ),
)

CATALOGUE = [
    INTERNAL_SUBNET.resource(check_internal_needs_subnet),
    ZONE_REDUNDANT_VNET.resource(check_zone_redundant_needs_vnet),
    ENVIRONMENT_SUBNET.stack(check_environment_subnet),
    INTERNAL_DNS.stack(check_internal_environment_dns),
    APP_NAME_RULE.resource(check_app_name),
    INGRESS.resource(check_ingress),
    IDENTITY_REFERENCES.resource(check_identity_references),
    CPU_MEMORY.resource(check_cpu_memory),
    IMAGE_BEFORE_APP.stack(check_image_before_app),
]
