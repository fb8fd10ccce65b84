"""EnvironmentProfile: the SOP section 7 environment matrix as data, parsed from one stack's config.

Each stack file (`stacks/Pulumi.<stack>.yaml`) fills in the matrix for its environment: SOP level,
auth model, data classification, private link, audit logging, HA/DR, scale and sizes. This module
parses it once, checks its *shape* (types, closed sets, CIDRs, replica bounds, Container Apps
CPU/memory pairs) and raises one `ProfileError` that names every offending config key. It does not
enforce the SOP floors per level (e.g. "prod has private link"): that is the policy pack's job, so a
customer stack that breaks the SOP still previews and the gate reports the rule it breaks.

Components receive the slice of the profile they need and never read config or the stack name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

# The dated model lifecycle table lives with the pack's rule that enforces it (AZ-AI-005), so a
# customer's stack is judged by the same table the platform picks its versions from.
from policies.rules.azure import model_lifecycle
from policies.rules.azure.model_lifecycle import Family

ServiceEnvironment = Literal["development", "test", "uat", "production"]
DataClassification = Literal["public", "internal", "confidential", "restricted"]
Access = Literal["Enabled", "Disabled"]
#: A DNS host name, or one whose first label is a customer placeholder (`<CUSTOMER_UI_HOST>.contoso.com`).
_HOSTNAME = r"^(<CUSTOMER_[A-Z_]+>|[a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9-]+)+$"

#: Config sections under the `engram:` namespace, each parsed into one field of the profile.
SECTIONS = (
    "environment",
    "auth",
    "network",
    "observability",
    "keyVault",
    "ai",
    "gateway",
    "database",
    "hosting",
    "staticSite",
    "memory",
    "limits",
    "compliance",
    "recordings",
)

SecretKind = Literal["api-key", "database-password", "service-principal", "key"]


@dataclass(frozen=True, kw_only=True)
class Secret:
    """One secret of a stack: where its value comes from, where it is kept and what it feeds."""

    name: str  # the `engram:<name>` config key and/or the Key Vault (and container-app) secret name
    config: bool  # set with `pulumi config set --secret engram:<name>`; never in the YAML files
    kind: SecretKind | None = None  # kept in Key Vault, rotated per ROTATION_DAYS; None: not in the vault
    setting: str | None = None  # the service setting (app/settings.py field) the vault secret feeds


#: Every secret a stack handles, the one table of their names. Key Vault secrets are listed in the order
#: the container app's secret variables are written, config keys in the order commands are printed.
SECRETS: tuple[Secret, ...] = (
    # The caller key of the AI gateway (the APIM subscription key or the customer's).
    Secret(name="azure-ai-key", config=True, kind="api-key", setting="azure_ai_key"),
    # The admin password is inside the URL.
    Secret(name="database-url", config=False, kind="database-password", setting="database_url"),
    # A host name, no credential (REDIS_URL is secret-like all the same): renewed by re-affirming it.
    Secret(name="redis-url", config=False, kind="key", setting="redis_url"),
    Secret(name="zep-api-key", config=True, kind="api-key", setting="zep_api_key"),
    Secret(name="encryption-key", config=True, kind="key", setting="encryption_key"),
    # Keys audit pseudonyms and erasure markers; never rotated with encryption-key.
    Secret(name="audit-pseudonym-key", config=True, kind="key", setting="audit_pseudonym_key"),
    Secret(
        name="appinsights-connection-string",
        config=False,
        kind="key",
        setting="applicationinsights_connection_string",
    ),
    Secret(name="postgres-admin-password", config=True),  # goes into database-url
    Secret(name="pagerduty-webhook-url", config=True),  # webhook URLs embed their own credentials
    Secret(name="slack-webhook-url", config=True),
)

#: Secret config keys (`pulumi config set --secret engram:<key>`), from SECRETS.
SECRET_KEYS = tuple(s.name for s in SECRETS if s.config)

#: SOP 8.3 rotation schedule: the days a secret of each kind may live before it is rotated. The SOP
#: lists API keys (90), the database password (180) and service principals (365); the keys it does not
#: list (the transcript encryption key, the audit pseudonym key, the telemetry connection string) take
#: its longest period. Key Vault expiry (the stacks) and `engram secrets status` both read this table.
ROTATION_DAYS: Mapping[SecretKind, int] = MappingProxyType(
    {"api-key": 90, "database-password": 180, "service-principal": 365, "key": 365}
)

#: The kind of each Key Vault secret a stack holds, from SECRETS.
SECRET_KINDS: Mapping[str, SecretKind] = MappingProxyType(
    {s.name: s.kind for s in SECRETS if s.kind is not None}
)


def rotation_days(secret_name: str) -> int:
    """The SOP 8.3 period of a vault secret; a secret with no kind is a programming error."""
    try:
        return ROTATION_DAYS[SECRET_KINDS[secret_name]]
    except KeyError:
        raise KeyError(f"secret {secret_name!r} has no kind in components.profile.SECRET_KINDS") from None


#: Container Apps consumption sizes: vCPU -> memory (Gi) pairs Azure accepts.
_ACA_SIZES = {0.25: 0.5, 0.5: 1.0, 0.75: 1.5, 1.0: 2.0, 1.25: 2.5, 1.5: 3.0, 1.75: 3.5, 2.0: 4.0}


class ProfileError(Exception):
    """The stack config does not describe a valid environment; names every key at fault."""

    def __init__(self, keys: list[str], message: str) -> None:
        self.keys = keys
        super().__init__(message)


class _Section(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class EnvironmentSection(_Section):
    sop_level: Annotated[int, Field(ge=1, le=5, description="SOP level: staging 1 .. prod 5.")]
    service_environment: ServiceEnvironment = Field(description="ENVIRONMENT of the running service.")
    data_classification: DataClassification
    location: str = Field(default="eastus2", description="Azure region of every resource.")
    allowed_locations: tuple[str, ...] = Field(default=("eastus2",), description="Data-residency allow-list.")
    protect_data: bool = Field(default=True, description="Pulumi `protect` on the database and the vault.")
    name_prefix: str = Field(
        default="engram", pattern=r"^[a-z][a-z0-9]{1,11}$", description="Azure name prefix."
    )
    extra_tags: dict[str, str] = Field(default_factory=dict, description="Customer tags (cost centre...).")

    @model_validator(mode="after")
    def _location_allowed(self) -> EnvironmentSection:
        if self.location not in self.allowed_locations:
            raise ValueError(
                f"location {self.location!r} is not in allowedLocations {self.allowed_locations}"
            )
        return self


class ConditionalAccessSection(_Section):
    """SOP 6.3: MFA, a compliant device and an 8-hour sign-in frequency for the Engram app."""

    enabled: bool = False
    included_group_ids: tuple[str, ...] = ()
    excluded_group_ids: tuple[str, ...] = ()  # break-glass accounts
    require_compliant_device: bool = True
    sign_in_frequency_hours: Annotated[int, Field(ge=1, le=24)] = 8
    allowed_countries: tuple[str, ...] = ()  # optional geo restriction through a named location
    state: Literal["enabled", "enabledForReportingButNotEnforced", "disabled"] = "enabled"

    @model_validator(mode="after")
    def _groups(self) -> ConditionalAccessSection:
        if self.enabled and not self.included_group_ids:
            raise ValueError(
                "includedGroupIds must name at least one group when conditionalAccess is enabled"
            )
        return self


class AuthSection(_Section):
    model: Literal["poc", "dev-token", "entra"]
    required: bool
    tenant_id: str = Field(description="Entra tenant id (placeholder in the repository).")
    create_app_registration: bool = True
    client_id: str | None = Field(default=None, description="An existing API app registration's client id.")
    identifier_uri: str | None = None
    mfa_required: bool = False
    # The Conditional Access authentication-context id the app demands in `acrs` when MFA is required
    # (the service's MFA_AUTH_CONTEXT_ID; policy SOP-IAM-002 checks it).
    mfa_auth_context_id: str = "c1"
    conditional_access: ConditionalAccessSection = ConditionalAccessSection()
    service_principal_roles: bool = Field(
        default=True,
        description="App roles may be assigned to service principals too (the test tier's clients, the "
        "deploy pipeline's `engram verify`); false = users and groups only.",
    )
    spa_redirect_uris: tuple[str, ...] = Field(
        default=(),
        description="Extra MSAL redirect URIs for the UI (the Static Web App's origins are always added).",
    )
    ui_client_id: str | None = Field(
        default=None,
        description="With an existing registration (createAppRegistration: false): the UI's client id "
        "(VITE_ENTRA_CLIENT_ID); unset, the UI signs in with clientId itself.",
    )

    @model_validator(mode="after")
    def _client(self) -> AuthSection:
        if self.model == "entra" and not self.create_app_registration and not self.client_id:
            raise ValueError("entra auth needs createAppRegistration: true or a clientId")
        if self.mfa_required and not self.conditional_access.enabled:
            raise ValueError("mfaRequired needs conditionalAccess.enabled (the policy is what enforces it)")
        return self


class HubSection(_Section):
    """The customer's hub network users arrive through (VPN / ExpressRoute), for private stacks.

    The stack peers its VNet to the hub and links every private DNS zone it creates to the hub VNet,
    so a browser on the corporate network resolves the UI, the API and the gateway to private IPs.
    The hub's own side of the peering (allowGatewayTransit) belongs to the hub's owner.
    """

    vnet_id: str = Field(description="ARM id of the hub VNet (placeholder in the repository).")
    use_remote_gateways: bool = Field(
        default=True, description="Route on-premises traffic through the hub's VPN/ExpressRoute gateway."
    )


class NetworkSection(_Section):
    private_link: bool = False
    address_space: str = "10.20.0.0/16"
    apps_subnet: str = "10.20.0.0/23"  # Container Apps infrastructure (delegated to Microsoft.App)
    endpoints_subnet: str = "10.20.2.0/24"  # private endpoints
    # API Management injected in internal mode: a dedicated, undelegated subnet with an NSG (/29 minimum;
    # /27 leaves room for scale units). Used only when gateway.virtualNetwork is Internal.
    gateway_subnet: str = "10.20.3.0/27"
    hub: HubSection | None = None

    @model_validator(mode="after")
    def _cidrs(self) -> NetworkSection:
        space = ipaddress.ip_network(self.address_space)
        subnets = {
            "appsSubnet": ipaddress.ip_network(self.apps_subnet),
            "endpointsSubnet": ipaddress.ip_network(self.endpoints_subnet),
            "gatewaySubnet": ipaddress.ip_network(self.gateway_subnet),
        }
        if not space.is_private:
            raise ValueError(f"addressSpace {space} is not a private range")
        for label, net in subnets.items():
            if not net.subnet_of(space):  # type: ignore[arg-type]
                raise ValueError(f"{label} {net} is outside addressSpace {space}")
        labels = list(subnets)
        for i, first in enumerate(labels):
            for second in labels[i + 1 :]:
                if subnets[first].overlaps(subnets[second]):
                    raise ValueError(f"{first} {subnets[first]} overlaps {second} {subnets[second]}")
        if subnets["appsSubnet"].prefixlen > 27:
            raise ValueError(
                f"appsSubnet {subnets['appsSubnet']} is too small; Container Apps needs /27 or larger"
            )
        if subnets["gatewaySubnet"].prefixlen > 29:
            raise ValueError(
                f"gatewaySubnet {subnets['gatewaySubnet']} is too small; API Management needs /29"
            )
        if self.hub is not None and not self.private_link:
            raise ValueError("hub needs privateLink: true (the hub reaches the stack's private endpoints)")
        return self


class AlertContacts(_Section):
    email: tuple[str, ...] = ()
    security_email: tuple[str, ...] = ()


class ObservabilitySection(_Section):
    retention_days: Annotated[int, Field(ge=30, le=730)] = 30
    alerts: bool = False
    contacts: AlertContacts = AlertContacts()


class KeyVaultSection(_Section):
    sku: Literal["standard", "premium"] = "standard"
    secrets_rotated_on: date | None = Field(
        default=None,
        description="When the stack's secrets were last set or rotated (YYYY-MM-DD). Each Key Vault "
        "secret expires that many days later by its kind (ROTATION_DAYS: API keys 90, database password "
        "180, keys 365); unset = no expiry (only where the SOP does not ask for rotation).",
    )
    soft_delete_retention_days: Annotated[int, Field(ge=7, le=90)] = 90
    purge_protection: bool = True
    public_network_access: Access = "Disabled"
    default_action: Literal["Allow", "Deny"] = "Deny"

    def secret_expiry(self, names: Iterable[str]) -> dict[str, int]:
        """Key Vault `exp` (Unix seconds, midnight UTC) per secret: secretsRotatedOn plus its SOP period."""
        if self.secrets_rotated_on is None:
            return {}
        expiry: dict[str, int] = {}
        for name in names:
            due = self.secrets_rotated_on + timedelta(days=rotation_days(name))
            expiry[name] = int(datetime(due.year, due.month, due.day, tzinfo=UTC).timestamp())
        return expiry


class ModelDeployment(_Section):
    name: str = Field(
        description="The deployment name callers use (AZURE_AI_DEPLOYMENT / AZURE_VOICELIVE_MODEL)."
    )
    model: str | None = Field(
        default=None,
        description="Unset: the lifecycle table's current GA pick for the slot "
        "(policies/rules/azure/model_lifecycle.py), so a stack never pins a retired model by copy.",
    )
    version: str | None = None
    sku: Literal["GlobalStandard", "DataZoneStandard", "Standard", "ProvisionedManaged"] = "GlobalStandard"
    capacity: Annotated[int, Field(ge=1, le=10000, description="Thousands of tokens per minute.")]

    @model_validator(mode="after")
    def _version_needs_model(self) -> ModelDeployment:
        if self.version is not None and self.model is None:
            raise ValueError("version needs model (or leave both unset for the lifecycle table's pick)")
        return self

    def resolved(self, family: Family) -> tuple[str, str]:
        """(model, version): as configured, else the lifecycle table's current GA version of `family`.

        A configured model without a version takes that model's current version. Whether a pinned
        version is still deployable is the policy pack's judgement (AZ-AI-005), not the parser's.
        """
        if self.model is not None and self.version is not None:
            return self.model, self.version
        pick = model_lifecycle.current(self.model or family)
        return pick.model, pick.version


class AiSection(_Section):
    custom_subdomain: str = Field(pattern=r"^(<CUSTOMER_[A-Z_]+>-?)?[a-z0-9][a-z0-9-]{1,62}$")
    public_network_access: Access = "Disabled"
    chat: ModelDeployment
    realtime: ModelDeployment
    voice: str = "en-US-Ava:DragonHDLatestNeural"
    voicelive_api_version: str = "2025-10-01"


class GatewaySection(_Section):
    mode: Literal["apim", "existing"] = "apim"
    existing_url: str | None = None
    sku: Literal["Consumption", "Developer", "Basic", "Standard", "Premium", "BasicV2", "StandardV2"] = (
        "Consumption"
    )
    capacity: Annotated[int, Field(ge=0, le=12)] = 0
    path: str = Field(default="engram", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    calls_per_minute: Annotated[int, Field(ge=1)] | None = None
    tokens_per_minute: Annotated[int, Field(ge=1)] | None = None
    publisher_email: str = "<CUSTOMER_PUBLISHER_EMAIL>"
    publisher_name: str = "Engram"
    public_network_access: Access = "Enabled"
    virtual_network: Literal["None", "Internal"] = Field(
        default="None",
        description="Internal: inject the gateway into network.gatewaySubnet (classic Developer/Premium) so "
        "it has no public endpoint and reaches private backends. Azure refuses publicNetworkAccess "
        "Disabled at creation, so a private gateway is made private by injection, not by that flag.",
    )
    logs: bool = False

    @model_validator(mode="after")
    def _mode(self) -> GatewaySection:
        if self.mode == "apim" and self.public_network_access == "Disabled":
            raise ValueError(
                "publicNetworkAccess Disabled is refused when API Management is created (it needs an "
                "approved private endpoint first); set virtualNetwork: Internal for a private gateway"
            )
        if self.virtual_network == "Internal" and self.sku not in ("Developer", "Premium"):
            raise ValueError(f"virtualNetwork Internal needs the Developer or Premium SKU, not {self.sku}")
        if self.mode == "existing" and not (self.existing_url or "").startswith("https://"):
            raise ValueError("mode existing needs existingUrl, an https:// OpenAI-compatible base URL")
        if self.mode == "apim" and self.sku == "Consumption" and self.capacity != 0:
            raise ValueError("the Consumption SKU takes capacity 0")
        return self


class DatabaseSection(_Section):
    enabled: bool = True
    tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = "Burstable"
    sku_name: str = "Standard_B1ms"
    version: Literal["14", "15", "16", "17"] = "16"
    storage_gb: Annotated[int, Field(ge=32, le=16384)] = 32
    backup_retention_days: Annotated[int, Field(ge=7, le=35)] = 7
    geo_redundant_backup: bool = False
    high_availability: Literal["Disabled", "SameZone", "ZoneRedundant"] = "Disabled"
    public_network_access: Access = "Disabled"
    allow_azure_services: bool = Field(
        default=False,
        description="With public access: the 0.0.0.0 firewall rule Azure reads as 'any Azure service'. "
        "Container Apps without a VNet have no fixed egress IP, so this is how they reach the server; "
        "it also admits other tenants' Azure resources (password + TLS still required).",
    )
    firewall_ranges: tuple[str, ...] = Field(
        default=(), description="Extra allowed client ranges as 'start-end' IPv4 pairs (e.g. a bastion)."
    )
    admin_login: str = "engramadmin"

    @model_validator(mode="after")
    def _tier(self) -> DatabaseSection:
        if self.tier == "Burstable" and self.high_availability != "Disabled":
            raise ValueError("Burstable servers cannot have high availability; use GeneralPurpose")
        for entry in self.firewall_ranges:
            parts = entry.split("-")
            try:
                start, end = (ipaddress.IPv4Address(p.strip()) for p in parts)
            except ValueError:
                raise ValueError(
                    f"firewallRanges entry {entry!r} must be 'start-end' IPv4 addresses"
                ) from None
            if start > end:
                raise ValueError(f"firewallRanges entry {entry!r} starts after it ends")
        return self

    def firewall(self) -> list[tuple[str, str, str]]:
        """(rule name, start, end) for every firewall rule the server gets with public access."""
        rules = [("AllowAllAzureServicesAndResourcesWithinAzureIps", "0.0.0.0", "0.0.0.0")]
        found = rules if self.allow_azure_services else []
        for index, entry in enumerate(self.firewall_ranges):
            start, end = (p.strip() for p in entry.split("-"))
            found.append((f"allowed-range-{index}", start, end))
        return found


class ImageSection(_Section):
    registry: Literal["acr"] | str = Field(
        default="acr", description="`acr` (the stack's own) or a registry host."
    )
    repository: str = "engram-api"
    tag: str | None = Field(
        default=None,
        description="Image tag or `sha256:` digest, set by the deploy pipeline once it has built the image. "
        "Unset (a stack's first deployment, before its registry exists) runs the public bootstrap image.",
    )


class HostingSection(_Section):
    mode: Literal["container-apps", "local"] = "container-apps"
    cpu: float = 0.5
    memory_gi: float = 1.0
    min_replicas: Annotated[int, Field(ge=0, le=30)] = 0
    max_replicas: Annotated[int, Field(ge=1, le=30)] = 3
    zone_redundant: bool = False
    internal: bool = False
    debug: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    extra_cors_origins: tuple[str, ...] = ()
    active_revisions_mode: Literal["Single", "Multiple"] = Field(
        default="Single",
        description="Container Apps revision mode: Multiple where the deploy runs blue-green (the "
        "pipeline then owns the image, revision suffix and traffic weights), Single elsewhere.",
    )
    image: ImageSection = ImageSection()
    developer_principal_ids: tuple[str, ...] = Field(
        default=(), description="Local mode: Entra object ids of developers granted the app's roles."
    )

    @model_validator(mode="after")
    def _sizes(self) -> HostingSection:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} exceeds maxReplicas {self.max_replicas}")
        if _ACA_SIZES.get(self.cpu) != self.memory_gi:
            raise ValueError(
                f"cpu {self.cpu} with memoryGi {self.memory_gi} is not a Container Apps size; "
                f"allowed pairs: {', '.join(f'{c}/{m}' for c, m in _ACA_SIZES.items())}"
            )
        return self

    @property
    def memory(self) -> str:
        return f"{self.memory_gi:g}Gi"


class StaticSiteSection(_Section):
    sku: Literal["Free", "Standard"] = "Free"
    public_network_access: Access = "Enabled"
    location: str = "eastus2"  # Static Web Apps run in a few regions only
    custom_domains: tuple[Annotated[str, Field(pattern=_HOSTNAME)], ...] = Field(
        default=(),
        description="Custom host names of the UI: their https origins join CORS and the MSAL redirect URIs.",
    )


class MemorySection(_Section):
    zep: bool = False
    zep_api_url: str | None = None


class LimitsSection(_Section):
    """The service's shared limits (issue 14): where they count and the caps the app enforces."""

    redis: bool = Field(
        default=False,
        description="Provision Azure Managed Redis so every replica counts the limits together "
        "(REDIS_URL); off: each replica counts on its own.",
    )
    redis_sku: str = Field(
        default="Balanced_B0",
        pattern=r"^(Balanced_B|MemoryOptimized_M|ComputeOptimized_X|FlashOptimized_A)\d+$",
        description="Azure Managed Redis SKU (the counters need well under 1 GB).",
    )
    redis_high_availability: bool = Field(default=True, description="A replicated (two-node) cluster.")
    redis_public_network_access: Access = Field(
        default="Disabled", description="Disabled needs network.privateLink (a private endpoint)."
    )
    voice_max_sessions_per_user: Annotated[int, Field(ge=1, le=1000)] | None = None
    voice_max_sessions_deployment: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None, description="Concurrent voice sessions across all replicas (the SOP alerts above 100)."
    )


