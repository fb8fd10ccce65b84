"""Service settings (env and `.env`) and the SOP environment guard.

Every variable the SOP names is a field here; `.env.example` documents them. Secrets are `SecretStr`
so they never print. `check_sop(settings)` returns every violation of the operating procedure at once;
`engram serve` refuses to start while the list is not empty.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, computed_field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "uat", "production"]
#: Where AZURE_AI_KEY travels: `api-key: <key>` (APIM, Azure) or `Authorization: Bearer <key>` (OpenAI,
#: LiteLLM, Portkey).
KeyHeader = Literal["api-key", "authorization"]
#: What a usage price is per 1K tokens of (USAGE_PRICES).
UsageModality = Literal["text_input", "text_output", "audio_input", "audio_output"]
#: Voice recordings (SOP 5.6, 6.7): never, or only the sessions whose user consented in that session.
RecordingMode = Literal["off", "consent"]

#: SOP level of each service environment (staging POC and dev both run `development`).
SOP_LEVEL: dict[str, int] = {"development": 2, "test": 3, "uat": 4, "production": 5}

DEFAULT_DATA_DIR = Path(".engram")


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    environment: Environment = Field("development", description="SOP environment of this process.")
    auth_required: bool = Field(False, description="Require an identity on every protected route.")
    debug: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    cors_origins: list[str] = Field(default_factory=list, description="Allowed browser origins.")

    # Chat gateway: any OpenAI-compatible base URL (APIM `.../openai/v1`, LiteLLM `.../v1`, ...); see
    # app/chat/endpoint.py for the one completion rule (a bare Azure AI resource endpoint).
    azure_ai_endpoint: str | None = None
    azure_ai_deployment: str = "chat"  # the stacks' deployment name (the model behind it: stack config)
    azure_ai_key: SecretStr | None = None
    azure_ai_key_header: KeyHeader = Field(
        "api-key", description="Header that carries AZURE_AI_KEY: api-key or authorization (Bearer)."
    )
    azure_ai_project_name: str | None = None
    chat_timeout_seconds: float = Field(30.0, gt=0, description="Whole gateway call budget (504 after).")
    chat_max_content_chars: int = Field(8000, ge=1, description="Longest user message accepted (422 above).")
    chat_history_turns: int = Field(30, ge=0, description="Recent turns offered to the model.")
    chat_context_budget_tokens: int = Field(
        12000, ge=1000, description="Prompt budget; oldest turns and facts are trimmed to fit."
    )
    chat_max_output_tokens: int | None = Field(
        None, ge=1, description="Cap on reply tokens (unset: model's)."
    )
    chat_throttle_retries: int = Field(2, ge=0, description="Retries of a gateway 429 before answering 429.")
    chat_throttle_max_wait_seconds: float = Field(
        4.0, ge=0, description="Longest total wait on 429 Retry-After before giving up."
    )

    # Azure AI VoiceLive.
    azure_voicelive_endpoint: str | None = None
    azure_voicelive_model: str = "realtime"
    azure_voicelive_voice: str = Field("en-US-Ava:DragonHDLatestNeural", description="Elena's voice.")
    azure_voicelive_voice_marcus: str = Field(
        "en-US-Andrew:DragonHDLatestNeural", description="Marcus's voice (see app/agents)."
    )
    azure_voicelive_key: SecretStr | None = None
    azure_voicelive_api_version: str = "2025-10-01"
    azure_voicelive_project_name: str | None = None
    voice_max_session_seconds: int = Field(
        1800, ge=10, le=86_400, description="A voice session is closed after this many seconds."
    )
    voice_max_sessions: int = Field(
        200, ge=1, le=10_000, description="Concurrent voice sessions one process accepts; more are refused."
    )
    voice_max_frame_bytes: int = Field(
        65_536,
        ge=1_024,
        le=1_048_576,
        description="Largest decoded audio chunk one browser message may carry.",
    )
    voice_upstream_max_session_seconds: int = Field(
        1800,
        ge=60,
        le=86_400,
        description="VoiceLive's own session cap (Azure realtime: 30 min); renewed before it, when quiet.",
    )
    voice_renewal_attempts: int = Field(
        4, ge=1, le=10, description="Connect attempts to replace a lost VoiceLive session before giving up."
    )
    voice_restore_turns: int = Field(
        20, ge=0, le=200, description="Last turns of the episode restored into a renewed or resumed session."
    )
    voice_restore_tokens: int = Field(
        2000, ge=0, le=32_000, description="Token budget of the restored turns (oldest dropped first)."
    )
    voice_resume_window_seconds: int = Field(
        900,
        ge=0,
        le=86_400,
        description="A reconnect within this long of the episode's last turn resumes it.",
    )

    # Voice recordings (app/voice/recording.py): off unless the environment's policy says consent.
    recording_mode: RecordingMode = Field(
        "off", description="off: never record; consent: record a session only after its user consents."
    )
    recording_retention_days: int | None = Field(
        None, ge=1, le=3650, description="Recordings older than this are purged (the lifecycle rule too)."
    )
    recording_storage_url: str | None = Field(
        None, description="Blob endpoint of the recordings account (Entra auth via the app identity)."
    )
    recording_storage_connection_string: SecretStr | None = Field(
        None, description="Shared-key connection string (Azurite, local runs); development and test only."
    )
    recording_container: str = Field(
        "recordings",
        pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
        description="Blob container of the recordings (Azure's container naming rules).",
    )

    # Persistence and memory.
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Where the embedded SQLite file lives.")
    database_url: SecretStr | None = Field(None, description="SQLAlchemy URL; SQLite in data_dir if unset.")
    zep_api_key: SecretStr | None = None
    zep_api_url: str | None = None
    zep_timeout_seconds: float = Field(2.0, gt=0, description="Per-call timeout for Zep writes.")
    zep_read_timeout_seconds: float = Field(
        0.5, gt=0, description="How long a chat waits for Zep facts before using SQL facts."
    )
    zep_mirror_concurrency: int = Field(4, ge=1, description="Zep writes in flight at once.")
    zep_mirror_lease_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How long a replica holds a session's mirror writes; another replica takes over after.",
    )
    zep_mirror_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="How often each replica looks for mirror writes in the outbox."
    )
    zep_mirror_retry_seconds: float = Field(
        5.0, gt=0, le=3600, description="A session whose Zep write failed is retried after this long."
    )

    # Usage metering (app/usage): tokens and voice seconds per day, user, tenant, agent and model.
    usage_metering_enabled: bool = Field(True, description="Record chat and voice usage in SQL.")
    usage_flush_seconds: float = Field(
        1.0, gt=0, le=60, description="How often the background writer stores the usage it collected."
    )
    usage_max_pending: int = Field(
        10_000, ge=1, description="Distinct usage rows held between flushes; more are dropped and counted."
    )
    usage_daily_token_budget: int | None = Field(
        None,
        ge=1,
        description="Tokens a user may use per UTC day (chat 429, voice refused past it); unset: none.",
    )
    usage_prices: dict[str, dict[UsageModality, Annotated[float, Field(ge=0)]]] = Field(
        default_factory=dict,
        description=(
            'Price per 1K tokens by model or deployment and modality, e.g. {"chat": {"text_input": 0.0025, '
            '"text_output": 0.01}}; a missing price makes the cost null, never guessed.'
        ),
    )

    # Telemetry.
    applicationinsights_connection_string: SecretStr | None = None
    otel_exporter_otlp_endpoint: str | None = None

    # Compliance.
    audit_log_enabled: bool = False
    audit_pseudonym_key: SecretStr | None = Field(
        None, description="HMAC key that pseudonymises user ids in the audit trail; ENCRYPTION_KEY if unset."
    )
    audit_anchor_interval_seconds: float = Field(
        300.0,
        ge=0,
        description="Seconds between `audit_head` log lines (anchors outside the database); 0: off.",
    )
    data_retention_days: int | None = Field(None, ge=1)

    # Identity.
    azure_tenant_id: str | None = None
    azure_ad_client_id: str | None = None
    azure_client_id: str | None = None
    mfa_auth_context_id: str = Field(
        "c1",
        pattern=r"^c([1-9]|[1-9][0-9])$",
        description="Conditional Access authentication context (c1..c99) that proves MFA in production.",
    )
    encryption_key: SecretStr | None = Field(
        None, description="Comma-separated Fernet keys, newest first: the first encrypts, all decrypt."
    )

    # Abuse limits and quotas: in process memory, or shared by every replica through REDIS_URL.
    rate_limit_chat_per_minute: int = Field(30, ge=1, description="Chat requests per user (or IP) a minute.")
    rate_limit_voice_per_minute: int = Field(6, ge=1, description="Voice session starts per user a minute.")
    redis_url: str | None = Field(
        None,
        description="redis:// or rediss:// URL of the shared counter store (limits, session caps, token "
        "budget); unset: each process counts on its own. Never carries a password in uat/production.",
    )
    redis_auth: Literal["none", "entra"] = Field(
        "none",
        description="entra: authenticate to Azure Managed Redis with the managed identity AZURE_CLIENT_ID.",
    )
    redis_key_prefix: str = Field(
        "engram",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Namespace of the keys.",
    )
    voice_max_sessions_per_user: int | None = Field(
        None, ge=1, le=1000, description="Concurrent voice sessions one user may hold (unset: no cap)."
    )
    voice_max_sessions_deployment: int | None = Field(
        None, ge=1, le=100_000, description="Concurrent voice sessions across all replicas (unset: no cap)."
    )
    chat_tokens_per_minute: int | None = Field(
        None,
        ge=1000,
        description="Deployment-wide chat tokens a minute: the model quota (429 before the upstream).",
    )
    max_request_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")

    @field_validator("environment", mode="before")
    @classmethod
    def _normalise_environment(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "azure_ai_endpoint", "azure_voicelive_endpoint", "zep_api_url", "recording_storage_url", mode="after"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL with a host, got {parts.scheme or 'no'} scheme")
        return value.rstrip("/")

    @field_validator("azure_ai_endpoint", mode="after")
    @classmethod
    def _no_query(cls, value: str | None) -> str | None:
        if value is not None and (urlsplit(value).query or urlsplit(value).fragment):
            raise ValueError(
                "must be the gateway's base URL without a query string or fragment (the OpenAI v1 "
                "routes need no api-version; the key goes in AZURE_AI_KEY)"
            )
        return value

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("recording_mode", mode="before")
    @classmethod
    def _normalise_recording_mode(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("recording_container", mode="after")
    @classmethod
    def _container_name(cls, value: str) -> str:
        if "--" in value:
            raise ValueError("container names may not contain consecutive hyphens")
        return value

    @field_validator("azure_ai_key_header", mode="before")
    @classmethod
    def _normalise_key_header(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sop_level(self) -> int:
        return SOP_LEVEL[self.environment]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def chat_configured(self) -> bool:
        return bool(self.azure_ai_endpoint)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def voicelive_configured(self) -> bool:
        return bool(self.azure_voicelive_endpoint)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recording_store_configured(self) -> bool:
        return bool(self.recording_storage_url or self.recording_storage_connection_string)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def zep_configured(self) -> bool:
        return self.zep_api_key is not None

    def describe(self) -> dict[str, object]:
        """What is configured, safe to log: no secrets, no hostnames beyond presence."""
        return {
            "environment": self.environment,
            "auth_required": self.auth_required,
            "database": database_backend(self),
            "memory": "zep+sql" if self.zep_configured else "sql",
            "chat_configured": self.chat_configured,
            "voicelive_configured": self.voicelive_configured,
            "audit_log_enabled": self.audit_log_enabled,
            "entra": entra_configured(self),
            "encryption": self.encryption_key is not None,
            "telemetry": telemetry_mode(self),
            "limits": "redis" if self.redis_url else "in-process",
            "recording": self.recording_mode,
        }


def database_backend(settings: Settings) -> str:
    url = settings.database_url.get_secret_value() if settings.database_url else ""
    return "postgresql" if url.startswith("postgres") else "sqlite"


def telemetry_mode(settings: Settings) -> str:
    if settings.applicationinsights_connection_string:
        return "azure-monitor"
    if settings.otel_exporter_otlp_endpoint:
        return "otlp"
    return "off"


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def entra_configured(settings: Settings) -> bool:
    """Entra ID tokens are validated when both the tenant and the API's client id are set."""
    return bool(settings.azure_tenant_id and settings.azure_ad_client_id)


