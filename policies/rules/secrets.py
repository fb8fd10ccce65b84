"""Secret-handling rules: no secret travels as a plain value, and no registry uses shared credentials.

SOP-SEC-001  secret-like container app env vars use secretRef (every level)
SOP-SEC-002  container app secrets are Key Vault references (every level)
SOP-SEC-003  secret-like APIM named values are secret or Key Vault backed (every level)
SOP-SEC-004  no ACR admin user (every level)
SOP-SEC-005  container app registries pull with a managed identity, not a password (every level)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import (
    ALL_LEVELS,
    APIM_NAMED_VALUE,
    CONTAINER_APP,
    PROD,
    REGISTRY,
    RuleContext,
    env_vars,
    is_map,
    items,
    peek,
    rule_maker,
)

_SECRET_WORDS = re.compile(
    r"(^|[_\-.])(KEY|SECRET|PASSWORD|PASSWD|PWD|TOKEN|CREDENTIALS?|CREDS?|CONNECTION[_\-]?STRING|DSN)($|[_\-.])",
    re.IGNORECASE,
)
# Names that carry a credential without saying so.
_SECRET_NAMES = frozenset({"DATABASE_URL", "REDIS_URL"})


def looks_secret(name: str) -> bool:
    """Does a setting name say it holds a credential (AZURE_AI_KEY, ZEP_API_KEY, DATABASE_URL...)?"""
    return name.upper() in _SECRET_NAMES or bool(_SECRET_WORDS.search(name))


def check_env_secret_refs(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems: list[str] = []
    for name, entry in env_vars(props):
        # Only keys are read: a plain value is a violation whether or not it is known at preview.
        if looks_secret(name) and "value" in list(entry) and "secretRef" not in list(entry):
            problems.append(
                f"Container app env {name} is a plain value; store it in Key Vault, add it to "
                f"configuration.secrets with keyVaultUrl and reference it with secretRef."
            )
    return problems


def check_keyvault_secrets(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems: list[str] = []
    for secret in items(props, "configuration", "secrets"):
        if not is_map(secret):
            continue
        keys = list(secret)
        if "keyVaultUrl" not in keys or "value" in keys:
            problems.append(
                f"Container app secret {peek(secret, 'name')!r} holds a value; replace it with keyVaultUrl "
                f"and the app's managed identity."
            )
    return problems


def check_named_value_secret(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    label = next(
        (v for v in (peek(props, "displayName"), peek(props, "namedValueId")) if isinstance(v, str)), ""
    )
    if not looks_secret(label):
        return []
    keys = list(props)
    if "keyVault" in keys or props.get("secret") is True:
        return []
    return [
        f"APIM named value {label!r} looks like a secret but is neither secret nor Key Vault backed; set "
        f"keyVault.secretIdentifier (preferred) or secret=true."
    ]


def check_registry_admin_user(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    if props.get("adminUserEnabled") is True:
        return [
            "Container registry adminUserEnabled is True; set adminUserEnabled to false and pull with "
            "AcrPull."
        ]
    return []


def check_registry_credentials(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    problems: list[str] = []
    for registry in items(props, "configuration", "registries"):
        if not is_map(registry):
            continue
        keys = list(registry)
        if "passwordSecretRef" in keys or "username" in keys or "identity" not in keys:
            problems.append(
                f"Container app registry {peek(registry, 'server')!r} authenticates with a "
                "username/password; "
                f"set identity to the app's user-assigned identity (AcrPull) and drop the password."
            )
    return problems


_SECRET_WHY = "Secrets live in Key Vault only: never in stack state, program code or app revisions."  # noqa: S105

_rule = rule_maker("SOP-SEC", severity=Severity.HIGH, sop_section="6.4", levels=ALL_LEVELS)

ENV_SECRET_REFS = _rule(
    1,
    "engram-app-containerapp-disallow-plain-secret-env",
    "Container app environment variables that hold secrets must use secretRef.",
    _SECRET_WHY,
    "Reference a configuration.secrets entry (a Key Vault reference) with secretRef.",
    resource_types=(CONTAINER_APP,),
    severity=Severity.CRITICAL,
)
KEYVAULT_SECRETS = _rule(
    2,
    "engram-app-containerapp-configure-keyvault-secret",
    "Container app secrets must be Key Vault references, not values.",
    _SECRET_WHY,
    "Give each configuration.secrets entry keyVaultUrl and identity instead of value.",
    resource_types=(CONTAINER_APP,),
    severity=Severity.CRITICAL,
)
NAMED_VALUE_SECRET = _rule(
    3,
    "engram-apimanagement-namedvalue-configure-secret",
    "APIM named values that hold secrets must be secret or Key Vault backed.",
    _SECRET_WHY + " A plain named value is readable by anyone with APIM reader access.",
    "Set keyVault.secretIdentifier (with the gateway's identity) or secret=true.",
    resource_types=(APIM_NAMED_VALUE,),
)
REGISTRY_ADMIN_USER = _rule(
    4,
    "engram-containerregistry-registry-disallow-admin-user",
    "Container registries must not enable the admin user.",
    "The admin user is a shared password with push rights; pulls use managed identities instead.",
    "Set adminUserEnabled=false and grant AcrPull to the app identity.",
    resource_types=(REGISTRY,),
    psrule="Azure.ACR.AdminUser",
    checkov="CKV_AZURE_137",
)
REGISTRY_CREDENTIALS = _rule(
    5,
    "engram-app-containerapp-disallow-registry-password",
    "Container apps must pull images with a managed identity, not a registry password.",
    _SECRET_WHY,
    "Set configuration.registries[].identity and remove username/passwordSecretRef.",
    resource_types=(CONTAINER_APP,),
)

CATALOGUE = [
    ENV_SECRET_REFS.resource(check_env_secret_refs),
    KEYVAULT_SECRETS.resource(check_keyvault_secrets),
    NAMED_VALUE_SECRET.resource(check_named_value_secret),
    REGISTRY_ADMIN_USER.resource(check_registry_admin_user),
    REGISTRY_CREDENTIALS.resource(check_registry_credentials),
]
