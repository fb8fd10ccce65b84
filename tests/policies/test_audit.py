"""Audit logging from test upward: AUDIT_LOG_ENABLED and diagnostic settings (stack policy)."""

from __future__ import annotations

import pytest

from policies.rules import audit
from tests.policies.builders import (
    AI_ACCOUNT,
    APIM,
    CONTAINER_APP,
    DIAGNOSTIC,
    KEY_VAULT,
    POSTGRES,
    ai_account,
    apim,
    app_with_env,
    container_app,
    diagnostic_setting,
    messages,
    postgres,
    resource,
    run_resource,
    run_stack,
    vault,
)

AUDIT_LOG, DIAGNOSTICS = audit.CATALOGUE
BUILDERS = {KEY_VAULT: vault, APIM: apim, POSTGRES: postgres, AI_ACCOUNT: ai_account}


def test_audit_log_disabled_is_violation_from_test_up() -> None:
    assert run_resource(AUDIT_LOG, CONTAINER_APP, container_app("test"), stack="test") == []
    props = app_with_env("test", AUDIT_LOG_ENABLED="false")
    assert messages(run_resource(AUDIT_LOG, CONTAINER_APP, props, stack="test")) == [
        "Container app env AUDIT_LOG_ENABLED is 'false'; set AUDIT_LOG_ENABLED=true."
    ]
    staging = app_with_env("staging", AUDIT_LOG_ENABLED="false")
    assert run_resource(AUDIT_LOG, CONTAINER_APP, staging, stack="staging") == []


def _target_with_setting(type_: str, env: str, setting: dict | None) -> list:
    target = resource(type_, BUILDERS[type_](env), name="svc", stack=env)
    if setting is None:
        return [target]
    diag = resource(
        DIAGNOSTIC, setting, name="svc-diag", stack=env, property_dependencies={"resourceUri": (target.urn,)}
    )
    return [target, diag]


@pytest.mark.parametrize("type_", list(BUILDERS))
def test_diagnostic_setting_to_workspace_passes(type_: str) -> None:
    assert (
        run_stack(DIAGNOSTICS, _target_with_setting(type_, "test", diagnostic_setting()), stack="test") == []
    )


@pytest.mark.parametrize("type_", list(BUILDERS))
def test_missing_diagnostic_setting_is_violation(type_: str) -> None:
    found = messages(run_stack(DIAGNOSTICS, _target_with_setting(type_, "uat", None), stack="uat"))
    assert len(found) == 1
    assert "has no diagnostic setting to Log Analytics (none targets it)" in found[0]


def test_diagnostic_setting_without_enabled_logs_is_violation() -> None:
    setting = diagnostic_setting()
    setting["logs"] = [{"categoryGroup": "audit", "enabled": False}]
    found = messages(run_stack(DIAGNOSTICS, _target_with_setting(KEY_VAULT, "prod", setting)))
    assert found == [
        "Key Vault 'svc' has no diagnostic setting to Log Analytics (none sends an enabled log category to a "
        "workspace); add an azure-native:monitor:DiagnosticSetting with resourceUri=<its id>, workspaceId "
        "and "
        'logs [{categoryGroup: "audit", enabled: true}].'
    ]


def test_diagnostic_setting_without_workspace_is_violation() -> None:
    setting = diagnostic_setting()
    del setting["workspaceId"]
    assert len(run_stack(DIAGNOSTICS, _target_with_setting(KEY_VAULT, "prod", setting))) == 1


def test_no_diagnostics_needed_below_test() -> None:
    assert run_stack(DIAGNOSTICS, _target_with_setting(KEY_VAULT, "dev", None), stack="dev") == []


def test_diagnostic_setting_matched_by_known_resource_uri() -> None:
    kv = resource(KEY_VAULT, vault(), name="kv")
    uri = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-engram-prod"
    diag = resource(DIAGNOSTIC, diagnostic_setting(uri), name="kv-diag")
    assert run_stack(DIAGNOSTICS, [kv, diag]) == []