def check_sop(settings: Settings) -> list[str]:
    """Every way these settings break the SOP for their environment, each with its fix."""
    problems: list[str] = []
    env = settings.environment
    problems.extend(_check_identity(settings))
    problems.extend(_check_recording(settings))
    if env in ("test", "uat", "production"):
        if not settings.auth_required:
            problems.append(f"AUTH_REQUIRED must be true in {env} (set AUTH_REQUIRED=true)")
        if not settings.audit_log_enabled:
            problems.append(f"AUDIT_LOG_ENABLED must be true in {env} (set AUDIT_LOG_ENABLED=true)")
        if settings.audit_anchor_interval_seconds <= 0:
            problems.append(
                f"AUDIT_ANCHOR_INTERVAL_SECONDS must be above 0 in {env}: the logged audit head is what "
                "detects deleted audit records (set AUDIT_ANCHOR_INTERVAL_SECONDS=300)"
            )
    if env != "development" and "*" in settings.cors_origins:
        problems.append(f'CORS_ORIGINS may contain "*" only in development; list the UI origins for {env}')
    if env == "production":
        if settings.debug:
            problems.append("DEBUG must be false in production (set DEBUG=false)")
        if not settings.cors_origins:
            problems.append('CORS_ORIGINS must list the UI origins in production, e.g. ["https://<UI_HOST>"]')
        insecure = [o for o in settings.cors_origins if o != "*" and not o.startswith("https://")]
        if insecure:
            problems.append(f"CORS_ORIGINS must be https-only in production; fix: {', '.join(insecure)}")
        if settings.data_retention_days is None:
            problems.append("DATA_RETENTION_DAYS must be set in production (e.g. DATA_RETENTION_DAYS=90)")
        if settings.encryption_key is None:
            problems.append("ENCRYPTION_KEY must be set in production (a Key Vault secret reference)")
    if env in ("uat", "production") and settings.redis_url:
        problems.extend(_check_redis(settings.redis_url, env))
    return problems


