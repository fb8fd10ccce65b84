"""The real program under mocks, for each of the five stacks: the SOP section 7 matrix holds."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pulumi_azure_native import app as aca

from app.settings import Settings, check_sop
from components.hosting import BLUE_GREEN_OWNED, BOOTSTRAP_IMAGE, BOOTSTRAP_PORT
from components.identity import (
    ACR_PULL,
    KEY_VAULT_SECRETS_USER,
    OPENAI_USER,
    SPEECH_USER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
)
from components.platform import EngramPlatform, PlatformError, PlatformSecrets
from components.profile import load_profile
from policies.arm_export import taggable
from policies.plan import OFFLINE_SECRET, OfflinePlan, OfflineRunError, read_stack_config, run_program
from policies.rules.azure import model_lifecycle
from tests.components.conftest import LEVELS, STACKS, by_id, container, dig, env_of, plan_for

HOSTED = ("staging", "test", "uat", "prod")
AUDITED = ("test", "uat", "prod")  # hosted with audit logging on
#: SOP scale and size per hosted stack: (cpu, memory, min, max).
SCALE = {
    "staging": (0.5, "1Gi", 0, 3),
    "test": (0.5, "1Gi", 0, 2),
    "uat": (1.0, "2Gi", 1, 5),
    "prod": (1.0, "2Gi", 1, 10),
}
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


@pytest.mark.parametrize("stack", list(SCALE))
def test_scale_cpu_and_memory_follow_the_sop(stack: str) -> None:
    plan = plan_for(stack)
    cpu, memory, low, high = SCALE[stack]
    app = plan.one("azure-native:app:ContainerApp")
    assert dig(app.inputs, "template.scale.minReplicas") == low
    assert dig(app.inputs, "template.scale.maxReplicas") == high
    resources = container(plan)["resources"]
    assert resources == {"cpu": cpu, "memory": memory}


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


def test_prod_has_no_public_endpoints_and_a_private_endpoint_per_data_service(prod: OfflinePlan) -> None:
    assert dig(prod.one("azure-native:keyvault:Vault").inputs, "properties.publicNetworkAccess") == "Disabled"
    assert (
        dig(prod.one("azure-native:keyvault:Vault").inputs, "properties.networkAcls.defaultAction") == "Deny"
    )
    account = prod.one("azure-native:cognitiveservices:Account")
    assert dig(account.inputs, "properties.publicNetworkAccess") == "Disabled"
    server = prod.one("azure-native:dbforpostgresql:Server")
    assert dig(server.inputs, "network.publicNetworkAccess") == "Disabled"
    apim = prod.one("azure-native:apimanagement:ApiManagementService")
    # Private by injection (Azure refuses publicNetworkAccess Disabled at creation).
    assert apim.inputs["virtualNetworkType"] == "Internal"
    registry = prod.one("azure-native:containerregistry:Registry")
    assert registry.inputs["publicNetworkAccess"] == "Disabled"
    assert registry.inputs["sku"] == {"name": "Premium"}
    assert (
        prod.one("azure-native:redisenterprise:RedisEnterprise").inputs["publicNetworkAccess"] == "Disabled"
    )
    environment = prod.one("azure-native:app:ManagedEnvironment")
    assert dig(environment.inputs, "vnetConfiguration.internal") is True
    assert environment.inputs["zoneRedundant"] is True

    targets = by_id(prod)
    endpoints = {
        (targets[c["privateLinkServiceId"]].type, c["groupIds"][0])
        for pe in prod.of_type("azure-native:network:PrivateEndpoint")
        for c in pe.inputs["privateLinkServiceConnections"]
    }
    assert endpoints == {
        ("azure-native:keyvault:Vault", "vault"),
        ("azure-native:cognitiveservices:Account", "account"),
        ("azure-native:dbforpostgresql:Server", "postgresqlServer"),
        ("azure-native:redisenterprise:RedisEnterprise", "redisEnterprise"),
        ("azure-native:containerregistry:Registry", "registry"),
        ("azure-native:web:StaticSite", "staticSites"),
        ("azure-native:storage:StorageAccount", "blob"),  # voice recordings (consent)
    }
    assert len(prod.of_type("azure-native:network:PrivateDnsZoneGroup")) == len(endpoints)
    # Every zone is linked to the stack's VNet; only the names users need are linked to the hub too.
    zones = {z.name: z for z in prod.of_type("azure-native:privatedns:PrivateZone")}
    linked: dict[str, set[str]] = {}
    for link in prod.of_type("azure-native:privatedns:VirtualNetworkLink"):
        zone = next(z for z in zones.values() if z.outputs["name"] == link.inputs["privateZoneName"])
        linked.setdefault(zone.name, set()).add(link.inputs["virtualNetwork"]["id"])
    assert set(linked) == set(zones)
    hub = "<CUSTOMER_HUB_VNET_ID>"
    to_hub = {zones[name].inputs["privateZoneName"] for name, vnets in linked.items() if hub in vnets}
    environment_domain = environment.outputs["defaultDomain"]
    assert to_hub == {environment_domain, "privatelink.2.azurestaticapps.net"}  # the UI's partition zone


def test_prod_private_names_resolve_inside_the_vnet(prod: OfflinePlan) -> None:
    """The injected gateway and the internal environment publish their names in private zones."""
    records = {
        (r.inputs["privateZoneName"], r.inputs["relativeRecordSetName"]): r.inputs["aRecords"]
        for r in prod.of_type("azure-native:privatedns:PrivateRecordSet")
    }
    apim = prod.one("azure-native:apimanagement:ApiManagementService")
    environment = prod.one("azure-native:app:ManagedEnvironment")
    domain = environment.outputs["defaultDomain"]
    assert records[("azure-api.net", apim.outputs["name"])] == [
        {"ipv4Address": apim.outputs["privateIPAddresses"][0]}
    ]
    assert (
        records[(domain, "*")] == records[(domain, "@")] == [{"ipv4Address": environment.outputs["staticIp"]}]
    )
    subnet = prod.one("azure-native:network:Subnet", "snet-apim")
    assert apim.inputs["virtualNetworkConfiguration"]["subnetResourceId"] == subnet.id
    assert "delegations" not in subnet.inputs  # classic injection refuses a delegated subnet
    nsg = prod.one("azure-native:network:NetworkSecurityGroup")
    assert subnet.inputs["networkSecurityGroup"]["id"] == nsg.id
    inbound = {(r["sourceAddressPrefix"], r.get("destinationPortRange")) for r in nsg.inputs["securityRules"]}
    assert {("ApiManagement", "3443"), ("AzureLoadBalancer", "6390")} <= inbound
    peering = prod.one("azure-native:network:VirtualNetworkPeering")
    assert peering.inputs["remoteVirtualNetwork"]["id"] == "<CUSTOMER_HUB_VNET_ID>"


@pytest.mark.parametrize("stack", ["staging", "dev", "test", "uat"])
def test_only_prod_builds_a_private_network(stack: str) -> None:
    plan = plan_for(stack)
    assert not plan.of_type("azure-native:network:VirtualNetwork")
    assert not plan.of_type("azure-native:network:PrivateEndpoint")


def test_key_vault_sku_and_protection(plan: OfflinePlan) -> None:
    vault = plan.one("azure-native:keyvault:Vault")
    props = vault.inputs["properties"]
    assert props["sku"]["name"] == ("premium" if plan.stack == "prod" else "standard")
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["softDeleteRetentionInDays"] == (7 if plan.stack in ("staging", "dev") else 90)
    assert vault.protect is (plan.stack == "prod")


@pytest.mark.parametrize(
    ("stack", "tier", "ha", "geo", "retention"),
    [
        ("test", "Burstable", "Disabled", "Disabled", 7),
        ("uat", "GeneralPurpose", "Disabled", "Disabled", 14),
        ("prod", "GeneralPurpose", "ZoneRedundant", "Enabled", 35),
    ],
)
def test_postgres_tier_ha_and_backups(stack: str, tier: str, ha: str, geo: str, retention: int) -> None:
    plan = plan_for(stack)
    server = plan.one("azure-native:dbforpostgresql:Server")
    assert server.inputs["sku"]["tier"] == tier
    assert server.inputs["highAvailability"]["mode"] == ha
    assert server.inputs["backup"] == {"backupRetentionDays": retention, "geoRedundantBackup": geo}
    assert server.inputs["authConfig"]["activeDirectoryAuth"] == "Enabled"
    assert server.protect is (stack == "prod")
    database = plan.one("azure-native:dbforpostgresql:Database")
    assert database.inputs["databaseName"] == "engram"


def test_audit_diagnostic_settings_from_test_upward(plan: OfflinePlan) -> None:
    settings = plan.of_type("azure-native:monitor:DiagnosticSetting")
    targets = by_id(plan)
    audited = {targets[s.inputs["resourceUri"]].type: s for s in settings}
    if LEVELS[plan.stack] < 3:
        assert audited == {}
        return
    expected = {
        "azure-native:keyvault:Vault": "AuditEvent",
        "azure-native:cognitiveservices:Account": "Audit",
        "azure-native:dbforpostgresql:Server": "PostgreSQLLogs",
        "azure-native:apimanagement:ApiManagementService": "GatewayLogs",
    }
    assert set(audited) == set(expected)
    workspace = plan.one("azure-native:operationalinsights:Workspace")
    for type_token, category in expected.items():
        setting = audited[type_token]
        assert category in {log["category"] for log in setting.inputs["logs"]}
        assert setting.inputs["workspaceId"] == workspace.id


def test_alert_rules_and_action_groups(plan: OfflinePlan) -> None:
    rules = plan.of_type("azure-native:monitor:ScheduledQueryRule")
    groups = plan.of_type("azure-native:monitor:ActionGroup")
    if LEVELS[plan.stack] < 3:
        assert rules == [] and groups == []
        return
    assert len(rules) == 4 and len(groups) == 4
    insights = plan.one("azure-native:applicationinsights:Component")
    assert all(r.inputs["scopes"] == [insights.id] for r in rules)
    assert {len(r.inputs["actions"]["actionGroups"]) for r in rules} == {1, 2}


def test_log_retention_follows_the_profile(plan: OfflinePlan) -> None:
    workspace = plan.one("azure-native:operationalinsights:Workspace")
    expected = {"staging": 30, "dev": 30, "test": 30, "uat": 60, "prod": 90}[plan.stack]
    assert workspace.inputs["retentionInDays"] == expected
    insights = plan.one("azure-native:applicationinsights:Component")
    assert insights.inputs["ingestionMode"] == "LogAnalytics"
    assert insights.inputs["workspaceResourceId"] == workspace.id


@pytest.mark.parametrize("stack", HOSTED)
def test_role_assignments_for_the_app_identity(stack: str) -> None:
    plan = plan_for(stack)
    targets = by_id(plan)
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "-wid-")  # the app's
    principal = identity.outputs["principalId"]
    granted = {
        (a.inputs["roleDefinitionId"].rsplit("/", 1)[1], targets[a.inputs["scope"]].type)
        for a in plan.of_type("azure-native:authorization:RoleAssignment")
        if a.inputs["principalId"] == principal
    }
    recording = {(STORAGE_BLOB_DATA_CONTRIBUTOR, "azure-native:storage:StorageAccount")}
    assert granted == {
        (SPEECH_USER, "azure-native:cognitiveservices:Account"),
        (OPENAI_USER, "azure-native:cognitiveservices:Account"),
        (KEY_VAULT_SECRETS_USER, "azure-native:keyvault:Vault"),
        (ACR_PULL, "azure-native:containerregistry:Registry"),
    } | (recording if stack in ("uat", "prod") else set())  # the stacks that record (with consent)
    registry = plan.one("azure-native:containerregistry:Registry")
    assert registry.inputs["adminUserEnabled"] is False


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
def test_probes_and_ingress_once_the_pipeline_has_built_the_image(stack: str) -> None:
    plan = run_program(stack, config_overrides={"engram:hosting": _hosting(stack, tag="abc123")})
    probes = {p["type"]: p["httpGet"]["path"] for p in container(plan)["probes"]}
    assert probes == {"Liveness": "/health", "Readiness": "/ready"}
    app = plan.one("azure-native:app:ContainerApp")
    assert app.inputs["configuration"]["ingress"]["targetPort"] == 8080
    registry = plan.one("azure-native:containerregistry:Registry")
    assert container(plan)["image"] == f"{registry.outputs['loginServer']}/engram-api:abc123"


@pytest.mark.parametrize("stack", HOSTED)
def test_a_first_deployment_runs_the_public_bootstrap_image(stack: str) -> None:
    """No tag yet: the registry this run creates is empty, so the app must not pull from it."""
    plan = plan_for(stack)
    assert container(plan)["image"] == BOOTSTRAP_IMAGE
    assert "probes" not in container(plan) or container(plan)["probes"] == []
    app = plan.one("azure-native:app:ContainerApp")
    assert app.inputs["configuration"]["ingress"]["targetPort"] == BOOTSTRAP_PORT
    assert plan.outputs["registryLoginServer"]  # where the pipeline then builds the real image


@pytest.mark.parametrize("stack", HOSTED)
def test_only_prod_runs_multiple_revisions_and_leaves_blue_green_to_the_pipeline(stack: str) -> None:
    app = plan_for(stack).one("azure-native:app:ContainerApp")
    mode = app.inputs["configuration"]["activeRevisionsMode"]
    if stack == "prod":
        assert mode == "Multiple"
        assert set(app.ignore_changes) == {
            "template.containers[0].image",
            "template.revisionSuffix",
            "configuration.ingress.traffic",
        }
    else:
        assert mode == "Single"
        assert app.ignore_changes == ()


def test_a_profile_setting_not_the_stack_name_picks_the_revision_mode() -> None:
    plan = run_program(
        "uat", config_overrides={"engram:hosting": {**_hosting("uat"), "activeRevisionsMode": "Multiple"}}
    )
    app = plan.one("azure-native:app:ContainerApp")
    assert app.inputs["configuration"]["activeRevisionsMode"] == "Multiple"
    assert app.ignore_changes == BLUE_GREEN_OWNED


def _hosting(stack: str, tag: str | None = None) -> dict[str, object]:
    hosting = dict(read_stack_config(stack)["engram:hosting"])
    if tag is not None:  # as the deploy pipeline sets it (`pulumi config set --path ...image.tag`)
        hosting["image"] = {**hosting["image"], "tag": tag}
    return hosting


def _at(node: object, path: str) -> object:
    """The value at a Pulumi property path (`a.b[0].c`) in wire inputs, or None."""
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def test_ignored_paths_are_the_wire_names_of_real_container_app_properties() -> None:
    """Each path reaches a value the SDK sends when the property is set (a typo would reach nothing)."""

    def program() -> None:
        aca.ContainerApp(
            "probe",
            resource_group_name="rg",
            managed_environment_id="env",
            configuration={
                "active_revisions_mode": "Multiple",
                "ingress": {"target_port": 8080, "traffic": [{"revision_name": "probe--r1", "weight": 100}]},
            },
            template={"revision_suffix": "r1", "containers": [{"name": "api", "image": "acr/engram-api:1"}]},
        )

    inputs = run_program("staging", program=program).one("azure-native:app:ContainerApp").inputs
    assert {path: _at(inputs, path) for path in BLUE_GREEN_OWNED} == {
        "template.containers[0].image": "acr/engram-api:1",
        "template.revisionSuffix": "r1",
        "configuration.ingress.traffic": [{"revisionName": "probe--r1", "weight": 100.0}],
    }


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


def test_prod_entra_app_roles_and_conditional_access(prod: OfflinePlan) -> None:
    application = prod.one("azuread:index/application:Application", "entra-app")
    roles = {r["value"] for r in application.inputs["appRoles"]}
    assert roles == {"engram.user", "engram.analyst", "engram.admin"}
    assert application.inputs["identifierUris"] == ["api://engram-prod"]
    policy = prod.one("azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy")
    assert policy.inputs["grantControls"] == {
        "operator": "AND",
        "builtInControls": ["mfa", "compliantDevice"],
    }
    assert policy.inputs["conditions"]["applications"]["includedApplications"] == [
        application.outputs["clientId"]
    ]
    assert policy.inputs["sessionControls"]["signInFrequency"] == 8
    assert policy.inputs["sessionControls"]["signInFrequencyPeriod"] == "hours"
    env = env_of(prod)
    assert env["AZURE_AD_CLIENT_ID"]["value"] == application.outputs["clientId"]


@pytest.mark.parametrize("stack", ["test", "uat", "prod"])
def test_entra_app_is_usable_by_service_principals_and_msal(stack: str) -> None:
    plan = plan_for(stack)
    application = plan.one("azuread:index/application:Application", "entra-app")
    for role in application.inputs["appRoles"]:  # the test tier's clients and the pipeline hold roles
        assert role["allowedMemberTypes"] == ["User", "Application"], role["value"]
    scopes = application.inputs["api"]["oauth2PermissionScopes"]
    assert [s["value"] for s in scopes] == ["access_as_user"] and scopes[0]["type"] == "User"
    # The UI is its own public client: SPA redirect URIs on it, none on the API registration.
    ui = plan.one("azuread:index/application:Application", "entra-ui")
    spa = plan.one("azuread:index/applicationRedirectUris:ApplicationRedirectUris")
    site = plan.one("azure-native:web:StaticSite")
    assert spa.inputs["type"] == "SPA"
    assert spa.inputs["redirectUris"] == [f"https://{site.outputs['defaultHostname']}"]
    assert spa.inputs["applicationId"] == ui.id
    assert "singlePageApplication" not in application.inputs and "web" not in application.inputs
    # It asks for the API's scope, and the API pre-authorizes it for exactly that scope (no consent prompt).
    scope_id = scopes[0]["id"]
    assert ui.inputs["requiredResourceAccesses"] == [
        {
            "resourceAppId": application.outputs["clientId"],
            "resourceAccesses": [{"id": scope_id, "type": "Scope"}],
        }
    ]
    pre = plan.one("azuread:index/applicationPreAuthorized:ApplicationPreAuthorized")
    assert pre.inputs["applicationId"] == application.id
    assert pre.inputs["authorizedClientId"] == ui.outputs["clientId"]
    assert pre.inputs["permissionIds"] == [scope_id]
    # Everything the UI build needs, from the stack.
    outputs = plan.outputs
    assert outputs["VITE_AUTH_MODE"] == "entra"
    assert outputs["VITE_ENTRA_CLIENT_ID"] == ui.outputs["clientId"] != application.outputs["clientId"]
    assert outputs["VITE_ENTRA_TENANT_ID"] == read_stack_config(stack)["engram:auth"]["tenantId"]
    assert outputs["VITE_API_SCOPE"] == f"{application.inputs['identifierUris'][0]}/access_as_user"
    assert outputs["VITE_API_URL"] == outputs["apiUrl"] and outputs["VITE_WS_URL"] == outputs["wsUrl"]
    assert outputs["staticSiteName"] == site.outputs["name"]


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


def test_app_roles_can_be_kept_to_users() -> None:
    auth = dict(read_stack_config("uat")["engram:auth"])
    plan = run_program("uat", config_overrides={"engram:auth": {**auth, "servicePrincipalRoles": False}})
    application = plan.one("azuread:index/application:Application", "entra-app")
    assert {tuple(r["allowedMemberTypes"]) for r in application.inputs["appRoles"]} == {("User",)}


@pytest.mark.parametrize(
    ("stack", "rules"),
    [("test", {("0.0.0.0", "0.0.0.0")}), ("uat", {("0.0.0.0", "0.0.0.0")}), ("prod", set())],
)
def test_the_database_admits_the_app(stack: str, rules: set[tuple[str, str]]) -> None:
    """Public servers (test, uat) get the allow-Azure-services rule; prod is reached privately only."""
    plan = plan_for(stack)
    found = {
        (r.inputs["startIpAddress"], r.inputs["endIpAddress"])
        for r in plan.of_type("azure-native:dbforpostgresql:FirewallRule")
    }
    assert found == rules


@pytest.mark.parametrize("stack", STACKS)
def test_key_vault_secrets_expire_on_the_sop_schedule(stack: str) -> None:
    """SOP 8.3: API keys 90 days, the database password 180, the rest a year, from secretsRotatedOn."""
    rotated = datetime(2026, 12, 1, tzinfo=UTC)
    days = {
        "azure-ai-key": 90,
        "zep-api-key": 90,
        "database-url": 180,
        "redis-url": 365,
        "encryption-key": 365,
        "audit-pseudonym-key": 365,
        "appinsights-connection-string": 365,
    }
    secrets = plan_for(stack).of_type("azure-native:keyvault:Secret")
    assert secrets
    for secret in secrets:
        name = secret.inputs["secretName"]
        expires = secret.inputs["properties"]["attributes"]["expires"]
        assert expires == (rotated + timedelta(days=days[name])).timestamp(), name


@pytest.mark.parametrize("stack", ["staging", "dev", "test", "uat"])
def test_conditional_access_only_in_prod(stack: str) -> None:
    assert not plan_for(stack).of_type("azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy")


def test_gateway_per_environment(plan: OfflinePlan) -> None:
    policy = plan.one("azure-native:apimanagement:ApiPolicy").inputs["value"]
    assert "<authentication-managed-identity" in policy
    assert ("<rate-limit " in policy) is (plan.stack == "test")
    assert "llm-token-limit" in policy
    api = plan.one("azure-native:apimanagement:Api")
    assert api.inputs["path"] == "engram/openai/v1"
    assert api.inputs["protocols"] == ["https"]
    operation = plan.one("azure-native:apimanagement:ApiOperation")
    assert (operation.inputs["method"], operation.inputs["urlTemplate"]) == ("POST", "/chat/completions")
    service = plan.one("azure-native:apimanagement:ApiManagementService")
    assert (
        service.inputs["customProperties"][
            "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11"
        ]
        == "False"
    )
    targets = by_id(plan)
    gateway_grant = [
        a
        for a in plan.of_type("azure-native:authorization:RoleAssignment")
        if a.inputs["principalId"] == service.outputs["identity"]["principalId"]
    ]
    assert [targets[a.inputs["scope"]].type for a in gateway_grant] == [
        "azure-native:cognitiveservices:Account"
    ]
    assert gateway_grant[0].inputs["roleDefinitionId"].endswith(OPENAI_USER)


def test_ai_services_account_and_deployments(plan: OfflinePlan) -> None:
    account = plan.one("azure-native:cognitiveservices:Account")
    assert account.inputs["kind"] == "AIServices"
    assert account.inputs["identity"]["type"] == "SystemAssigned"
    assert account.inputs["properties"]["customSubDomainName"].endswith(f"engram-{plan.stack}")
    deployments = {
        d.inputs["deploymentName"]: d for d in plan.of_type("azure-native:cognitiveservices:Deployment")
    }
    assert set(deployments) == {"chat", "realtime"}
    if plan.stack == "prod":
        assert deployments["chat"].inputs["sku"]["capacity"] == 100
    # The versions come from the dated lifecycle table, deployable on its date.
    for name, family in (("chat", "chat"), ("realtime", "realtime")):
        model = deployments[name].inputs["properties"]["model"]
        pick = model_lifecycle.current(family)
        assert (model["name"], model["version"]) == (pick.model, pick.version)
        assert model_lifecycle.status(pick.model, pick.version).state is model_lifecycle.State.AVAILABLE


def test_a_pinned_model_version_is_used_as_given_and_judged_by_the_pack() -> None:
    ai = dict(read_stack_config("uat")["engram:ai"])
    ai["chat"] = {**ai["chat"], "model": "gpt-5-chat", "version": "2025-10-03"}
    plan = run_program("uat", config_overrides={"engram:ai": ai})
    chat = plan.one("azure-native:cognitiveservices:Deployment", "chat")
    assert chat.inputs["properties"]["model"]["version"] == "2025-10-03"


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


def test_static_web_app_sku(plan: OfflinePlan) -> None:
    sites = plan.of_type("azure-native:web:StaticSite")
    if plan.stack == "dev":
        assert sites == []
        return
    expected = "Standard" if plan.stack in ("uat", "prod") else "Free"
    assert sites[0].inputs["sku"] == {"name": expected, "tier": expected}


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


@pytest.mark.parametrize("stack", STACKS)
def test_key_vault_expiry_events_reach_the_action_groups(stack: str) -> None:
    """SOP 8.3: where alerts are on, SecretNearExpiry and SecretExpired become Azure Monitor alerts."""
    plan = plan_for(stack)
    groups = {g.name.rsplit("-ag-", 1)[1]: g.id for g in plan.of_type("azure-native:monitor:ActionGroup")}
    topics = plan.of_type("azure-native:eventgrid:SystemTopic")
    subscriptions = plan.of_type("azure-native:eventgrid:SystemTopicEventSubscription")
    if not groups:  # alerts off (staging, dev): no event path either
        assert topics == [] and subscriptions == []
        return
    (topic,) = topics
    vault = plan.one("azure-native:keyvault:Vault")
    assert topic.inputs["source"] == vault.id
    assert topic.inputs["topicType"] == "Microsoft.KeyVault.vaults"
    assert topic.inputs["location"] == vault.inputs["location"]
    routes = {}
    for sub in subscriptions:
        assert sub.inputs["systemTopicName"] == topic.outputs["name"]
        assert sub.inputs["eventDeliverySchema"] == "CloudEventSchemaV1_0"
        destination = sub.inputs["destination"]
        assert destination["endpointType"] == "MonitorAlert"
        (event_type,) = sub.inputs["filter"]["includedEventTypes"]
        routes[event_type] = (destination["severity"], sorted(destination["actionGroups"]))
    assert routes == {
        "Microsoft.KeyVault.SecretNearExpiry": ("Sev2", sorted([groups["email"], groups["security"]])),
        "Microsoft.KeyVault.SecretExpired": ("Sev1", sorted([groups["pagerduty"], groups["security"]])),
    }
