"""The SOP guard: every environment x every rule, and how bad values are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SettingsError, check_sop, load_settings
from tests.conftest import make_settings

COMPLIANT_PROD = {
    "environment": "production",
    "auth_required": True,
    "debug": False,
    "cors_origins": ["https://ui.example.invalid"],
    "audit_log_enabled": True,
    "data_retention_days": 90,
    "encryption_key": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=",  # a well-formed Fernet key
    "azure_tenant_id": "00000000-0000-0000-0000-000000000001",
    "azure_ad_client_id": "00000000-0000-0000-0000-0000000000a1",
}

# (rule, the override that breaks it, the fragment of the message that names it)
RULES = [
    ("auth", {"auth_required": False}, "AUTH_REQUIRED must be true"),
    ("audit", {"audit_log_enabled": False}, "AUDIT_LOG_ENABLED must be true"),
    ("audit-anchor", {"audit_anchor_interval_seconds": 0}, "AUDIT_ANCHOR_INTERVAL_SECONDS must be above 0"),
    ("cors-wildcard", {"cors_origins": ["*"]}, 'may contain "*" only in development'),
    ("debug", {"debug": True}, "DEBUG must be false"),
    ("cors-empty", {"cors_origins": []}, "CORS_ORIGINS must list the UI origins"),
    ("cors-https", {"cors_origins": ["http://ui.example.invalid"]}, "https-only"),
    ("retention", {"data_retention_days": None}, "DATA_RETENTION_DAYS must be set"),
    ("encryption", {"encryption_key": None}, "ENCRYPTION_KEY must be set"),
    (
        "entra",
        {"azure_tenant_id": None, "azure_ad_client_id": None},
        "AZURE_TENANT_ID and AZURE_AD_CLIENT_ID",
    ),
    ("entra-client", {"azure_ad_client_id": None}, "AZURE_AD_CLIENT_ID must be set when AUTH_REQUIRED"),
    (
        "pseudonym-key",
        {"encryption_key": None, "audit_pseudonym_key": None},
        "AUDIT_PSEUDONYM_KEY (or ENCRYPTION_KEY) must be set",
    ),
]

# Which rules apply in which environment.
APPLIES = {
    "development": set(),
    "test": {"auth", "audit", "audit-anchor", "cors-wildcard", "entra", "entra-client", "pseudonym-key"},
    "uat": {"auth", "audit", "audit-anchor", "cors-wildcard", "entra", "entra-client", "pseudonym-key"},
    "production": {rule for rule, _, _ in RULES},
}


@pytest.mark.parametrize("environment", list(APPLIES))
def test_compliant_settings_pass_everywhere(environment: str, tmp_path: Path) -> None:
    assert check_sop(make_settings(tmp_path, **{**COMPLIANT_PROD, "environment": environment})) == []


@pytest.mark.parametrize("environment", list(APPLIES))
@pytest.mark.parametrize(("rule", "override", "fragment"), RULES, ids=[r[0] for r in RULES])
def test_guard_matrix(
    environment: str, rule: str, override: dict[str, object], fragment: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, **{**COMPLIANT_PROD, "environment": environment, **override})
    problems = check_sop(settings)
    if rule in APPLIES[environment]:
        assert any(fragment in p for p in problems), problems
    else:
        assert not any(fragment in p for p in problems), problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = check_sop(make_settings(tmp_path, environment="production", debug=True))
    assert len(problems) == 6  # all defaults are unsafe for production, plus DEBUG on
    joined = "\n".join(problems)
    for fragment in (
        "AUTH_REQUIRED",
        "AUDIT_LOG_ENABLED",
        "DEBUG",
        "CORS_ORIGINS",
        "DATA_RETENTION_DAYS",
        "ENCRYPTION_KEY",
    ):
        assert fragment in joined


def test_unknown_environment_is_an_error_not_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "prod")
    with pytest.raises(SettingsError, match="ENVIRONMENT"):
        load_settings()


def test_environment_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "UAT")
    assert load_settings().environment == "uat"


def test_settings_errors_never_echo_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_RETENTION_DAYS", "s3cr3t-not-a-number")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "DATA_RETENTION_DAYS" in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_secrets_do_not_print(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, azure_ai_key="super-secret-key", zep_api_key="zep-secret")
    assert "super-secret-key" not in repr(settings)
    assert "zep-secret" not in str(settings.describe())


def test_cors_origins_parse_from_json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", '["https://a.example.invalid", "https://b.example.invalid"]')
    assert load_settings().cors_origins == ["https://a.example.invalid", "https://b.example.invalid"]


def test_endpoint_must_be_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_AI_ENDPOINT", "not a url")
    with pytest.raises(SettingsError, match="AZURE_AI_ENDPOINT"):
        load_settings()


def test_env_example_documents_every_setting_and_loads() -> None:
    from app.settings import Settings

    example = Path(__file__).resolve().parents[2] / ".env.example"
    names = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    }
    expected = {name.upper() for name in Settings.model_fields if name != "data_dir"}
    assert expected <= names, f"undocumented: {sorted(expected - names)}"
    assert Settings(_env_file=example).environment == "development"  # type: ignore[call-arg]


# --- identity and key checks that apply in every environment ---------------------------------------


@pytest.mark.parametrize("environment", list(APPLIES))
def test_malformed_encryption_key_is_refused_without_echoing_it(environment: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, **{**COMPLIANT_PROD, "environment": environment, "encryption_key": "hunter2-not-fernet"}
    )
    problems = check_sop(settings)
    assert any("comma-separated Fernet keys" in p for p in problems)
    assert "hunter2" not in "\n".join(problems)


def test_several_encryption_keys_are_accepted(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"
    assert check_sop(make_settings(tmp_path, **{**COMPLIANT_PROD, "encryption_key": keys})) == []


@pytest.mark.parametrize("environment", list(APPLIES))
def test_half_an_entra_setup_is_refused(environment: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, environment=environment, azure_tenant_id=COMPLIANT_PROD["azure_tenant_id"]
    )
    assert any("set both or neither" in p for p in check_sop(settings))


def test_tenant_must_be_a_guid(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **{**COMPLIANT_PROD, "azure_tenant_id": "contoso.onmicrosoft.com"})
    assert any("tenant's GUID" in p for p in check_sop(settings))


def test_development_may_require_auth_with_dev_tokens_only(tmp_path: Path) -> None:
    assert check_sop(make_settings(tmp_path, auth_required=True)) == []


def test_audit_pseudonym_key_alone_satisfies_the_guard(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        **{**COMPLIANT_PROD, "environment": "uat", "encryption_key": None, "audit_pseudonym_key": "p" * 32},
    )
    assert check_sop(settings) == []


def test_mfa_auth_context_id_must_be_a_context_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFA_AUTH_CONTEXT_ID", "mfa")
    with pytest.raises(SettingsError, match="MFA_AUTH_CONTEXT_ID"):
        load_settings()


# --- recordings ------------------------------------------------------------------------------------

AZURITE = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=<KEY>;BlobEndpoint=http://127.0.0.1:1/a;"
ACCOUNT_URL = "https://engramrec.blob.core.windows.net"


@pytest.mark.parametrize("environment", list(APPLIES))
def test_recording_off_needs_nothing(environment: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **{**COMPLIANT_PROD, "environment": environment})
    assert settings.recording_mode == "off" and check_sop(settings) == []


@pytest.mark.parametrize("environment", list(APPLIES))
def test_consent_with_entra_store_and_retention_passes(environment: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        **{**COMPLIANT_PROD, "environment": environment},
        recording_mode="consent",
        recording_storage_url=ACCOUNT_URL,
        recording_retention_days=30,
    )
    assert check_sop(settings) == []


@pytest.mark.parametrize("environment", list(APPLIES))
def test_consent_without_a_store_is_refused_everywhere(environment: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, **{**COMPLIANT_PROD, "environment": environment}, recording_mode="consent"
    )
    assert any("RECORDING_MODE=consent needs a store" in p for p in check_sop(settings))


@pytest.mark.parametrize(
    ("environment", "refused"), [("development", False), ("test", False), ("uat", True), ("production", True)]
)
def test_shared_key_store_is_refused_from_uat(environment: str, refused: bool, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        **{**COMPLIANT_PROD, "environment": environment},
        recording_mode="consent",
        recording_storage_connection_string=AZURITE,
        recording_retention_days=30,
    )
    problems = check_sop(settings)
    assert any("RECORDING_STORAGE_CONNECTION_STRING (a shared key)" in p for p in problems) is refused
    assert AZURITE not in " ".join(problems)


@pytest.mark.parametrize(
    ("environment", "refused"), [("development", False), ("test", False), ("uat", True), ("production", True)]
)
def test_recording_retention_is_required_from_uat(environment: str, refused: bool, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        **{**COMPLIANT_PROD, "environment": environment},
        recording_mode="consent",
        recording_storage_url=ACCOUNT_URL,
    )
    assert any("RECORDING_RETENTION_DAYS must be set" in p for p in check_sop(settings)) is refused


def test_both_stores_at_once_are_refused(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, recording_storage_url=ACCOUNT_URL, recording_storage_connection_string=AZURITE
    )
    assert any("are exclusive" in p for p in check_sop(settings))


def test_plain_http_store_is_refused_from_test(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        **{**COMPLIANT_PROD, "environment": "test"},
        recording_mode="consent",
        recording_storage_url="http://127.0.0.1:10000/a",
    )
    assert any("RECORDING_STORAGE_URL must be https" in p for p in check_sop(settings))


def test_recording_settings_parse_and_refuse_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDING_MODE", " Consent ")
    assert load_settings(_env_file=None).recording_mode == "consent"
    monkeypatch.setenv("RECORDING_MODE", "always")
    with pytest.raises(SettingsError, match="RECORDING_MODE"):
        load_settings(_env_file=None)
    monkeypatch.setenv("RECORDING_MODE", "off")
    monkeypatch.setenv("RECORDING_CONTAINER", "bad--name")
    with pytest.raises(SettingsError, match="RECORDING_CONTAINER"):
        load_settings(_env_file=None)


def test_the_env_contract_names_only_settings_fields() -> None:
    from app.env_contract import env_name

    assert env_name("auth_required") == "AUTH_REQUIRED"
    assert env_name("applicationinsights_connection_string") == "APPLICATIONINSIGHTS_CONNECTION_STRING"
    with pytest.raises(KeyError, match="not a field of app.settings.Settings"):
        env_name("no_such_setting")


def test_env_contract_values_parse_back_to_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.env_contract import env_name, env_value

    values = {
        "auth_required": True,
        "debug": False,
        "data_retention_days": 90,
        "cors_origins": ["https://ui"],
    }
    for setting, value in values.items():
        monkeypatch.setenv(env_name(setting), env_value(value))
    settings = load_settings(_env_file=None)
    assert {setting: getattr(settings, setting) for setting in values} == values