def _check_redis(url: str, env: str) -> list[str]:
    """TLS and no password in the URL: Azure Managed Redis takes Entra tokens (REDIS_AUTH=entra)."""
    parts = urlsplit(url)
    problems = []
    if parts.scheme != "rediss":
        problems.append(f"REDIS_URL must use TLS (rediss://) in {env}")
    if parts.password:
        problems.append(f"REDIS_URL must not carry a password in {env}: use REDIS_AUTH=entra")
    return problems


def _check_identity(settings: Settings) -> list[str]:
    """Auth, pseudonymisation and key settings that would otherwise fail on the first request."""
    problems: list[str] = []
    env = settings.environment
    tenant, client = settings.azure_tenant_id, settings.azure_ad_client_id
    if env != "development" and settings.auth_required and not (tenant and client):
        missing = " and ".join(
            n for n, v in (("AZURE_TENANT_ID", tenant), ("AZURE_AD_CLIENT_ID", client)) if not v
        )
        problems.append(
            f"{missing} must be set when AUTH_REQUIRED=true in {env}: Entra ID tokens are the only identity "
            "there (set AZURE_TENANT_ID=<CUSTOMER_TENANT_ID>, AZURE_AD_CLIENT_ID=<CUSTOMER_API_CLIENT_ID>)"
        )
    elif bool(tenant) != bool(client):
        problems.append("AZURE_TENANT_ID and AZURE_AD_CLIENT_ID go together: set both or neither")
    if tenant and not _GUID.match(tenant):
        problems.append("AZURE_TENANT_ID must be the tenant's GUID (the `tid` claim), not a domain name")
    if settings.encryption_key is not None and not _fernet_keys_ok(settings.encryption_key):
        problems.append(
            "ENCRYPTION_KEY must be one or more comma-separated Fernet keys, newest first "
            "(make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )
    if (
        env != "development"
        and settings.audit_log_enabled
        and settings.audit_pseudonym_key is None
        and settings.encryption_key is None
    ):
        problems.append(
            f"AUDIT_PSEUDONYM_KEY (or ENCRYPTION_KEY) must be set in {env}: audit user ids are keyed hashes "
            "(a Key Vault secret reference)"
        )
    return problems


def _check_recording(settings: Settings) -> list[str]:
    """Recordings are personal data: consent mode needs a store, a retention and (above test) Entra auth."""
    problems: list[str] = []
    env, level = settings.environment, settings.sop_level
    url, conn = settings.recording_storage_url, settings.recording_storage_connection_string
    if url and conn:
        problems.append(
            "RECORDING_STORAGE_URL and RECORDING_STORAGE_CONNECTION_STRING are exclusive: set the URL "
            "(Entra auth) in Azure, the connection string only for Azurite or local runs"
        )
    if settings.recording_mode == "off":
        return problems
    if not (url or conn):
        problems.append(
            "RECORDING_MODE=consent needs a store: set RECORDING_STORAGE_URL=https://<ACCOUNT>.blob.core."
            "windows.net (or RECORDING_STORAGE_CONNECTION_STRING for Azurite), or RECORDING_MODE=off"
        )
    if level >= 4 and conn is not None:
        problems.append(
            f"RECORDING_STORAGE_CONNECTION_STRING (a shared key) is not allowed in {env}: the account "
            "refuses shared keys there; set RECORDING_STORAGE_URL and grant the app identity "
            "Storage Blob Data Contributor"
        )
    if level >= 3 and url and not url.startswith("https://"):
        problems.append(f"RECORDING_STORAGE_URL must be https in {env}")
    if level >= 4 and settings.recording_retention_days is None:
        problems.append(
            f"RECORDING_RETENTION_DAYS must be set in {env} when recording (recordings are retained per "
            "policy; e.g. RECORDING_RETENTION_DAYS=30)"
        )
    return problems


def _fernet_keys_ok(value: SecretStr) -> bool:
    from cryptography.fernet import Fernet

    keys = [k.strip() for k in value.get_secret_value().split(",") if k.strip()]
    if not keys:
        return False
    try:
        for key in keys:
            Fernet(key)
    except (ValueError, TypeError):
        return False
    return True


class SOPViolation(Exception):
    """The settings break the SOP; the message lists every problem and its fix."""

    def __init__(self, environment: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"settings violate the SOP for ENVIRONMENT={environment}:\n{lines}")


def enforce_sop(settings: Settings) -> Settings:
    problems = check_sop(settings)
    if problems:
        raise SOPViolation(settings.environment, problems)
    return settings


class SettingsError(Exception):
    """The environment cannot be parsed into settings; lists each variable and the fix, never values."""

    def __init__(self, error: ValidationError) -> None:
        lines = []
        for item in error.errors():
            variable = "_".join(str(part) for part in item["loc"]).upper() or "settings"
            lines.append(f"  - {variable}: {item['msg']}")
        super().__init__("invalid configuration:\n" + "\n".join(lines))


def load_settings(**overrides: object) -> Settings:
    """Read settings from env and `.env` (plus explicit overrides, for tests and tools)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(exc) from None


@lru_cache
def get_settings() -> Settings:
    """The process settings, read once from env and `.env`."""
    return load_settings()