class ComplianceSection(_Section):
    audit_logging: bool = False
    data_retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class RecordingsSection(_Section):
    """Consented voice recordings (SOP 5.6, 6.7): the service's RECORDING_* settings and, on hosted
    stacks with a mode other than off, a storage account for them (components/recordings.py)."""

    mode: Literal["off", "consent"] = Field(
        default="off",
        description="RECORDING_MODE: off, or consent (a session is recorded only after consent).",
    )
    retention_days: Annotated[int, Field(ge=1, le=3650)] | None = Field(
        default=None, description="RECORDING_RETENTION_DAYS and the account's lifecycle rule (delete after)."
    )
    container: str = Field(default="recordings", pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    sku: Literal["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_GZRS"] = "Standard_LRS"
    public_network_access: Access = Field(
        default="Disabled",
        description="Enabled only where the app has no VNet (it then reaches the account's public endpoint "
        "with Entra auth); private-link stacks use a private endpoint.",
    )
    soft_delete_days: Annotated[int, Field(ge=1, le=365)] = Field(
        default=7, description="Blob soft delete: deleted recordings stay recoverable this long."
    )
    customer_managed_key: bool = Field(
        default=False,
        description="Encrypt with a key in the stack's Key Vault (which must have purge protection) "
        "instead of Microsoft-managed keys.",
    )

    @model_validator(mode="after")
    def _retention(self) -> RecordingsSection:
        if self.mode != "off" and self.retention_days is None:
            raise ValueError(
                "retentionDays must be set when mode is not off (recordings are kept per policy)"
            )
        return self


class EnvironmentProfile(BaseModel):
    """One stack's place in the SOP matrix; everything the components need to differ per environment."""

    model_config = ConfigDict(frozen=True)

    stack: str
    environment: EnvironmentSection
    auth: AuthSection
    network: NetworkSection = NetworkSection()
    observability: ObservabilitySection = ObservabilitySection()
    key_vault: KeyVaultSection = KeyVaultSection()
    ai: AiSection
    gateway: GatewaySection = GatewaySection()
    database: DatabaseSection = DatabaseSection()
    hosting: HostingSection
    static_site: StaticSiteSection = StaticSiteSection()
    memory: MemorySection = MemorySection()
    limits: LimitsSection = LimitsSection()
    compliance: ComplianceSection = ComplianceSection()
    recordings: RecordingsSection = RecordingsSection()

    @model_validator(mode="after")
    def _pairings(self) -> EnvironmentProfile:
        if self.gateway.virtual_network == "Internal" and not self.network.private_link:
            raise ValueError("gateway.virtualNetwork Internal needs network.privateLink (the VNet it joins)")
        if self.hosting.internal and not self.network.private_link:
            raise ValueError("hosting.internal needs network.privateLink (the VNet the environment joins)")
        if (
            self.limits.redis
            and self.limits.redis_public_network_access == "Disabled"
            and not self.network.private_link
        ):
            raise ValueError(
                "limits.redisPublicNetworkAccess Disabled needs network.privateLink (its private endpoint)"
            )
        if self.recording_storage and (
            self.recordings.public_network_access == "Disabled" and not self.network.private_link
        ):
            raise ValueError(
                "recordings.publicNetworkAccess Disabled needs network.privateLink (the app reaches the "
                "account through a private endpoint); set it Enabled on a stack without a VNet"
            )
        return self

    @property
    def recording_storage(self) -> bool:
        """Whether this stack gets a recordings storage account (hosted, recording not off)."""
        return self.hosted and self.recordings.mode != "off"

    @property
    def level(self) -> int:
        return self.environment.sop_level

    @property
    def hosted(self) -> bool:
        """Whether the service runs in Azure (Container Apps); the dev stack runs it locally."""
        return self.hosting.mode == "container-apps"

    @property
    def tags(self) -> dict[str, str]:
        """The tags every taggable resource carries; the policy pack keys off them."""
        return {
            **self.environment.extra_tags,
            "environment": self.stack,
            "sop-level": str(self.environment.sop_level),
            "data-classification": self.environment.data_classification,
            "managed-by": "pulumi",
        }

    def required_secrets(self) -> list[str]:
        """The SECRET_KEYS a deployment of this profile cannot do without, in SECRET_KEYS order.

        `EngramPlatform` refuses to run without them and `engram tenant init` prints their commands, so
        both read this one list.
        """
        needed: set[str] = set()
        if self.gateway.mode == "apim":
            needed.add("azure-ai-key")  # the APIM subscription key the app presents
        if self.hosted and self.database.enabled:
            needed.add("postgres-admin-password")
        if self.hosted and self.memory.zep:
            needed.add("zep-api-key")
        # encryption-key: production must encrypt memory at rest (the service's guard); the audited
        # stacks below it (test, uat) encrypt too, so production's path, rotation included, runs first.
        # audit-pseudonym-key: without it the service keys audit pseudonyms and erasure markers with
        # ENCRYPTION_KEY, which is rotated (`engram db reencrypt`), and every rotation would split each
        # user's audit records in two and orphan the erasure markers. The same stacks need it: audited
        # ones pseudonymise the trail, and production keys erasure markers even with audit logging off.
        if self.hosted and (
            self.environment.service_environment == "production" or self.compliance.audit_logging
        ):
            needed.update(("encryption-key", "audit-pseudonym-key"))
        return [key for key in SECRET_KEYS if key in needed]

    def placeholders(self) -> list[str]:
        """Every `<CUSTOMER_...>`-style value still unfilled (a real deployment needs none)."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, str):
                found.update(_PLACEHOLDER.findall(node))
            elif isinstance(node, dict):
                for value in node.values():
                    walk(value)
            elif isinstance(node, list | tuple):
                for value in node:
                    walk(value)

        walk(self.model_dump())
        return sorted(found)

    def name(self, role: str) -> str:
        """A logical name: `<prefix>-<stack>` plus a role when given (short: Azure name limits)."""
        base = f"{self.environment.name_prefix}-{self.stack}"
        return f"{base}-{role}" if role else base


_STACK_NAME = r"^[a-z][a-z0-9-]{0,19}$"
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
_SECTION_FIELDS = {"keyVault": "key_vault", "staticSite": "static_site"}


def load_profile(stack: str, config: Mapping[str, Any]) -> EnvironmentProfile:
    """Parse the `engram:` config sections of `stack` into a profile, or raise one ProfileError.

    `config` maps section names (`environment`, `hosting`, ... and `compliance`) to their decoded
    values, as `pulumi.Config("engram").get_object(section)` returns them.
    """
    if not re.match(_STACK_NAME, stack):
        raise ProfileError(["stack"], f"stack name {stack!r} must be lower-case letters, digits and '-'")
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        keys = [f"engram:{k}" for k in unknown]
        raise ProfileError(keys, f"unknown config sections: {', '.join(keys)}")
    values: dict[str, Any] = {"stack": stack}
    for section, value in config.items():
        if value is not None:
            values[_SECTION_FIELDS.get(section, section)] = value
    try:
        return EnvironmentProfile.model_validate(values)
    except ValidationError as exc:
        keys, lines = [], []
        for error in exc.errors():
            key = _config_key(error["loc"])
            keys.append(key)
            lines.append(f"  - {key}: {error['msg']}")
        raise ProfileError(keys, f"stack {stack!r} config is invalid:\n" + "\n".join(lines)) from None


def _config_key(loc: tuple[int | str, ...]) -> str:
    """`('key_vault', 'sku')` -> `engram:keyVault.sku` (the key a user fixes in the stack file)."""
    if not loc:
        return "engram"
    section = str(loc[0])
    section = {v: k for k, v in _SECTION_FIELDS.items()}.get(section, section)
    rest = ".".join(to_camel(str(p)) if isinstance(p, str) else f"[{p}]" for p in loc[1:])
    return f"engram:{section}" + (f".{rest}" if rest else "")
