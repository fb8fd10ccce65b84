"""EngramPlatform: every tier of one environment, composed from one EnvironmentProfile.

Order (each tier gets only the outputs it needs): resource group -> network (private-link stacks)
-> observability -> database -> cache (Redis for the shared limits) -> AI services -> AI gateway ->
Key Vault (secrets, including outputs of the tiers above) -> registry -> workload identity, role
assignments and Redis data access -> Entra app -> static site -> Container Apps. Environment
differences come from the profile only; nothing here reads the stack name.

The dev stack is local-first (`hosting.mode: local`): it provisions observability, Key Vault, AI
Services and the gateway, and grants the developers' own Entra identities the roles the container
app's identity would get; the service runs on the developer's machine (`engram serve`) against them,
with SQLite in place of PostgreSQL. No Container Apps, Static Web App, registry or database.

Each tier's args come from one builder below (`<tier>_args(profile, where, <outputs it needs>)`), so a
new profile field is read in its section (profile.py) and its tier's builder; a setting the stacks
give the service is one line of `service_environment`, named by its `Settings` field
(app/env_contract.py). Secret names come from `components.profile.SECRETS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
from pulumi_azure_native import authorization, resources

from app.env_contract import PlainValue, env_name, env_value
from components.ai_services import AiServices, AiServicesArgs, ModelDeploymentArgs
from components.cache import Cache, CacheArgs
from components.database import Database, DatabaseArgs
from components.gateway import AiGateway, AiGatewayArgs
from components.hosting import ContainerRegistry, ContainerRegistryArgs, Hosting, HostingArgs
from components.identity import (
    ACR_PULL,
    KEY_VAULT_SECRETS_USER,
    OPENAI_USER,
    SPEECH_USER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    USER_SCOPE,
    ConditionalAccessArgs,
    EntraApplication,
    EntraApplicationArgs,
    Grant,
    WorkloadIdentity,
    WorkloadIdentityArgs,
)
from components.keyvault import KeyVault, KeyVaultArgs
from components.network import DnsLinks, HubArgs, Network, NetworkArgs
from components.observability import (
    AlertReceivers,
    Observability,
    ObservabilityArgs,
    key_vault_event_alerts,
)
from components.private_endpoint import GroupId, PrivateLinkPlacement
from components.profile import SECRET_KEYS, SECRET_KINDS, SECRETS, EnvironmentProfile, ModelDeployment
from components.recordings import (
    CustomerManagedKey,
    RecordingsStorage,
    RecordingsStorageArgs,
    account_name,
)
from components.static_site import StaticSite, StaticSiteArgs
from policies.rules.azure.model_lifecycle import Family


@dataclass(frozen=True, kw_only=True)
class PlatformSecrets:
    """Values from `pulumi config set --secret` (None when a stack does not set them).

    One field per config secret of `components.profile.SECRETS` (its name with `_` for `-`).
    """

    azure_ai_key: pulumi.Input[str] | None = None
    zep_api_key: pulumi.Input[str] | None = None
    encryption_key: pulumi.Input[str] | None = None
    audit_pseudonym_key: pulumi.Input[str] | None = None
    postgres_admin_password: pulumi.Input[str] | None = None
    pagerduty_webhook_url: pulumi.Input[str] | None = None
    slack_webhook_url: pulumi.Input[str] | None = None

    @classmethod
    def from_config(cls, get: Callable[[str], pulumi.Input[str] | None]) -> PlatformSecrets:
        """Every SECRET_KEYS value, read with `get` (e.g. `pulumi.Config("engram").get_secret`)."""
        return cls(**{_field(key): get(key) for key in SECRET_KEYS})

    def get(self, key: str) -> pulumi.Input[str] | None:
        """The value of the config secret `key` (a SECRET_KEYS name)."""
        value: pulumi.Input[str] | None = getattr(self, _field(key))
        return value


def _field(key: str) -> str:
    return key.replace("-", "_")


class PlatformError(ValueError):
    """The profile needs a secret the stack does not set; names the `pulumi config set` to run."""


class _Where(TypedDict):
    """Where a tier's resources go: every tier's args start with these three."""

    resource_group_name: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]


class EngramPlatform(pulumi.ComponentResource):
    resource_group_name: pulumi.Output[str]
    container_app_name: pulumi.Output[str] | None  # None where the service is not hosted (dev)
    api_url: pulumi.Output[str] | None
    ws_url: pulumi.Output[str] | None
    ui_hostname: pulumi.Output[str] | None
    gateway_url: pulumi.Output[str]
    key_vault_uri: pulumi.Output[str]
    ai_endpoint: pulumi.Output[str]
    app_client_id: pulumi.Output[str] | None
    api_scope: str | None  # the delegated scope the UI asks for (VITE_API_SCOPE), with an app registration
    ui_client_id: pulumi.Output[str] | None  # the client the UI signs in with (VITE_ENTRA_CLIENT_ID)
    static_site_name: pulumi.Output[str] | None  # the pipeline deploys the UI build there
    registry_login_server: pulumi.Output[str] | None  # where the deploy pipeline pushes or imports

    def __init__(
        self,
        name: str,
        profile: EnvironmentProfile,
        secrets: PlatformSecrets,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("engram:platform:EngramPlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = profile
        self._require(p, secrets)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        subscription_id = client.subscription_id
        group = resources.ResourceGroup(
            f"{name}-rg", location=p.environment.location, tags=p.tags, opts=child
        )
        where = _Where(resource_group_name=group.name, location=p.environment.location, tags=p.tags)

        # Network: only where the profile asks for private link.
        net = Network(f"{name}-net", network_args(p, where), opts=child) if p.network.private_link else None
        placement = net.placement if net is not None else None
        dns = net.dns if net is not None else None

        obs = Observability(f"{name}-obs", observability_args(p, where, secrets), opts=child)
        audit_ws = obs.workspace_id if p.compliance.audit_logging else None

        database: Database | None = None
        if p.hosted and p.database.enabled:
            db_args = database_args(p, where, secrets, audit_ws, placement)
            database = Database(f"{name}-data", db_args, opts=child)
        cache: Cache | None = None
        if p.hosted and p.limits.redis:
            cache = Cache(f"{name}-cache", cache_args(p, where, placement), opts=child)
        ai = AiServices(f"{name}-ai", ai_services_args(p, where, audit_ws, placement), opts=child)
        gw_args = gateway_args(p, where, secrets, ai, obs, subscription_id, placement, net)
        gateway = AiGateway(f"{name}-gw", gw_args, opts=child)

        vault_secrets = _vault_secrets(p, secrets, obs, database, cache)
        vault = KeyVault(
            f"{name}-sec", key_vault_args(p, where, vault_secrets, audit_ws, placement), opts=child
        )
        if obs.action_group_ids:
            key_vault_event_alerts(
                f"{name}-kv", vault_id=vault.vault_id, action_groups=obs.action_group_ids, opts=child, **where
            )

        registry: ContainerRegistry | None = None
        if p.hosted and p.hosting.image.registry == "acr":
            registry = ContainerRegistry(f"{name}-reg", registry_args(p, where, placement), opts=child)
        recordings: RecordingsStorage | None = None
        if p.recording_storage:
            rec_args = recordings_args(p, where, vault, subscription_id, placement)
            recordings = RecordingsStorage(f"{name}-rec", rec_args, opts=child)

        grants = _grants(ai, vault, registry, recordings)
        workload = WorkloadIdentity(
            f"{name}-wid", workload_args(p, where, subscription_id, grants), opts=child
        )
        app_ready: list[pulumi.Resource] = list(workload.assignments)
        if cache is not None and workload.principal_id is not None:
            app_ready.append(cache.data_access(f"{name}-cache-app", workload.principal_id, child))

        site = (
            StaticSite(f"{name}-ui", static_site_args(p, where, placement, dns), opts=child)
            if p.hosted
            else None
        )
        entra: EntraApplication | None = None
        if p.auth.model == "entra" and p.auth.create_app_registration:
            entra = EntraApplication(f"{name}-entra", entra_args(p, site), opts=child)
        app_client_id: pulumi.Output[str] | None = (
            entra.client_id
            if entra is not None
            else (pulumi.Output.from_input(p.auth.client_id) if p.auth.client_id else None)
        )

        self.resource_group_name = group.name
        self.api_url = self.ws_url = self.ui_hostname = self.container_app_name = None
        if p.hosted:
            assert site is not None
            app_args = hosting_args(
                p,
                where,
                obs=obs,
                ai=ai,
                gateway=gateway,
                vault=vault,
                vault_secrets=vault_secrets,
                registry=registry,
                recordings=recordings,
                workload=workload,
                site=site,
                app_client_id=app_client_id,
                net=net,
                depends_on=app_ready,
            )
            hosting = Hosting(f"{name}-app", app_args, opts=child)
            self.api_url, self.ws_url, self.ui_hostname = hosting.api_url, hosting.ws_url, site.hostname
            self.container_app_name = hosting.app_name

        self.gateway_url = gateway.url
        self.key_vault_uri = vault.vault_uri
        self.ai_endpoint = ai.endpoint
        self.app_client_id = app_client_id
        self.api_scope = entra.user_scope if entra is not None else _existing_scope(p)
        self.ui_client_id = entra.ui_client_id if entra is not None else None
        if entra is None and p.auth.model == "entra" and (p.auth.ui_client_id or p.auth.client_id):
            self.ui_client_id = pulumi.Output.from_input(str(p.auth.ui_client_id or p.auth.client_id))
        self.static_site_name = site.site_name if site is not None else None
        self.registry_login_server = registry.login_server if registry is not None else None
        self.register_outputs(
            {
                "registry_login_server": self.registry_login_server,
                "api_url": self.api_url,
                "ws_url": self.ws_url,
                "ui_hostname": self.ui_hostname,
                "gateway_url": self.gateway_url,
                "key_vault_uri": self.key_vault_uri,
                "resource_group_name": self.resource_group_name,
                "container_app_name": self.container_app_name,
            }
        )

    @staticmethod
    def _require(p: EnvironmentProfile, secrets: PlatformSecrets) -> None:
        """Refuse a stack that lacks a secret its profile needs (the list and the reasons: profile.py)."""
        needed = [key for key in p.required_secrets() if secrets.get(key) is None]
        if needed:
            commands = "; ".join(f"pulumi config set --secret engram:{k} <value>" for k in needed)
            message = f"stack {p.stack!r} needs secrets: {commands}"
            if "audit-pseudonym-key" in needed and "encryption-key" not in needed:
                # An existing stack's pseudonyms were keyed with encryption-key (the service's fallback):
                # a fresh value would change them all, so carry the current value over.
                message += (
                    " (a stack already deployed keeps its audit pseudonyms and erasure markers only with "
                    "the current encryption-key value, exactly: pulumi config set --secret --stack "
                    f'{p.stack} engram:audit-pseudonym-key "$(pulumi config get --stack {p.stack} '
                    f'engram:encryption-key)")'
                )
            raise PlatformError(message)


# --- one args builder per tier: the profile slice plus the outputs of the tiers it needs -------------


def _injected_gateway(p: EnvironmentProfile) -> bool:
    """API Management joins the VNet (internal mode) instead of taking a private endpoint."""
    return p.gateway.mode == "apim" and p.gateway.virtual_network == "Internal"


def _private_registry(p: EnvironmentProfile) -> bool:
    return p.network.private_link and p.hosted and p.hosting.image.registry == "acr"


def network_args(p: EnvironmentProfile, where: _Where) -> NetworkArgs:
    """The VNet, its subnets and a private DNS zone for every private-link target the stack has."""
    group_ids: list[GroupId] = ["vault", "account"]
    if p.gateway.mode == "apim" and not _injected_gateway(p):
        group_ids.append("Gateway")
    if p.hosted and p.database.enabled:
        group_ids.append("postgresqlServer")
    if p.hosted and p.limits.redis:
        group_ids.append("redisEnterprise")
    if _private_registry(p):
        group_ids.append("registry")
    if p.recording_storage and p.recordings.public_network_access == "Disabled":
        group_ids.append("blob")
    n, hub = p.network, p.network.hub
    return NetworkArgs(
        **where,
        address_space=n.address_space,
        apps_subnet=n.apps_subnet,
        endpoints_subnet=n.endpoints_subnet,
        group_ids=group_ids,
        gateway_subnet=n.gateway_subnet if _injected_gateway(p) else None,
        hub=HubArgs(vnet_id=hub.vnet_id, use_remote_gateways=hub.use_remote_gateways) if hub else None,
    )


def observability_args(p: EnvironmentProfile, where: _Where, secrets: PlatformSecrets) -> ObservabilityArgs:
    o = p.observability
    return ObservabilityArgs(
        **where,
        retention_days=o.retention_days,
        alerts=o.alerts,
        receivers=AlertReceivers(
            pagerduty_webhook=secrets.pagerduty_webhook_url,
            slack_webhook=secrets.slack_webhook_url,
            emails=o.contacts.email,
            security_emails=o.contacts.security_email,
        ),
    )


def database_args(
    p: EnvironmentProfile,
    where: _Where,
    secrets: PlatformSecrets,
    audit_workspace_id: pulumi.Input[str] | None,
    placement: PrivateLinkPlacement | None,
) -> DatabaseArgs:
    assert secrets.postgres_admin_password is not None  # checked by EngramPlatform._require
    d = p.database
    return DatabaseArgs(
        **where,
        tenant_id=p.auth.tenant_id,
        admin_login=d.admin_login,
        admin_password=secrets.postgres_admin_password,
        tier=d.tier,
        sku_name=d.sku_name,
        version=d.version,
        storage_gb=d.storage_gb,
        backup_retention_days=d.backup_retention_days,
        geo_redundant_backup=d.geo_redundant_backup,
        high_availability=d.high_availability,
        public_network_access=d.public_network_access,
        firewall_rules=d.firewall() if d.public_network_access == "Enabled" else (),
        audit_workspace_id=audit_workspace_id,
        private_link=placement,
        protect=p.environment.protect_data,
    )


def cache_args(p: EnvironmentProfile, where: _Where, placement: PrivateLinkPlacement | None) -> CacheArgs:
    return CacheArgs(
        **where,
        sku=p.limits.redis_sku,
        high_availability=p.limits.redis_high_availability,
        public_network_access=p.limits.redis_public_network_access,
        private_link=placement,
    )


def ai_services_args(
    p: EnvironmentProfile,
    where: _Where,
    audit_workspace_id: pulumi.Input[str] | None,
    placement: PrivateLinkPlacement | None,
) -> AiServicesArgs:
    return AiServicesArgs(
        **where,
        custom_subdomain=p.ai.custom_subdomain,
        public_network_access=p.ai.public_network_access,
        deployments=[
            ModelDeploymentArgs(name=m.name, model=model, version=version, sku=m.sku, capacity=m.capacity)
            for m, family in _model_slots(p)
            for model, version in [m.resolved(family)]
        ],
        audit_workspace_id=audit_workspace_id,
        private_link=placement,
    )


def gateway_args(
    p: EnvironmentProfile,
    where: _Where,
    secrets: PlatformSecrets,
    ai: AiServices,
    obs: Observability,
    subscription_id: pulumi.Input[str],
    placement: PrivateLinkPlacement | None,
    net: Network | None,
) -> AiGatewayArgs:
    g, injected = p.gateway, _injected_gateway(p)
    return AiGatewayArgs(
        **where,
        mode=g.mode,
        existing_url=g.existing_url,
        backend_url=ai.openai_v1_url,
        account_id=ai.account_id,
        subscription_id=subscription_id,
        caller_key=secrets.azure_ai_key,
        sku=g.sku,
        capacity=g.capacity,
        path=g.path,
        calls_per_minute=g.calls_per_minute,
        tokens_per_minute=g.tokens_per_minute,
        publisher_email=g.publisher_email,
        publisher_name=g.publisher_name,
        public_network_access=g.public_network_access,
        logs_workspace_id=obs.workspace_id if g.logs else None,
        private_link=None if injected else placement,
        subnet_id=net.gateway_subnet_id if injected and net is not None else None,
        dns=net.dns if injected and net is not None else None,
    )


def _vault_secrets(
    p: EnvironmentProfile,
    secrets: PlatformSecrets,
    obs: Observability,
    database: Database | None,
    cache: Cache | None,
) -> dict[str, pulumi.Input[str]]:
    """The Key Vault secrets (SECRETS' vault names): config values and other tiers' outputs."""
    offered: dict[str, pulumi.Input[str] | None] = {"azure-ai-key": secrets.azure_ai_key}
    if p.hosted:
        offered["appinsights-connection-string"] = obs.connection_string
        offered["encryption-key"] = secrets.encryption_key
        offered["audit-pseudonym-key"] = secrets.audit_pseudonym_key
        offered["database-url"] = database.database_url if database is not None else None
        offered["redis-url"] = cache.url if cache is not None else None
        offered["zep-api-key"] = secrets.zep_api_key if p.memory.zep else None
    unknown = sorted(set(offered) - set(SECRET_KINDS))
    assert not unknown, f"vault secrets missing from components.profile.SECRETS: {unknown}"
    return {key: value for key, value in offered.items() if value is not None}


def _vault_name(p: EnvironmentProfile) -> str:
    return f"{p.environment.name_prefix}-{p.stack}-kv"[:24]


def key_vault_args(
    p: EnvironmentProfile,
    where: _Where,
    vault_secrets: Mapping[str, pulumi.Input[str]],
    audit_workspace_id: pulumi.Input[str] | None,
    placement: PrivateLinkPlacement | None,
) -> KeyVaultArgs:
    kv = p.key_vault
    return KeyVaultArgs(
        **where,
        tenant_id=p.auth.tenant_id,
        vault_name=_vault_name(p),
        sku=kv.sku,
        soft_delete_retention_days=kv.soft_delete_retention_days,
        purge_protection=kv.purge_protection,
        public_network_access=kv.public_network_access,
        default_action=kv.default_action,
        secrets=vault_secrets,
        secret_expiry=kv.secret_expiry(vault_secrets),
        audit_workspace_id=audit_workspace_id,
        private_link=placement,
        protect=p.environment.protect_data,
    )


def registry_args(
    p: EnvironmentProfile, where: _Where, placement: PrivateLinkPlacement | None
) -> ContainerRegistryArgs:
    private = _private_registry(p)
    return ContainerRegistryArgs(
        **where,
        registry_name=f"{p.environment.name_prefix}{p.stack}acr".replace("-", ""),
        sku="Premium" if private else "Basic",
        private_link=placement if private else None,
    )


def recordings_args(
    p: EnvironmentProfile,
    where: _Where,
    vault: KeyVault,
    subscription_id: pulumi.Input[str],
    placement: PrivateLinkPlacement | None,
) -> RecordingsStorageArgs:
    r = p.recordings
    assert r.retention_days is not None  # the profile requires it when recording
    return RecordingsStorageArgs(
        **where,
        account_name=account_name(p.environment.name_prefix, p.stack),
        container=r.container,
        retention_days=r.retention_days,
        sku=r.sku,
        public_network_access=r.public_network_access,
        soft_delete_days=r.soft_delete_days,
        private_link=placement if r.public_network_access == "Disabled" else None,
        customer_managed_key=(
            CustomerManagedKey(
                vault_name=_vault_name(p),
                vault_id=vault.vault_id,
                vault_uri=vault.vault_uri,
                subscription_id=subscription_id,
            )
            if r.customer_managed_key
            else None
        ),
    )


def _grants(
    ai: AiServices,
    vault: KeyVault,
    registry: ContainerRegistry | None,
    recordings: RecordingsStorage | None,
) -> list[Grant]:
    """The roles the app's identity (or, locally, each developer) gets on the tiers it calls."""
    grants = [
        Grant(label="ai", role_id=SPEECH_USER, scope=ai.account_id),
        Grant(label="ai", role_id=OPENAI_USER, scope=ai.account_id),
        Grant(label="kv", role_id=KEY_VAULT_SECRETS_USER, scope=vault.vault_id),
    ]
    if registry is not None:
        grants.append(Grant(label="acr", role_id=ACR_PULL, scope=registry.registry_id))
    if recordings is not None:
        # At account scope: a container-scoped grant could not ask for user-delegation keys.
        grants.append(Grant(label="rec", role_id=STORAGE_BLOB_DATA_CONTRIBUTOR, scope=recordings.account_id))
    return grants


def workload_args(
    p: EnvironmentProfile, where: _Where, subscription_id: pulumi.Input[str], grants: Sequence[Grant]
) -> WorkloadIdentityArgs:
    return WorkloadIdentityArgs(
        **where,
        subscription_id=subscription_id,
        grants=grants,
        managed_identity=p.hosted,
        developer_principal_ids=p.hosting.developer_principal_ids,
    )


def static_site_args(
    p: EnvironmentProfile, where: _Where, placement: PrivateLinkPlacement | None, dns: DnsLinks | None
) -> StaticSiteArgs:
    s = p.static_site
    return StaticSiteArgs(
        resource_group_name=where["resource_group_name"],
        location=s.location,  # Static Web Apps run in a few regions only
        tags=where["tags"],
        sku=s.sku,
        public_network_access=s.public_network_access,
        private_link=placement,
        dns=dns,
        custom_domains=s.custom_domains,
    )


def entra_args(p: EnvironmentProfile, site: StaticSite | None) -> EntraApplicationArgs:
    a, ca = p.auth, p.auth.conditional_access
    return EntraApplicationArgs(
        display_name=f"Engram API ({p.stack})",
        identifier_uri=a.identifier_uri or f"api://{p.environment.name_prefix}-{p.stack}",
        service_principal_roles=a.service_principal_roles,
        spa_redirect_uris=_spa_redirect_uris(site, a.spa_redirect_uris),
        conditional_access=(
            ConditionalAccessArgs(
                included_group_ids=ca.included_group_ids,
                excluded_group_ids=ca.excluded_group_ids,
                require_compliant_device=ca.require_compliant_device,
                sign_in_frequency_hours=ca.sign_in_frequency_hours,
                allowed_countries=ca.allowed_countries,
                state=ca.state,
            )
            if ca.enabled
            else None
        ),
    )


def hosting_args(
    p: EnvironmentProfile,
    where: _Where,
    *,
    obs: Observability,
    ai: AiServices,
    gateway: AiGateway,
    vault: KeyVault,
    vault_secrets: Mapping[str, pulumi.Input[str]],
    registry: ContainerRegistry | None,
    recordings: RecordingsStorage | None,
    workload: WorkloadIdentity,
    site: StaticSite,
    app_client_id: pulumi.Input[str] | None,
    net: Network | None,
    depends_on: Sequence[pulumi.Resource],
) -> HostingArgs:
    """The Container Apps environment and the API app: the image, the size, and its environment."""
    h = p.hosting
    cors = site.origins.apply(lambda origins: [*origins, *h.extra_cors_origins])
    assert workload.identity_id is not None and workload.client_id is not None
    env, secret_env = service_environment(
        p,
        gateway_url=gateway.url,
        voicelive_endpoint=ai.endpoint,
        cors_origins=cors,
        app_client_id=app_client_id,
        managed_identity_client_id=workload.client_id,
        secret_names=set(vault_secrets),
        recordings_url=recordings.blob_url if recordings is not None else None,
    )
    return HostingArgs(
        **where,
        workspace_customer_id=obs.workspace_customer_id,
        workspace_name=obs.workspace_name,
        identity_id=workload.identity_id,
        image=_image(p, registry),
        registry_server=registry.login_server if registry is not None else None,
        cpu=h.cpu,
        memory=h.memory,
        min_replicas=h.min_replicas,
        max_replicas=h.max_replicas,
        cors_origins=cors,
        env=env,
        secret_env=secret_env,
        key_vault_secrets={n: vault.secret_urls[n] for n in set(secret_env.values())},
        zone_redundant=h.zone_redundant,
        internal=h.internal,
        active_revisions_mode=h.active_revisions_mode,
        infrastructure_subnet_id=net.apps_subnet_id if net is not None else None,
        dns=net.dns if net is not None else None,
        depends_on=depends_on,
    )


def _image(p: EnvironmentProfile, registry: ContainerRegistry | None) -> pulumi.Input[str] | None:
    """The image the app runs: None (the bootstrap image) until the pipeline sets a tag."""
    tag = p.hosting.image.tag
    if tag is None:
        return None
    image_repo = f"{p.hosting.image.repository}{_tag_separator(tag)}{tag}"
    if registry is not None:
        return pulumi.Output.concat(registry.login_server, "/", image_repo)
    return f"{p.hosting.image.registry}/{image_repo}"


def _spa_redirect_uris(site: StaticSite | None, extra: Sequence[str]) -> pulumi.Output[list[str]] | None:
    """The UI's origins, default and custom (MSAL returns there), plus the profile's extra redirect URIs."""
    if site is None:
        return pulumi.Output.from_input(list(extra)) if extra else None
    return site.origins.apply(lambda origins: list(dict.fromkeys([*origins, *extra])))


def _existing_scope(p: EnvironmentProfile) -> str | None:
    """VITE_API_SCOPE for a customer's existing API registration (its identifier URI, else api://<id>)."""
    if p.auth.model != "entra" or not p.auth.client_id:
        return None
    return f"{p.auth.identifier_uri or f'api://{p.auth.client_id}'}/{USER_SCOPE}"


#: VITE_AUTH_MODE per auth model (the UI's names; `dev-token` is the UI's `dev`).
UI_AUTH_MODES = {"poc": "poc", "dev-token": "dev", "entra": "entra"}


def _model_slots(p: EnvironmentProfile) -> list[tuple[ModelDeployment, Family]]:
    """The two model deployments and the lifecycle family each one's default version comes from."""
    return [(p.ai.chat, "chat"), (p.ai.realtime, "realtime")]


def _tag_separator(tag: str) -> str:
    return "@" if tag.startswith("sha256:") else ":"


def service_environment(
    p: EnvironmentProfile,
    *,
    gateway_url: pulumi.Input[str],
    voicelive_endpoint: pulumi.Input[str],
    cors_origins: pulumi.Input[list[str]],
    app_client_id: pulumi.Input[str] | None,
    managed_identity_client_id: pulumi.Input[str],
    secret_names: set[str],
    recordings_url: pulumi.Input[str] | None = None,
) -> tuple[dict[str, pulumi.Input[str]], dict[str, str]]:
    """The container's SOP variables (plain) and secret variables (env var -> secret name).

    Both are named by the `Settings` field they feed (app/env_contract.py turns field and value into
    the variable the service reads); the secret ones come from SECRETS.
    """
    settings: dict[str, PlainValue | pulumi.Output[str]] = {
        "environment": p.environment.service_environment,
        "auth_required": p.auth.required,
        "debug": p.hosting.debug,
        "log_level": p.hosting.log_level,
        "cors_origins": pulumi.Output.from_input(cors_origins).apply(env_value),
        "azure_ai_endpoint": pulumi.Output.from_input(gateway_url),
        "azure_ai_deployment": p.ai.chat.name,
        "azure_voicelive_endpoint": pulumi.Output.from_input(voicelive_endpoint),
        "azure_voicelive_model": p.ai.realtime.name,
        "azure_voicelive_voice": p.ai.voice,
        "azure_voicelive_api_version": p.ai.voicelive_api_version,
        "audit_log_enabled": p.compliance.audit_logging,
        "azure_client_id": pulumi.Output.from_input(managed_identity_client_id),
        "data_dir": "/tmp/engram",  # noqa: S108 - only used when no database is provisioned (POC)
    }
    if p.compliance.data_retention_days is not None:
        settings["data_retention_days"] = p.compliance.data_retention_days
    if p.auth.mfa_required:
        settings["mfa_auth_context_id"] = p.auth.mfa_auth_context_id
    if app_client_id is not None:
        # Together or not at all (the service's guard): the tenant and the API's audience.
        settings["azure_tenant_id"] = p.auth.tenant_id
        settings["azure_ad_client_id"] = pulumi.Output.from_input(app_client_id)
    if p.memory.zep_api_url:
        settings["zep_api_url"] = p.memory.zep_api_url
    settings.update(limit_settings(p))
    # Recordings: the mode always (so the guard and the pack see it), the store where one was created.
    settings["recording_mode"] = p.recordings.mode
    if recordings_url is not None:
        settings["recording_storage_url"] = pulumi.Output.from_input(recordings_url)
        settings["recording_container"] = p.recordings.container
    if p.recordings.retention_days is not None:
        settings["recording_retention_days"] = p.recordings.retention_days
    env: dict[str, pulumi.Input[str]] = {
        env_name(setting): value if isinstance(value, pulumi.Output) else env_value(value)
        for setting, value in settings.items()
    }
    secret_env = {
        env_name(s.setting): s.name for s in SECRETS if s.setting is not None and s.name in secret_names
    }
    return env, secret_env


def limit_settings(p: EnvironmentProfile) -> dict[str, PlainValue]:
    """The limits' settings: the chat deployment's quota as the token budget (thousands of tokens a
    minute -> tokens), the voice session caps, and Entra auth to Redis when the stack provisions it."""
    settings: dict[str, PlainValue] = {"chat_tokens_per_minute": p.ai.chat.capacity * 1000}
    if p.limits.redis:
        settings["redis_auth"] = "entra"
    if p.limits.voice_max_sessions_per_user is not None:
        settings["voice_max_sessions_per_user"] = p.limits.voice_max_sessions_per_user
    if p.limits.voice_max_sessions_deployment is not None:
        settings["voice_max_sessions_deployment"] = p.limits.voice_max_sessions_deployment
    return settings
