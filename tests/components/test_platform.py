"""EngramPlatform: the real program under mocks for each of the five stacks; the SOP section 7 matrix
holds across tiers: tags, secrets and the app's environment, stack outputs, local-first dev."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from app.settings import Settings, check_sop
from components.identity import KEY_VAULT_SECRETS_USER, OPENAI_USER, SPEECH_USER
from components.platform import EngramPlatform, PlatformError, PlatformSecrets
from components.profile import load_profile
from policies.arm_export import taggable
from policies.plan import (
    OFFLINE_SECRET,
    OfflinePlan,
    OfflineRunError,
    read_stack_config,
    run_program,
)
from tests.components.conftest import HOSTED, LEVELS, STACKS, dig, env_of, plan_for

AUDITED = ("test", "uat", "prod")  # hosted with audit logging on


SERVICE_ENV = {"staging": "development", "test": "test", "uat": "uat", "prod": "production"}


def test_every_taggable_resource_carries_the_sop_tags(plan: OfflinePlan) -> None:
    level = LEVELS[plan.stack]
    checked = 0
    for resource in plan.resources:
        if not taggable(resource.type):
            continue
        tags = resource.inputs.get("tags") or {}
        assert tags.get("environment") == plan.stack, resource.name
        assert tags.get("sop-level") == str(level), resource.name
        assert tags.get("data-classification") in {"public", "internal", "confidential", "restricted"}
        assert tags.get("managed-by") == "pulumi", resource.name
        checked += 1
    assert checked >= 8


def test_dev_is_local_first() -> None:
    plan = plan_for("dev")
    types = {r.type for r in plan.resources}
    for absent in (
        "azure-native:app:ContainerApp",
        "azure-native:app:ManagedEnvironment",
        "azure-native:web:StaticSite",
        "azure-native:dbforpostgresql:Server",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:containerregistry:Registry",
    ):
        assert absent not in types
    # The developers' own identities get the roles the app identity gets elsewhere.
    assignments = plan.of_type("azure-native:authorization:RoleAssignment")
    developer = [a for a in assignments if a.inputs["principalType"] == "User"]
    assert {a.inputs["roleDefinitionId"].rsplit("/", 1)[1] for a in developer} == {
        SPEECH_USER,
        OPENAI_USER,
        KEY_VAULT_SECRETS_USER,
    }
    assert {"gatewayUrl", "keyVaultUri", "aiEndpoint"} <= set(plan.outputs)


@pytest.mark.parametrize("stack", HOSTED)
def test_secrets_reach_the_app_only_as_key_vault_references(stack: str) -> None:
    plan = plan_for(stack)
    app = plan.one("azure-native:app:ContainerApp")
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "-wid-")  # the app's
    vault_uri = plan.one("azure-native:keyvault:Vault").outputs["properties"]["vaultUri"]
    secrets = app.inputs["configuration"]["secrets"]
    assert secrets, "the app has secrets"
    for secret in secrets:
        assert "value" not in secret
        assert secret["keyVaultUrl"] == f"{vault_uri}secrets/{secret['name']}"
        assert secret["identity"] == identity.id
    env = env_of(plan)
    secret_names = {s["name"] for s in secrets}
    for name in ("AZURE_AI_KEY", "APPLICATIONINSIGHTS_CONNECTION_STRING"):
        assert env[name] == {"name": name, "secretRef": env[name]["secretRef"]}
        assert env[name]["secretRef"] in secret_names
    for entry in env.values():
        assert OFFLINE_SECRET not in json.dumps(entry)
    # Each Key Vault reference points at a secret the vault really holds.
    vault_secrets = {s.inputs["secretName"] for s in plan.of_type("azure-native:keyvault:Secret")}
    assert secret_names <= vault_secrets
    assert dig(app.inputs, "configuration.registries.0.identity") == identity.id


@pytest.mark.parametrize("stack", AUDITED)
def test_audit_pseudonym_key_is_its_own_key_vault_reference(stack: str) -> None:
    """Not ENCRYPTION_KEY's secret: rotating that key must leave the pseudonyms alone."""
    plan = plan_for(stack)
    env = env_of(plan)
    assert env["AUDIT_PSEUDONYM_KEY"] == {"name": "AUDIT_PSEUDONYM_KEY", "secretRef": "audit-pseudonym-key"}
    assert env["ENCRYPTION_KEY"]["secretRef"] == "encryption-key"
    vault_uri = plan.one("azure-native:keyvault:Vault").outputs["properties"]["vaultUri"]
    secrets = {
        s["name"]: s for s in plan.one("azure-native:app:ContainerApp").inputs["configuration"]["secrets"]
    }
    assert secrets["audit-pseudonym-key"]["keyVaultUrl"] == f"{vault_uri}secrets/audit-pseudonym-key"
    assert "value" not in secrets["audit-pseudonym-key"]
    stored = {s.inputs["secretName"]: s for s in plan.of_type("azure-native:keyvault:Secret")}
    assert stored["audit-pseudonym-key"].inputs["properties"]["value"] == OFFLINE_SECRET
    assert "engram:audit-pseudonym-key" in plan.filled_secrets


