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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, resources

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
from components.profile import EnvironmentProfile, ModelDeployment
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
    """Values from `pulumi config set --secret` (None when a stack does not set them)."""

    azure_ai_key: pulumi.Input[str] | None = None
    zep_api_key: pulumi.Input[str] | None = None
    encryption_key: pulumi.Input[str] | None = None
    audit_pseudonym_key: pulumi.Input[str] | None = None
    postgres_admin_password: pulumi.Input[str] | None = None
    pagerduty_webhook_url: pulumi.Input[str] | None = None
    slack_webhook_url: pulumi.Input[str] | None = None


class PlatformError(ValueError):
    """The profile needs a secret the stack does not set; names the `pulumi config set` to run."""


# Container-app secret names (Key Vault secret names are the same).
AI_KEY, DB_URL, REDIS_URL, ZEP_KEY, ENC_KEY, PSEUDONYM_KEY, APPI = (
    "azure-ai-key",
    "database-url",
    "redis-url",
    "zep-api-key",
    "encryption-key",
    "audit-pseudonym-key",
    "appinsights-connection-string",
)


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
        p, tags, location = profile, profile.tags, profile.environment.location
        self._require(p, secrets)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        tenant_id = p.auth.tenant_id
        group = resources.ResourceGroup(f"{name}-rg", location=location, tags=tags, opts=child)
        rg = group.name

        # Network: only where the profile asks for private link.
        placement: PrivateLinkPlacement | None = None
        dns: DnsLinks | None = None
        gateway_subnet_id: pulumi.Output[str] | None = None
        injected_gateway = p.gateway.mode == "apim" and p.gateway.virtual_network == "Internal"
        private_registry = p.network.private_link and p.hosted and p.hosting.image.registry == "acr"
        if p.network.private_link:
            group_ids: list[GroupId] = ["vault", "account"]
            if p.gateway.mode == "apim" and not injected_gateway:
                group_ids.append("Gateway")
            if p.hosted and p.database.enabled:
                group_ids.append("postgresqlServer")
            if p.hosted and p.limits.redis:
                group_ids.append("redisEnterprise")
            if private_registry:
                group_ids.append("registry")
            if p.recording_storage and p.recordings.public_network_access == "Disabled":
                group_ids.append("blob")
            hub = p.network.hub
            net = Network(
                f"{name}-net",
                NetworkArgs(
                    resource_group_name=rg,
                    location=location,
                    tags=tags,
                    address_space=p.network.address_space,
                    apps_subnet=p.network.apps_subnet,
                    endpoints_subnet=p.network.endpoints_subnet,
                    group_ids=group_ids,
                    gateway_subnet=p.network.gateway_subnet if injected_gateway else None,
                    hub=(
                        HubArgs(vnet_id=hub.vnet_id, use_remote_gateways=hub.use_remote_gateways)
                        if hub is not None
                        else None
                    ),
                ),
                opts=child,
            )
            placement, dns, gateway_subnet_id = net.placement, net.dns, net.gateway_subnet_id
            apps_subnet_id: pulumi.Output[str] | None = net.apps_subnet_id
        else:
            apps_subnet_id = None

        obs = Observability(
            f"{name}-obs",
            ObservabilityArgs(
                resource_group_name=rg,
                location=location,
                tags=tags,
                retention_days=p.observability.retention_days,
                alerts=p.observability.alerts,
                receivers=AlertReceivers(
                    pagerduty_webhook=secrets.pagerduty_webhook_url,
                    slack_webhook=secrets.slack_webhook_url,
                    emails=p.observability.contacts.email,
                    security_emails=p.observability.contacts.security_email,
                ),
            ),
            opts=child,
        )
        audit_ws = obs.workspace_id if p.compliance.audit_logging else None

        database: Database | None = None
        if p.hosted and p.database.enabled:
            assert secrets.postgres_admin_password is not None  # checked by _require
            d = p.database
            database = Database(
                f"{name}-data",
                DatabaseArgs(
                    resource_group_name=rg,
                    location=location,
                    tags=tags,
                    tenant_id=tenant_id,
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
                    audit_workspace_id=audit_ws,
                    private_link=placement,
                    protect=p.environment.protect_data,
                ),
                opts=child,
            )

        cache: Cache | None = None
        if p.hosted and p.limits.redis:
            cache = Cache(
                f"{name}-cache",
                CacheArgs(
                    resource_group_name=rg,
                    location=location,
                    tags=tags,
                    sku=p.limits.redis_sku,
                    high_availability=p.limits.redis_high_availability,
                    public_network_access=p.limits.redis_public_network_access,
                    private_link=placement,
                ),
                opts=child,
            )

        ai = AiServices(
            f"{name}-ai",
            AiServicesArgs(
                resource_group_name=rg,
                location=location,
                tags=tags,
                custom_subdomain=p.ai.custom_subdomain,
                public_network_access=p.ai.public_network_access,
                deployments=[
                    ModelDeploymentArgs(
                        name=m.name, model=model, version=version, sku=m.sku, capacity=m.capacity
                    )
                    for m, family in _model_slots(p)
                    for model, version in [m.resolved(family)]
                ],
                audit_workspace_id=audit_ws,
                private_link=placement,
            ),
            opts=child,
        )

        g = p.gateway
        gateway = AiGateway(
            f"{name}-gw",
            AiGatewayArgs(
                resource_group_name=rg,
                location=location,
                tags=tags,
                mode=g.mode,
                existing_url=g.existing_url,
                backend_url=ai.openai_v1_url,
                account_id=ai.account_id,
                subscription_id=client.subscription_id,
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
                private_link=None if injected_gateway else placement,
                subnet_id=gateway_subnet_id if injected_gateway else None,
                dns=dns if injected_gateway else None,
            ),
            opts=child,
        )

        vault_secrets: dict[str, pulumi.Input[str]] = {}
        if secrets.azure_ai_key is not None:
            vault_secrets[AI_KEY] = secrets.azure_ai_key
        if p.hosted:
            vault_secrets[APPI] = obs.connection_string
            if secrets.encryption_key is not None:
                vault_secrets[ENC_KEY] = secrets.encryption_key
            if secrets.audit_pseudonym_key is not None:
                vault_secrets[PSEUDONYM_KEY] = secrets.audit_pseudonym_key
            if database is not None:
                vault_secrets[DB_URL] = database.database_url
            if cache is not None:
                vault_secrets[REDIS_URL] = cache.url  # no credential in it, but REDIS_URL is secret-like
            if p.memory.zep and secrets.zep_api_key is not None:
                vault_secrets[ZEP_KEY] = secrets.zep_api_key
        kv = p.key_vault
        vault_name = f"{p.environment.name_prefix}-{p.stack}-kv"[:24]
        vault = KeyVault(
            f"{name}-sec",
            KeyVaultArgs(
                resource_group_name=rg,
                location=location,
                tags=tags,
                tenant_id=tenant_id,
                vault_name=vault_name,
                sku=kv.sku,
                soft_delete_retention_days=kv.soft_delete_retention_days,
                purge_protection=kv.purge_protection,
                public_network_access=kv.public_network_access,
                default_action=kv.default_action,
                secrets=vault_secrets,
                secret_expiry=kv.secret_expiry(vault_secrets),
                audit_workspace_id=audit_ws,
                private_link=placement,
                protect=p.environment.protect_data,
            ),
            opts=child,
        )

        if obs.action_group_ids:
            key_vault_event_alerts(
                f"{name}-kv",
                vault_id=vault.vault_id,
                resource_group_name=rg,
                location=location,
                tags=tags,
                action_groups=obs.action_group_ids,
                opts=child,
            )

        registry: ContainerRegistry | None = None
        if p.hosted and p.hosting.image.registry == "acr":
            registry = ContainerRegistry(
                f"{name}-reg",
                ContainerRegistryArgs(
                    resource_group_name=rg,
                    location=location,
                    tags=tags,
                    registry_name=f"{p.environment.name_prefix}{p.stack}acr".replace("-", ""),
                    sku="Premium" if private_registry else "Basic",
                    private_link=placement if private_registry else None,
                ),
                opts=child,
            )

        recordings: RecordingsStorage | None = None
        if p.recording_storage:
            r = p.recordings
            assert r.retention_days is not None  # the profile requires it when recording
            recordings = RecordingsStorage(
                f"{name}-rec",
                RecordingsStorageArgs(
                    resource_group_name=rg,
                    location=location,
                    tags=tags,
                    account_name=account_name(p.environment.name_prefix, p.stack),
                    container=r.container,
                    retention_days=r.retention_days,
                    sku=r.sku,
                    public_network_access=r.public_network_access,
                    soft_delete_days=r.soft_delete_days,
                    private_link=placement if r.public_network_access == "Disabled" else None,
                    customer_managed_key=(
                        CustomerManagedKey(
                            vault_name=vault_name,
                            vault_id=vault.vault_id,
                            vault_uri=vault.vault_uri,
                            subscription_id=client.subscription_id,
                        )
                        if r.customer_managed_key
                        else None
                    ),
                ),
                opts=child,
            )

        grants = [
            Grant(label="ai", role_id=SPEECH_USER, scope=ai.account_id),
            Grant(label="ai", role_id=OPENAI_USER, scope=ai.account_id),
            Grant(label="kv", role_id=KEY_VAULT_SECRETS_USER, scope=vault.vault_id),
        ]
        if registry is not None:
            grants.append(Grant(label="acr", role_id=ACR_PULL, scope=registry.registry_id))
        if recordings is not None:
            # At account scope: a container-scoped grant could not ask for user-delegation keys.
            grants.append(
                Grant(label="rec", role_id=STORAGE_BLOB_DATA_CONTRIBUTOR, scope=recordings.account_id)
            )
        workload = WorkloadIdentity(
            f"{name}-wid",
            WorkloadIdentityArgs(
                resource_group_name=rg,
                location=location,
                tags=tags,
                subscription_id=client.subscription_id,
                grants=grants,
                managed_identity=p.hosted,
                developer_principal_ids=p.hosting.developer_principal_ids,
            ),
            opts=child,
        )
        app_ready: list[pulumi.Resource] = list(workload.assignments)
        if cache is not None and workload.principal_id is not None:
            app_ready.append(cache.data_access(f"{name}-cache-app", workload.principal_id, child))

        site: StaticSite | None = None
        if p.hosted:
            site = StaticSite(
                f"{name}-ui",
                StaticSiteArgs(
                    resource_group_name=rg,
                    location=p.static_site.location,
                    tags=tags,
                    sku=p.static_site.sku,
                    public_network_access=p.static_site.public_network_access,
                    private_link=placement,
                    dns=dns,
                    custom_domains=p.static_site.custom_domains,
                ),
                opts=child,
            )
        entra: EntraApplication | None = None
        if p.auth.model == "entra" and p.auth.create_app_registration:
            ca = p.auth.conditional_access
            entra = EntraApplication(
                f"{name}-entra",
                EntraApplicationArgs(
                    display_name=f"Engram API ({p.stack})",
                    identifier_uri=p.auth.identifier_uri or f"api://{p.environment.name_prefix}-{p.stack}",
                    service_principal_roles=p.auth.service_principal_roles,
                    spa_redirect_uris=_spa_redirect_uris(site, p.auth.spa_redirect_uris),
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
                ),
                opts=child,
            )
        app_client_id: pulumi.Output[str] | None = (
            entra.client_id
            if entra is not None
            else (pulumi.Output.from_input(p.auth.client_id) if p.auth.client_id else None)
        )

        self.resource_group_name = rg
        self.api_url = self.ws_url = self.ui_hostname = self.container_app_name = None
        if p.hosted:
            assert site is not None
            cors = site.origins.apply(lambda origins: [*origins, *p.hosting.extra_cors_origins])
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
            tag = p.hosting.image.tag
            image: pulumi.Input[str] | None = None  # the bootstrap image until the pipeline sets a tag
            registry_server: pulumi.Input[str] | None = None
            if registry is not None:
                registry_server = registry.login_server
            if tag is not None:
                image_repo = f"{p.hosting.image.repository}{_tag_separator(tag)}{tag}"
                image = (
                    pulumi.Output.concat(registry.login_server, "/", image_repo)
                    if registry is not None
                    else f"{p.hosting.image.registry}/{image_repo}"
                )
            h = p.hosting
            hosting = Hosting(
                f"{name}-app",
                HostingArgs(
                    resource_group_name=rg,
                    location=location,
                    tags=tags,
                    workspace_customer_id=obs.workspace_customer_id,
                    workspace_name=obs.workspace_name,
                    identity_id=workload.identity_id,
                    image=image,
                    registry_server=registry_server,
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
                    infrastructure_subnet_id=apps_subnet_id,
                    dns=dns,
                    depends_on=app_ready,
                ),
                opts=child,
            )
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
        given = {
            "azure-ai-key": secrets.azure_ai_key,
            "zep-api-key": secrets.zep_api_key,
            "encryption-key": secrets.encryption_key,
            "audit-pseudonym-key": secrets.audit_pseudonym_key,
            "postgres-admin-password": secrets.postgres_admin_password,
        }
        needed = [key for key in p.required_secrets() if given[key] is None]
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
    recordings_url: str | None = None,
) -> tuple[dict[str, pulumi.Input[str]], dict[str, str]]:
    """The container's SOP variables (plain) and secret variables (env var -> secret name)."""
    env: dict[str, pulumi.Input[str]] = {
        "ENVIRONMENT": p.environment.service_environment,
        "AUTH_REQUIRED": _bool(p.auth.required),
        "DEBUG": _bool(p.hosting.debug),
        "LOG_LEVEL": p.hosting.log_level,
        "CORS_ORIGINS": pulumi.Output.from_input(cors_origins).apply(json.dumps),
        "AZURE_AI_ENDPOINT": gateway_url,
        "AZURE_AI_DEPLOYMENT": p.ai.chat.name,
        "AZURE_VOICELIVE_ENDPOINT": voicelive_endpoint,
        "AZURE_VOICELIVE_MODEL": p.ai.realtime.name,
        "AZURE_VOICELIVE_VOICE": p.ai.voice,
        "AZURE_VOICELIVE_API_VERSION": p.ai.voicelive_api_version,
        "AUDIT_LOG_ENABLED": _bool(p.compliance.audit_logging),
        "AZURE_CLIENT_ID": managed_identity_client_id,
        "DATA_DIR": "/tmp/engram",  # noqa: S108 - only used when no database is provisioned (POC)
    }
    if p.compliance.data_retention_days is not None:
        env["DATA_RETENTION_DAYS"] = str(p.compliance.data_retention_days)
    if p.auth.mfa_required:
        env["MFA_AUTH_CONTEXT_ID"] = p.auth.mfa_auth_context_id
    if app_client_id is not None:
        # Together or not at all (the service's guard): the tenant and the API's audience.
        env["AZURE_TENANT_ID"] = p.auth.tenant_id
        env["AZURE_AD_CLIENT_ID"] = app_client_id
    if p.memory.zep_api_url:
        env["ZEP_API_URL"] = p.memory.zep_api_url
    env.update(limit_environment(p))
    # Recordings: the mode always (so the guard and the pack see it), the store where one was created.
    env["RECORDING_MODE"] = p.recordings.mode
    if recordings_url is not None:
        env["RECORDING_STORAGE_URL"] = recordings_url
        env["RECORDING_CONTAINER"] = p.recordings.container
    if p.recordings.retention_days is not None:
        env["RECORDING_RETENTION_DAYS"] = str(p.recordings.retention_days)
    secret_env = {
        "AZURE_AI_KEY": AI_KEY,
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "ZEP_API_KEY": ZEP_KEY,
        "ENCRYPTION_KEY": ENC_KEY,
        "AUDIT_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": APPI,
    }
    return env, {var: name for var, name in secret_env.items() if name in secret_names}


def limit_environment(p: EnvironmentProfile) -> dict[str, str]:
    """The limits' settings: the chat deployment's quota as the token budget (thousands of tokens a
    minute -> tokens), the voice session caps, and Entra auth to Redis when the stack provisions it."""
    env = {"CHAT_TOKENS_PER_MINUTE": str(p.ai.chat.capacity * 1000)}
    if p.limits.redis:
        env["REDIS_AUTH"] = "entra"
    if p.limits.voice_max_sessions_per_user is not None:
        env["VOICE_MAX_SESSIONS_PER_USER"] = str(p.limits.voice_max_sessions_per_user)
    if p.limits.voice_max_sessions_deployment is not None:
        env["VOICE_MAX_SESSIONS_DEPLOYMENT"] = str(p.limits.voice_max_sessions_deployment)
    return env


def _bool(value: bool) -> str:
    return "true" if value else "false"
