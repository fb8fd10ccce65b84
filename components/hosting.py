"""App hosting: the registry the image comes from, the Container Apps environment, the Engram API app.

`ContainerRegistry` creates `azure-native:containerregistry:Registry` (no admin user, no anonymous
pull: the app pulls with AcrPull through its managed identity; on private-link stacks Premium with
public access off and a private endpoint, group id `registry`). `Hosting` creates
`azure-native:app:ManagedEnvironment` (logs to Log Analytics; zone-redundant and internal on the VNet
when the profile says so) and `azure-native:app:ContainerApp`: the user-assigned identity, HTTPS-only
ingress on 8080 with CORS for the UI origin(s), liveness on `/health` and readiness on `/ready`,
CPU/memory/replicas from the profile, every SOP variable as a plain value, and every secret as a
container-app secret that is a Key Vault reference (`keyVaultUrl` + identity) consumed via `secretRef`.
An internal environment gets the private DNS zone of its default domain (`*` and `@` to its static IP).

First deployment: with no image tag the app runs `BOOTSTRAP_IMAGE`, so `pulumi up` succeeds from an
empty subscription although the registry it creates holds nothing yet; the deploy pipeline then builds
into that registry and runs `pulumi up` again with the tag (never the user's job).

Revision mode comes from the profile. In `Multiple` mode the deploy workflow runs blue-green: it creates
each new revision (`az containerapp update --image ... --revision-suffix ...`) and moves the ingress
traffic weights itself, so Pulumi ignores those three properties (`BLUE_GREEN_OWNED`) after creation
instead of reverting the live image and traffic on the next `pulumi up`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
from pulumi_azure_native import app, containerregistry, operationalinsights

from components.network import DnsLinks, private_zone
from components.private_endpoint import PrivateLinkPlacement, private_endpoint
from components.tier import TierArgs
from policies.rules.secrets import looks_secret

APP_PORT = 8080
#: What a stack's first deployment runs, before its own registry exists and holds an image: the public
#: image Azure's own `az containerapp create` starts with (listens on 80, no health routes). The deploy
#: pipeline builds the real image into the new registry and sets `engram:hosting.image.tag`; the next
#: `pulumi up` (same pipeline run) switches to it, with port 8080 and the /health and /ready probes.
BOOTSTRAP_IMAGE = "mcr.microsoft.com/k8se/quickstart:latest"
BOOTSTRAP_PORT = 80
RevisionsMode = Literal["Single", "Multiple"]
#: What the blue-green deploy owns on a `Multiple`-mode app, as Pulumi property paths. Paths are the
#: engine's wire (camelCase) names: the Python SDK translates only whole top-level snake_case names, and
#: an engine path with a wrong segment silently matches nothing. Pulumi keeps the values from the stack
#: state for these, so run `pulumi up --refresh` to pick up what the workflow changed in Azure.
BLUE_GREEN_OWNED = (
    "template.containers[0].image",  # the new image goes live as a new revision, not through Pulumi
    "template.revisionSuffix",  # one suffix per deployment run
    "configuration.ingress.traffic",  # the weights the workflow and `engram rollback` set
)
#: Env var names that must never carry a plain value (they go through secretRef).


@dataclass(frozen=True, kw_only=True)
class ContainerRegistryArgs(TierArgs):
    registry_name: str  # globally unique, 5-50 letters and digits only
    sku: Literal["Basic", "Standard", "Premium"] = "Basic"
    private_link: PrivateLinkPlacement | None = None  # private: no public endpoint, pulled over the VNet

    def __post_init__(self) -> None:
        if not re.match(r"^[a-zA-Z0-9]{5,50}$", self.registry_name):
            raise ValueError(f"registry_name {self.registry_name!r} must be 5-50 letters or digits")
        if self.private_link is not None and self.sku != "Premium":
            raise ValueError("a private registry (private endpoint, public access off) needs the Premium SKU")


class ContainerRegistry(pulumi.ComponentResource):
    registry_id: pulumi.Output[str]  # scope of AcrPull
    login_server: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:hosting:ContainerRegistry", name, None, opts)
        private = args.private_link is not None
        registry = containerregistry.Registry(
            f"{name}-acr",
            resource_group_name=args.resource_group_name,
            registry_name=args.registry_name,
            location=args.location,
            tags=dict(args.tags),
            sku={"name": args.sku},
            admin_user_enabled=False,  # never a registry password: AcrPull via managed identity
            anonymous_pull_enabled=False,
            public_network_access="Disabled" if private else "Enabled",
            # Trusted services (ACR's own import, which promotes a tested image from uat's registry
            # into prod's through the control plane) pass the closed network; nothing else does.
            network_rule_bypass_options="AzureServices",
            # Premium (private) registries are zone redundant: prod's app is, and must keep pulling.
            # Create-only in Azure, so it is set from the first deployment.
            zone_redundancy="Enabled" if args.sku == "Premium" else "Disabled",
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.private_link is not None:
            private_endpoint(
                f"{name}-acr",
                args,
                target_id=registry.id,
                group_id="registry",
                placement=args.private_link,
                parent=self,
            )
        self.registry_id = registry.id
        self.login_server = registry.login_server
        self.register_outputs({"registry_id": registry.id, "login_server": registry.login_server})


@dataclass(frozen=True, kw_only=True)
class HostingArgs(TierArgs):
    workspace_customer_id: pulumi.Input[str]
    workspace_name: pulumi.Input[str]
    identity_id: pulumi.Input[str]  # user-assigned identity: image pulls and Key Vault references
    image: pulumi.Input[str] | None  # None: the bootstrap image (nothing built yet)
    registry_server: pulumi.Input[str] | None  # pulled with the identity when set
    cpu: float
    memory: str
    min_replicas: int
    max_replicas: int
    cors_origins: pulumi.Input[Sequence[str]]
    env: Mapping[str, pulumi.Input[str]]
    secret_env: Mapping[str, str]  # env var -> container-app secret name
    key_vault_secrets: Mapping[str, pulumi.Input[str]]  # container-app secret name -> Key Vault URL
    zone_redundant: bool = False
    internal: bool = False
    active_revisions_mode: RevisionsMode = "Single"  # Multiple: blue-green owns image, suffix, traffic
    infrastructure_subnet_id: pulumi.Input[str] | None = None
    dns: DnsLinks | None = None  # internal environments: where their default domain is published
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)  # role assignments first

    def __post_init__(self) -> None:
        # The pack's own test (SOP-SEC-001), so the component refuses exactly what the rule would.
        plain_secrets = sorted(n for n in self.env if looks_secret(n))
        if plain_secrets:
            raise ValueError(f"secret-like variables must use secret_env, not env: {plain_secrets}")
        missing = sorted(set(self.secret_env.values()) - set(self.key_vault_secrets))
        if missing:
            raise ValueError(f"secret_env refers to secrets with no Key Vault reference: {missing}")
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} > max_replicas {self.max_replicas}")
        if (self.zone_redundant or self.internal) and self.infrastructure_subnet_id is None:
            raise ValueError("a zone-redundant or internal environment needs infrastructure_subnet_id")
        if self.internal and self.dns is None:
            raise ValueError("an internal environment needs dns: nothing resolves its apps otherwise")


class Hosting(pulumi.ComponentResource):
    environment_id: pulumi.Output[str]
    app_name: pulumi.Output[str]  # the container app's Azure name (`engram rollback` reads it)
    app_fqdn: pulumi.Output[str]
    api_url: pulumi.Output[str]  # VITE_API_URL
    ws_url: pulumi.Output[str]  # VITE_WS_URL

    def __init__(self, name: str, args: HostingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:hosting:Hosting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        shared_key = operationalinsights.get_shared_keys_output(
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).primary_shared_key
        vnet: app.VnetConfigurationArgsDict | None = None
        if args.infrastructure_subnet_id is not None:
            vnet = {"infrastructure_subnet_id": args.infrastructure_subnet_id, "internal": args.internal}
        environment = app.ManagedEnvironment(
            f"{name}-cae",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            zone_redundant=args.zone_redundant,
            vnet_configuration=vnet,
            workload_profiles=[{"name": "Consumption", "workload_profile_type": "Consumption"}],
            app_logs_configuration={
                "destination": "log-analytics",
                "log_analytics_configuration": {
                    "customer_id": args.workspace_customer_id,
                    "shared_key": pulumi.Output.secret(shared_key).apply(lambda k: k or ""),
                },
            },
            opts=child,
        )
        env_vars: list[app.EnvironmentVarArgsDict] = [
            {"name": key, "value": value} for key, value in sorted(args.env.items())
        ]
        env_vars += [{"name": key, "secret_ref": ref} for key, ref in sorted(args.secret_env.items())]
        bootstrap = args.image is None
        port = BOOTSTRAP_PORT if bootstrap else APP_PORT
        # The bootstrap image has no /health or /ready: Container Apps' default TCP probes cover it.
        probes: list[app.ContainerAppProbeArgsDict] = (
            []
            if bootstrap
            else [
                {
                    "type": "Liveness",
                    "http_get": {"path": "/health", "port": APP_PORT, "scheme": "HTTP"},
                    "period_seconds": 30,
                    "failure_threshold": 3,
                },
                {
                    "type": "Readiness",
                    "http_get": {"path": "/ready", "port": APP_PORT, "scheme": "HTTP"},
                    "period_seconds": 10,
                    "failure_threshold": 3,
                },
            ]
        )
        container_app = app.ContainerApp(
            f"{name}-api",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            managed_environment_id=environment.id,
            workload_profile_name="Consumption",
            identity={"type": "UserAssigned", "user_assigned_identities": [args.identity_id]},
            configuration={
                "active_revisions_mode": args.active_revisions_mode,
                "ingress": {
                    "external": True,  # reachable from outside the environment (the VNet when internal)
                    "target_port": port,
                    "transport": "auto",  # HTTP/1.1 and websockets for voice
                    "allow_insecure": False,  # HTTPS only
                    "cors_policy": {
                        "allowed_origins": args.cors_origins,
                        "allowed_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                        "allowed_headers": ["authorization", "content-type", "x-request-id"],
                        "allow_credentials": False,
                        "max_age": 600,
                    },
                },
                "registries": (
                    [{"server": args.registry_server, "identity": args.identity_id}]
                    if args.registry_server is not None
                    else []
                ),
                "secrets": [
                    {"name": secret, "key_vault_url": url, "identity": args.identity_id}
                    for secret, url in sorted(args.key_vault_secrets.items())
                ],
            },
            template={
                "containers": [
                    {
                        "name": "engram-api",
                        "image": BOOTSTRAP_IMAGE if args.image is None else args.image,
                        "resources": {"cpu": args.cpu, "memory": args.memory},
                        "env": env_vars,
                        "probes": probes,
                    }
                ],
                "scale": {
                    "min_replicas": args.min_replicas,
                    "max_replicas": args.max_replicas,
                    "rules": [{"name": "http", "http": {"metadata": {"concurrentRequests": "50"}}}],
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                ignore_changes=list(BLUE_GREEN_OWNED) if args.active_revisions_mode == "Multiple" else None,
            ),
        )
        if args.internal and args.dns is not None:
            # An internal environment publishes nothing in public DNS: its apps resolve (to the
            # environment's static IP) only where a zone named after its default domain is linked.
            private_zone(
                f"{name}-dns",
                environment.default_domain,
                args.dns,
                records=[("*", environment.static_ip), ("@", environment.static_ip)],
                to_hub=True,  # users arrive through the hub; the name is unique to this environment
                opts=child,
            )
        fqdn = container_app.configuration.apply(
            lambda c: c.ingress.fqdn if c and c.ingress and c.ingress.fqdn else ""
        )
        self.environment_id = environment.id
        self.app_name = container_app.name
        self.app_fqdn = fqdn
        self.api_url = pulumi.Output.concat("https://", fqdn)
        self.ws_url = pulumi.Output.concat("wss://", fqdn)
        self.register_outputs({"api_url": self.api_url, "ws_url": self.ws_url})
