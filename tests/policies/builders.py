"""Compliant production resources (azure-native camelCase wire inputs, numbers as floats), one builder
per resource, and helpers that run a rule through the real analyzer path (`policies.gate.evaluate`).

Each builder returns a fresh dict; a test mutates exactly one property and asserts the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.gate import Finding, evaluate
from policies.plan import PlannedResource
from policies.rules.common import (
    AI_ACCOUNT,
    APIM,
    APIM_NAMED_VALUE,
    CONDITIONAL_ACCESS,
    CONTAINER_APP,
    KEY_VAULT,
    MANAGED_ENVIRONMENT,
    POSTGRES,
    PRIVATE_ENDPOINT,
    REGISTRY,
    Entry,
)

DIAGNOSTIC = "azure-native:monitor:DiagnosticSetting"
AAD_APP = "azuread:index/application:Application"
LEVELS = {"staging": "1", "dev": "2", "test": "3", "uat": "4", "prod": "5"}
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's sentinel for an unknown string
UNKNOWN_BOOL = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"


def urn(type_: str, name: str, stack: str = "prod") -> str:
    return f"urn:pulumi:{stack}::engram::{type_}::{name}"


def tags(env: str = "prod") -> dict[str, str]:
    return {
        "environment": env,
        "sop-level": LEVELS[env],
        "data-classification": "confidential",
        "managed-by": "pulumi",
    }


def vault(env: str = "prod") -> dict[str, Any]:
    return {
        "resourceGroupName": "rg-engram-prod",
        "vaultName": "kv-engram-prod",
        "location": "eastus2",
        "tags": tags(env),
        "properties": {
            "tenantId": "<CUSTOMER_TENANT_ID>",
            "sku": {"family": "A", "name": "premium"},
            "enableRbacAuthorization": True,
            "enableSoftDelete": True,
            "softDeleteRetentionInDays": 90.0,
            "enablePurgeProtection": True,
            "publicNetworkAccess": "Disabled",
            "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
        },
    }


def ai_account(env: str = "prod") -> dict[str, Any]:
    return {
        "accountName": "ais-engram-prod",
        "kind": "AIServices",
        "location": "eastus2",
        "tags": tags(env),
        "sku": {"name": "S0"},
        "identity": {"type": "SystemAssigned"},
        "properties": {"customSubDomainName": "ais-engram-prod", "publicNetworkAccess": "Disabled"},
    }


def postgres(env: str = "prod") -> dict[str, Any]:
    return {
        "serverName": "psql-engram-prod",
        "location": "eastus2",
        "tags": tags(env),
        "sku": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
        "version": "16",
        "highAvailability": {"mode": "ZoneRedundant"},
        "backup": {"backupRetentionDays": 35.0, "geoRedundantBackup": "Enabled"},
        "network": {"publicNetworkAccess": "Disabled"},
        "authConfig": {"activeDirectoryAuth": "Enabled", "passwordAuth": "Disabled"},
    }


def apim(env: str = "prod") -> dict[str, Any]:
    return {
        "serviceName": "apim-engram-prod",
        "location": "eastus2",
        "tags": tags(env),
        "sku": {"name": "Premium", "capacity": 1.0},
        "publisherEmail": "platform@example.invalid",
        "publisherName": "Engram",
        "virtualNetworkType": "Internal",
        "virtualNetworkConfiguration": {"subnetResourceId": "/subscriptions/x/subnets/apim"},
    }


def named_value() -> dict[str, Any]:
    return {
        "serviceName": "apim-engram-prod",
        "namedValueId": "ai-services-key",
        "displayName": "ai-services-key",
        "keyVault": {"secretIdentifier": "https://kv-engram-prod.vault.azure.net/secrets/ai-key"},
    }


def managed_environment(env: str = "prod") -> dict[str, Any]:
    return {
        "location": "eastus2",
        "tags": tags(env),
        "zoneRedundant": True,
        "vnetConfiguration": {"infrastructureSubnetId": "/subscriptions/x/subnets/apps", "internal": True},
    }


def container_app(env: str = "prod") -> dict[str, Any]:
    service_env = {"staging": "development", "dev": "development", "prod": "production"}.get(env, env)
    size = {"cpu": 1.0, "memory": "2Gi"} if env in ("uat", "prod") else {"cpu": 0.5, "memory": "1Gi"}
    scale = {
        "staging": (0.0, 3.0),
        "dev": (0.0, 2.0),
        "test": (0.0, 2.0),
        "uat": (1.0, 5.0),
        "prod": (1.0, 10.0),
    }
    return {
        "location": "eastus2",
        "tags": tags(env),
        "managedEnvironmentId": "/subscriptions/x/managedEnvironments/cae",
        "identity": {"type": "UserAssigned", "userAssignedIdentities": ["/subscriptions/x/identities/id"]},
        "configuration": {
            "activeRevisionsMode": "Single",
            "ingress": {
                "external": True,
                "targetPort": 8080.0,
                "allowInsecure": False,
                "corsPolicy": {"allowedOrigins": ["https://<UI_HOST>"]},
            },
            "registries": [{"server": "acrengram.azurecr.io", "identity": "/subscriptions/x/identities/id"}],
            "secrets": [
                {
                    "name": "azure-ai-key",
                    "keyVaultUrl": "https://kv-engram-prod.vault.azure.net/secrets/azure-ai-key",
                    "identity": "/subscriptions/x/identities/id",
                }
            ],
        },
        "template": {
            "containers": [
                {
                    "name": "engram-api",
                    "image": "acrengram.azurecr.io/engram-api:1.0.0",
                    "resources": dict(size),
                    "env": [
                        {"name": "ENVIRONMENT", "value": service_env},
                        {"name": "AUTH_REQUIRED", "value": "true"},
                        {"name": "DEBUG", "value": "false"},
                        {"name": "AUDIT_LOG_ENABLED", "value": "true"},
                        {"name": "DATA_RETENTION_DAYS", "value": "90"},
                        {"name": "MFA_AUTH_CONTEXT_ID", "value": "c1"},
                        {"name": "CORS_ORIGINS", "value": '["https://<UI_HOST>"]'},
                        {"name": "AZURE_AI_KEY", "secretRef": "azure-ai-key"},
                    ],
                }
            ],
            "scale": {"minReplicas": scale[env][0], "maxReplicas": scale[env][1]},
        },
    }


def registry(env: str = "prod") -> dict[str, Any]:
    return {"registryName": "acrengram", "location": "eastus2", "tags": tags(env), "adminUserEnabled": False}


def private_endpoint(service_id: str = UNKNOWN_STRING, group: str = "vault") -> dict[str, Any]:
    return {
        "location": "eastus2",
        "tags": tags(),
        "subnet": {"id": "/subscriptions/x/subnets/private-endpoints"},
        "privateLinkServiceConnections": [
            {"name": "pe-conn", "privateLinkServiceId": service_id, "groupIds": [group]}
        ],
    }


def diagnostic_setting(resource_uri: str = UNKNOWN_STRING) -> dict[str, Any]:
    return {
        "name": "audit",
        "resourceUri": resource_uri,
        "workspaceId": "/subscriptions/x/workspaces/log",
        "logs": [{"categoryGroup": "audit", "enabled": True}],
    }


def conditional_access_policy() -> dict[str, Any]:
    return {
        "displayName": "Engram: require MFA",
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["all"],
            "applications": {"includedApplications": [UNKNOWN_STRING]},
            "users": {"includedGroups": ["<CUSTOMER_GROUP_ID>"]},
        },
        "grantControls": {"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]},
    }


def aad_application() -> dict[str, Any]:
    return {"displayName": "engram-api-prod", "identifierUris": ["api://engram-prod"]}


def static_site(env: str = "prod") -> dict[str, Any]:
    return {
        "name": "swa-engram-prod",
        "location": "eastus2",
        "tags": tags(env),
        "sku": {"name": "Standard", "tier": "Standard"},
        "publicNetworkAccess": "Disabled",
    }


def private_zone(name: str = "privatelink.vaultcore.azure.net") -> dict[str, Any]:
    return {"privateZoneName": name, "location": "global", "resourceGroupName": "rg-engram-prod"}


def zone_group(zone_id: str = UNKNOWN_STRING) -> dict[str, Any]:
    return {
        "privateEndpointName": "pe-kv",
        "privateDnsZoneGroupName": "default",
        "privateDnsZoneConfigs": [{"name": "zone", "privateDnsZoneId": zone_id}],
    }


def vnet_link(zone: str = "privatelink.vaultcore.azure.net") -> dict[str, Any]:
    return {
        "privateZoneName": zone,
        "location": "global",
        "registrationEnabled": False,
        "virtualNetwork": {"id": "/subscriptions/x/virtualNetworks/vnet"},
    }


def key_vault_secret() -> dict[str, Any]:
    return {
        "vaultName": "kv-engram-prod",
        "secretName": "azure-ai-key",
        "properties": {"value": "<SECRET>", "attributes": {"enabled": True, "expires": 1798761600.0}},
    }


def app_insights(env: str = "prod") -> dict[str, Any]:
    return {
        "kind": "web",
        "applicationType": "web",
        "location": "eastus2",
        "tags": tags(env),
        "workspaceResourceId": "/subscriptions/x/workspaces/log",
    }


def log_workspace(env: str = "prod") -> dict[str, Any]:
    return {"location": "eastus2", "tags": tags(env), "sku": {"name": "PerGB2018"}, "retentionInDays": 90.0}


def scheduled_query_rule() -> dict[str, Any]:
    return {
        "location": "eastus2",
        "severity": 2.0,
        "enabled": True,
        "scopes": ["/subscriptions/x/workspaces/log"],
        "evaluationFrequency": "PT5M",
        "windowSize": "PT15M",
        "criteria": {
            "allOf": [{"query": "AppExceptions | count", "operator": "GreaterThan", "threshold": 0.0}]
        },
    }


def action_group() -> dict[str, Any]:
    return {"location": "global", "groupShortName": "engram-ops", "enabled": True}


def virtual_network(prefix: str = "10.20.0.0/16") -> dict[str, Any]:
    return {
        "virtualNetworkName": "vnet-engram-prod",
        "location": "eastus2",
        "tags": tags(),
        "addressSpace": {"addressPrefixes": [prefix]},
        "subnets": [
            {"name": "apps", "addressPrefix": "10.20.0.0/23"},
            {"name": "private-endpoints", "addressPrefix": "10.20.2.0/24"},
        ],
    }


def subnet(delegation: str | None = "Microsoft.App/environments") -> dict[str, Any]:
    props: dict[str, Any] = {
        "subnetName": "apps",
        "virtualNetworkName": "vnet-engram-prod",
        "addressPrefix": "10.20.0.0/23",
    }
    if delegation:
        props["delegations"] = [{"name": "delegation", "serviceName": delegation}]
    return props


def aad_app_with_roles() -> dict[str, Any]:
    return {
        "displayName": "engram-api-prod",
        "identifierUris": ["api://engram-prod"],
        "singlePageApplication": {"redirectUris": ["https://<UI_HOST>/", "http://localhost:5173/"]},
        "appRoles": [
            {
                "id": "6f1b4c0e-0000-4000-8000-000000000001",
                "value": "Transcripts.Read",
                "displayName": "Read transcripts",
                "description": "Read transcripts",
                "allowedMemberTypes": ["User", "Application"],
                "enabled": True,
            }
        ],
    }


# ---- running rules through the analyzer ---------------------------------------------------------


def resource(
    type_: str,
    props: Mapping[str, Any],
    name: str = "r",
    stack: str = "prod",
    property_dependencies: Mapping[str, tuple[str, ...]] | None = None,
) -> PlannedResource:
    return PlannedResource(
        urn=urn(type_, name, stack),
        type=type_,
        name=name,
        properties=props,
        property_dependencies=dict(property_dependencies or {}),
    )


def run_resource(
    entry: Entry,
    type_: str,
    props: Mapping[str, Any],
    *,
    stack: str = "prod",
    config: Mapping[str, Any] | None = None,
    stack_tags: Mapping[str, str] | None = None,
) -> list[Finding]:
    """The rule's findings for one resource, through the analyzer servicer like `pulumi preview`."""
    report = evaluate(
        [resource(type_, props, stack=stack)],
        stack=stack,
        stack_tags=stack_tags,
        config={entry.rule.name: dict(config)} if config else None,
        policies=[entry.policy],
    )
    return report.findings


