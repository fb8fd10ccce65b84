"""Secret handling: secretRef for secret-like env vars, Key Vault-backed app secrets, APIM named values,
no ACR admin user, no registry password."""

from __future__ import annotations

import pytest

from policies.rules import secrets
from tests.policies.builders import (
    APIM_NAMED_VALUE,
    CONTAINER_APP,
    REGISTRY,
    UNKNOWN_STRING,
    container_app,
    messages,
    named_value,
    registry,
    run_resource,
)

ENV_REFS, KV_SECRETS, NAMED_VALUE, ADMIN, REGISTRY_PASSWORD = secrets.CATALOGUE


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("AZURE_AI_KEY", True),
        ("ZEP_API_KEY", True),
        ("DATABASE_URL", True),
        ("ENCRYPTION_KEY", True),
        ("AUDIT_PSEUDONYM_KEY", True),
        ("APPLICATIONINSIGHTS_CONNECTION_STRING", True),
        ("db-password", True),
        ("AZURE_AD_CLIENT_ID", False),
        ("MFA_AUTH_CONTEXT_ID", False),
        ("KEYVAULT_URI", False),
        ("DATA_RETENTION_DAYS", False),
    ],
)
def test_secret_like_names(name: str, secret: bool) -> None:
    assert secrets.looks_secret(name) is secret


def test_compliant_app_passes() -> None:
    for entry in (ENV_REFS, KV_SECRETS, REGISTRY_PASSWORD):
        assert run_resource(entry, CONTAINER_APP, container_app()) == [], entry.rule.id


def test_plain_secret_env_var_is_violation() -> None:
    props = container_app("staging")
    props["template"]["containers"][0]["env"].append({"name": "ZEP_API_KEY", "value": "z-123"})
    assert messages(run_resource(ENV_REFS, CONTAINER_APP, props, stack="staging")) == [
        "Container app env ZEP_API_KEY is a plain value; store it in Key Vault, add it to "
        "configuration.secrets "
        "with keyVaultUrl and reference it with secretRef."
    ]


def test_plain_secret_env_var_is_violation_even_when_value_unknown_at_preview() -> None:
    props = container_app()
    props["template"]["containers"][0]["env"].append({"name": "DATABASE_URL", "value": UNKNOWN_STRING})
    found = run_resource(ENV_REFS, CONTAINER_APP, props)
    assert [f.undecided for f in found] == [False]
    assert "DATABASE_URL is a plain value" in found[0].message


def test_app_secret_with_value_is_violation() -> None:
    props = container_app()
    props["configuration"]["secrets"].append({"name": "zep-api-key", "value": "z-123"})
    assert messages(run_resource(KV_SECRETS, CONTAINER_APP, props)) == [
        "Container app secret 'zep-api-key' holds a value; replace it with keyVaultUrl and the app's managed "
        "identity."
    ]


def test_named_value_checks() -> None:
    assert run_resource(NAMED_VALUE, APIM_NAMED_VALUE, named_value()) == []
    plain = {**named_value(), "value": "abc"}
    del plain["keyVault"]
    assert messages(run_resource(NAMED_VALUE, APIM_NAMED_VALUE, plain)) == [
        "APIM named value 'ai-services-key' looks like a secret but is neither secret nor Key Vault backed; "
        "set keyVault.secretIdentifier (preferred) or secret=true."
    ]
    assert run_resource(NAMED_VALUE, APIM_NAMED_VALUE, {**plain, "secret": True}) == []
    backend = {"displayName": "backend-url", "namedValueId": "backend-url", "value": "https://x"}
    assert run_resource(NAMED_VALUE, APIM_NAMED_VALUE, backend) == []


def test_acr_admin_user_is_violation() -> None:
    assert run_resource(ADMIN, REGISTRY, registry()) == []
    assert messages(run_resource(ADMIN, REGISTRY, {**registry(), "adminUserEnabled": True})) == [
        "Container registry adminUserEnabled is True; set adminUserEnabled to false and pull with AcrPull."
    ]


def test_registry_password_is_violation() -> None:
    props = container_app()
    props["configuration"]["registries"] = [
        {"server": "acrengram.azurecr.io", "username": "acrengram", "passwordSecretRef": "acr-password"}
    ]
    assert messages(run_resource(REGISTRY_PASSWORD, CONTAINER_APP, props)) == [
        "Container app registry 'acrengram.azurecr.io' authenticates with a username/password; set "
        "identity to "
        "the app's user-assigned identity (AcrPull) and drop the password."
    ]