def _without_secret(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `config.get_secret(key)` answer None, as for a stack where it was never set."""
    import pulumi

    get_secret = pulumi.Config.get_secret

    def patched(self: pulumi.Config, name: str) -> object:
        return None if name == key else get_secret(self, name)

    monkeypatch.setattr(pulumi.Config, "get_secret", patched)


@pytest.mark.parametrize("stack", AUDITED)
def test_an_audited_stack_without_the_pseudonym_key_is_refused(
    stack: str, monkeypatch: pytest.MonkeyPatch, no_plan_cache: None
) -> None:
    _without_secret("audit-pseudonym-key", monkeypatch)
    with pytest.raises(OfflineRunError) as caught:
        run_program(stack)
    assert isinstance(caught.value.__cause__, PlatformError)
    message = str(caught.value.__cause__)
    assert message.startswith(
        f"stack {stack!r} needs secrets: pulumi config set --secret engram:audit-pseudonym-key <value> ("
    )
    # An upgraded stack must carry the value its pseudonyms were keyed with, not a fresh one.
    assert (
        f'engram:audit-pseudonym-key "$(pulumi config get --stack {stack} engram:encryption-key)"' in message
    )


@pytest.mark.parametrize("stack", ("staging", "dev"))
def test_unaudited_stacks_run_without_the_pseudonym_key(
    stack: str, monkeypatch: pytest.MonkeyPatch, no_plan_cache: None
) -> None:
    _without_secret("audit-pseudonym-key", monkeypatch)
    plan = run_program(stack)
    names = {s.inputs["secretName"] for s in plan.of_type("azure-native:keyvault:Secret")}
    assert "audit-pseudonym-key" not in names
    if stack == "staging":
        assert "AUDIT_PSEUDONYM_KEY" not in env_of(plan)


def test_a_production_stack_needs_the_pseudonym_key_even_with_audit_logging_off() -> None:
    """Production's erasure markers are keyed with it whether or not the audit trail is on."""
    config = read_stack_config("prod")
    sections = {k.removeprefix("engram:"): v for k, v in config.items() if k.startswith("engram:")}
    sections["compliance"] = {**sections["compliance"], "auditLogging": False}
    profile = load_profile("prod", sections)
    given = PlatformSecrets(
        azure_ai_key="k", zep_api_key="z", encryption_key="e", postgres_admin_password="p"
    )
    with pytest.raises(
        PlatformError,
        match=r"needs secrets: pulumi config set --secret engram:audit-pseudonym-key <value> \(",
    ):
        EngramPlatform._require(profile, given)
    EngramPlatform._require(profile, replace(given, audit_pseudonym_key="a"))


def test_a_new_stack_missing_both_keys_is_told_to_set_both_without_carrying_one_over() -> None:
    config = read_stack_config("uat")
    sections = {k.removeprefix("engram:"): v for k, v in config.items() if k.startswith("engram:")}
    with pytest.raises(PlatformError) as caught:
        EngramPlatform._require(
            load_profile("uat", sections),
            PlatformSecrets(azure_ai_key="k", zep_api_key="z", postgres_admin_password="p"),
        )
    assert str(caught.value) == (
        "stack 'uat' needs secrets: pulumi config set --secret engram:encryption-key <value>; "
        "pulumi config set --secret engram:audit-pseudonym-key <value>"
    )


@pytest.mark.parametrize("stack", HOSTED)
def test_app_variables_follow_the_profile_and_pass_the_service_guard(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_for(stack)
    env = env_of(plan)
    values = {k: v["value"] for k, v in env.items() if "value" in v}
    assert values["ENVIRONMENT"] == SERVICE_ENV[stack]
    assert values["AUTH_REQUIRED"] == ("false" if stack == "staging" else "true")
    assert values["AUDIT_LOG_ENABLED"] == ("false" if stack == "staging" else "true")
    assert values["DEBUG"] == "false"
    # The app's AI endpoint is the gateway component's output.
    assert values["AZURE_AI_ENDPOINT"] == plan.outputs["gatewayUrl"]
    assert values["AZURE_AI_ENDPOINT"].endswith("/engram/openai/v1")
    assert values["AZURE_VOICELIVE_ENDPOINT"] == plan.outputs["aiEndpoint"]
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "-wid-")  # the app's
    assert values["AZURE_CLIENT_ID"] == identity.outputs["clientId"]
    # CORS: the UI origin, in the app variable and on the ingress.
    origin = f"https://{plan.outputs['uiHostname']}"
    assert json.loads(values["CORS_ORIGINS"]) == [origin]
    app = plan.one("azure-native:app:ContainerApp")
    assert app.inputs["configuration"]["ingress"]["corsPolicy"]["allowedOrigins"] == [origin]
    assert app.inputs["configuration"]["ingress"]["allowInsecure"] is False
    # The service reads exactly these variables. Key Vault fills the secretRefs at run time and the
    # customer fills the placeholders, so stand-ins take their place for the guard.
    for name, entry in stand_in_environment(env).items():
        monkeypatch.setenv(name, entry)
    assert check_sop(Settings(_env_file=None)) == []  # type: ignore[call-arg]


def test_prod_service_settings_would_fail_the_guard_without_retention(
    prod: OfflinePlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stand_in_environment(env_of(prod)).items():
        if name != "DATA_RETENTION_DAYS":
            monkeypatch.setenv(name, value)
    problems = check_sop(Settings(_env_file=None))  # type: ignore[call-arg]
    assert [p for p in problems if "DATA_RETENTION_DAYS" in p] == problems != []


def stand_in_environment(env: dict[str, dict[str, str]]) -> dict[str, str]:
    """The container's variables with secretRefs and `<CUSTOMER_...>` placeholders stood in for."""
    from cryptography.fernet import Fernet

    values = {}
    for name, entry in env.items():
        if "secretRef" in entry:
            values[name] = {
                "ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "REDIS_URL": "rediss://stand-in.redis.azure.net:10000",
            }.get(name, "stand-in")
        else:
            values[name] = entry["value"].replace(
                "<CUSTOMER_TENANT_ID>", "11111111-2222-3333-4444-555555555555"
            )
    return values


@pytest.mark.parametrize("stack", HOSTED)
def test_tenant_and_audience_go_together(stack: str) -> None:
    env = env_of(plan_for(stack))
    assert ("AZURE_TENANT_ID" in env) is ("AZURE_AD_CLIENT_ID" in env) is (stack != "staging")


@pytest.mark.parametrize("stack", HOSTED)
def test_outputs_name_the_app_for_rollback(stack: str) -> None:
    outputs = plan_for(stack).outputs
    app = plan_for(stack).one("azure-native:app:ContainerApp")
    group = plan_for(stack).one("azure-native:resources:ResourceGroup")
    assert outputs["containerAppName"] == app.outputs["name"]
    assert outputs["resourceGroupName"] == group.outputs["name"]


def test_local_dev_exports_no_container_app() -> None:
    outputs = plan_for("dev").outputs
    assert "containerAppName" not in outputs and outputs["resourceGroupName"]


@pytest.mark.parametrize(("stack", "mode"), [("staging", "poc")])
def test_stacks_without_entra_build_the_ui_in_their_own_mode(stack: str, mode: str) -> None:
    outputs = plan_for(stack).outputs
    assert outputs["VITE_AUTH_MODE"] == mode
    assert not {"VITE_ENTRA_CLIENT_ID", "VITE_ENTRA_TENANT_ID", "VITE_API_SCOPE"} & set(outputs)


def test_custom_ui_domains_join_the_redirect_uris_and_cors() -> None:
    site_config = dict(read_stack_config("uat").get("engram:staticSite", {}))
    plan = run_program(
        "uat",
        config_overrides={"engram:staticSite": {**site_config, "customDomains": ["engram.contoso.example"]}},
    )
    site = plan.one("azure-native:web:StaticSite")
    default = f"https://{site.outputs['defaultHostname']}"
    spa = plan.one("azuread:index/applicationRedirectUris:ApplicationRedirectUris")
    assert spa.inputs["redirectUris"] == [default, "https://engram.contoso.example"]
    cors = json.loads(env_of(plan)["CORS_ORIGINS"]["value"])
    assert cors[:2] == [default, "https://engram.contoso.example"]


@pytest.mark.parametrize("stack", STACKS)
def test_everything_is_in_eastus2(stack: str) -> None:
    for resource in plan_for(stack).resources:
        location = resource.inputs.get("location")
        assert location in (None, "eastus2", "global"), resource.name


@pytest.mark.parametrize("stack", HOSTED)
def test_outputs(stack: str) -> None:
    outputs = plan_for(stack).outputs
    assert outputs["apiUrl"].startswith("https://") and outputs["wsUrl"].startswith("wss://")
    assert outputs["VITE_API_URL"] == outputs["apiUrl"] and outputs["VITE_WS_URL"] == outputs["wsUrl"]
    assert outputs["keyVaultUri"].startswith("https://") and outputs["uiHostname"]
    assert outputs["sopLevel"] == LEVELS[stack]


@pytest.mark.parametrize(("ui_client", "expected"), [(None, "api-client"), ("ui-client", "ui-client")])
def test_an_existing_registration_still_gives_the_ui_its_build_variables(
    ui_client: str | None, expected: str
) -> None:
    """A customer's own app registration (createAppRegistration: false): no azuread resources, and the
    UI signs in with its own client id if given, else with the API's (one registration for both)."""
    auth = dict(read_stack_config("uat")["engram:auth"])
    ids = {
        "api-client": "0a0b0c0d-1111-2222-3333-444455556666",
        "ui-client": "9a9b9c9d-1111-2222-3333-444455556666",
    }
    auth.update(createAppRegistration=False, clientId=ids["api-client"], identifierUri="api://contoso-engram")
    if ui_client:
        auth["uiClientId"] = ids[ui_client]
    plan = run_program("uat", config_overrides={"engram:auth": auth})
    assert plan.of_type("azuread:index/application:Application") == []
    assert plan.outputs["VITE_ENTRA_CLIENT_ID"] == ids[expected]
    assert plan.outputs["VITE_API_SCOPE"] == "api://contoso-engram/access_as_user"
    assert plan.outputs["VITE_AUTH_MODE"] == "entra" and plan.outputs["apiClientId"] == ids["api-client"]


def test_every_config_secret_has_a_platform_field_and_every_vault_secret_feeds_a_setting() -> None:
    from dataclasses import fields

    from app.settings import Settings
    from components.profile import SECRET_KEYS, SECRETS

    assert [f.name for f in fields(PlatformSecrets)] == [k.replace("-", "_") for k in SECRET_KEYS]
    given = PlatformSecrets.from_config(lambda key: f"value-of-{key}")
    assert all(given.get(key) == f"value-of-{key}" for key in SECRET_KEYS)
    for secret in SECRETS:
        assert (secret.kind is None) == (secret.setting is None), secret.name
        assert secret.setting is None or secret.setting in Settings.model_fields, secret.name