def run_stack(
    entry: Entry,
    resources: Sequence[PlannedResource],
    *,
    stack: str = "prod",
    stack_tags: Mapping[str, str] | None = None,
) -> list[Finding]:
    return evaluate(resources, stack=stack, stack_tags=stack_tags, policies=[entry.policy]).findings


def messages(findings: Sequence[Finding]) -> list[str]:
    return [f.message for f in findings]


def env_entry(props: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in props["template"]["containers"][0]["env"]:
        if entry["name"] == name:
            return entry  # type: ignore[no-any-return]
    raise KeyError(name)


def app_with_env(env: str = "prod", **values: str) -> dict[str, Any]:
    """A compliant container app at `env` with env vars set: an existing one's value replaced, else added."""
    props = container_app(env)
    for name, value in values.items():
        try:
            env_entry(props, name)["value"] = value
        except KeyError:
            props["template"]["containers"][0]["env"].append({"name": name, "value": value})
    return props


__all__ = [
    "AI_ACCOUNT",
    "APIM",
    "APIM_NAMED_VALUE",
    "CONDITIONAL_ACCESS",
    "CONTAINER_APP",
    "KEY_VAULT",
    "MANAGED_ENVIRONMENT",
    "POSTGRES",
    "PRIVATE_ENDPOINT",
    "REGISTRY",
]


# ---- Azure deployability builders (AZ-*) ------------------------------------------------------------

MODEL_DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
SUBNET = "azure-native:network:Subnet"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
ZONE_LINK = "azure-native:privatedns:VirtualNetworkLink"


def model_deployment(model: str = "gpt-5.6-sol", version: str = "2026-07-09") -> dict[str, Any]:
    return {
        "accountName": "ais-engram-prod",
        "deploymentName": model,
        "sku": {"name": "GlobalStandard", "capacity": 100.0},
        "properties": {
            "model": {"format": "OpenAI", "name": model, "version": version},
            "versionUpgradeOption": "NoAutoUpgrade",
        },
    }


def aca_subnet(prefix: str = "10.0.0.0/27", delegated: bool = True) -> dict[str, Any]:
    props: dict[str, Any] = {"subnetName": "apps", "virtualNetworkName": "vnet", "addressPrefix": prefix}
    if delegated:
        props["delegations"] = [{"name": "aca", "serviceName": "Microsoft.App/environments"}]
    return props


def environment_zone() -> dict[str, Any]:
    return {"privateZoneName": UNKNOWN_STRING, "location": "global", "resourceGroupName": "rg-engram-prod"}


def zone_link() -> dict[str, Any]:
    return {
        "privateZoneName": UNKNOWN_STRING,
        "location": "global",
        "registrationEnabled": False,
        "virtualNetwork": {"id": "/subscriptions/x/virtualNetworks/vnet"},
    }
