"""Synthetic topologies for the runtime path model (`policies.paths`, AZ-PATH-001).

Resources are planned the way a preview registers them: camelCase wire inputs plus property
dependencies (URNs), with offline-style mock ids (not ARM-shaped) where one resource names another.
`private_prod()` is a compliant private production topology where every required path is reachable;
`public_test()` a public one; tests remove or change exactly one resource to turn one path red.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.plan import PlannedResource

from .builders import UNKNOWN_STRING, tags, urn

VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
PEERING = "azure-native:network:VirtualNetworkPeering"
PE = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
ZONE = "azure-native:privatedns:PrivateZone"
LINK = "azure-native:privatedns:VirtualNetworkLink"
RECORD = "azure-native:privatedns:PrivateRecordSet"
ENV = "azure-native:app:ManagedEnvironment"
APP = "azure-native:app:ContainerApp"
APIM = "azure-native:apimanagement:ApiManagementService"
NAMED_VALUE = "azure-native:apimanagement:NamedValue"
AI = "azure-native:cognitiveservices:Account"
KV = "azure-native:keyvault:Vault"
PG = "azure-native:dbforpostgresql:Server"
REDIS = "azure-native:redisenterprise:RedisEnterprise"
PG_RULE = "azure-native:dbforpostgresql:FirewallRule"
ACR = "azure-native:containerregistry:Registry"
SWA = "azure-native:web:StaticSite"
APPI = "azure-native:applicationinsights:Component"

HUB_VNET_ID = (
    "/subscriptions/<HUB_SUBSCRIPTION>/resourceGroups/rg-hub/providers/Microsoft.Network"
    "/virtualNetworks/vnet-hub"
)


def mock_id(type_: str, name: str) -> str:
    """An offline-plan id: `/subscriptions/000.../mock/<type>/<name>`, deliberately not ARM-shaped."""
    module, kind = type_.split(":")[1:]
    return f"/subscriptions/00000000-0000-0000-0000-000000000000/mock/azure-native/{module}/{kind}/{name}"


class Topology(dict[str, PlannedResource]):
    """Resources by name; `add` records the property dependencies given as {key: [resource names]}."""

    def __init__(self, stack: str) -> None:
        super().__init__()
        self.stack = stack

    def urn(self, name: str) -> str:
        return self[name].urn

    def add(
        self, type_: str, name: str, props: Mapping[str, Any], deps: Mapping[str, list[str]] | None = None
    ) -> None:
        self[name] = PlannedResource(
            urn=urn(type_, name, self.stack),
            type=type_,
            name=name,
            properties=dict(props),
            property_dependencies={k: tuple(self.urn(n) for n in v) for k, v in (deps or {}).items()},
        )

    def id(self, name: str) -> str:
        return mock_id(self[name].type, name)

    def without(self, *names: str) -> list[PlannedResource]:
        missing = [n for n in names if n not in self]
        assert not missing, missing
        return [r for n, r in self.items() if n not in names]

    def replaced(self, name: str, **props: Any) -> list[PlannedResource]:
        """All resources, with `name`'s top-level properties updated."""
        old = self[name]
        new = PlannedResource(
            urn=old.urn,
            type=old.type,
            name=old.name,
            properties={**old.properties, **props},
            property_dependencies=old.property_dependencies,
        )
        return [new if n == name else r for n, r in self.items()]


def _app(t: Topology, env: str, *, database: bool, registry_host: str) -> None:
    secret_names = ["azure-ai-key", "appinsights-connection-string", "zep-api-key"]
    if database:
        secret_names.append("database-url")
    env_vars: list[dict[str, Any]] = [
        {"name": "AZURE_AI_ENDPOINT", "value": "https://apim-engram.azure-api.net/engram/openai/v1"},
        {"name": "AZURE_VOICELIVE_ENDPOINT", "value": "https://engram-ai.cognitiveservices.azure.com/"},
        {"name": "APPLICATIONINSIGHTS_CONNECTION_STRING", "secretRef": "appinsights-connection-string"},
        {"name": "ZEP_API_KEY", "secretRef": "zep-api-key"},
        {"name": "RECORDING_STORAGE_URL", "value": "https://engramrec.blob.core.windows.net"},
    ]
    if database:
        env_vars.append({"name": "DATABASE_URL", "secretRef": "database-url"})
    t.add(
        APP,
        "app-api",
        {
            "resourceGroupName": "rg",
            "tags": tags(t.stack),
            "managedEnvironmentId": t.id(env),
            "configuration": {
                "ingress": {
                    "external": True,
                    "targetPort": 8080.0,
                    "transport": "auto",
                    "allowInsecure": False,
                },
                "registries": [{"server": registry_host, "identity": "id"}],
                "secrets": [
                    {
                        "name": n,
                        "keyVaultUrl": f"https://kv-engram.vault.azure.net/secrets/{n}",
                        "identity": "id",
                    }
                    for n in secret_names
                ],
            },
            "template": {
                "containers": [
                    {"name": "engram-api", "image": f"{registry_host}/engram-api:1", "env": env_vars}
                ]
            },
        },
        {
            "managedEnvironmentId": [env],
            "template": ["apim", "ai", "acr", "rec"],
            "configuration": ["kv", "acr"],
        },
    )


def _services(t: Topology, *, private: bool) -> None:
    disabled_or_enabled = "Disabled" if private else "Enabled"
    acls = {"defaultAction": "Deny" if private else "Allow", "bypass": "AzureServices"}
    t.add(
        AI,
        "ai",
        {
            "accountName": "engram-ai",
            "kind": "AIServices",
            "properties": {
                "customSubDomainName": "engram-ai",
                "publicNetworkAccess": disabled_or_enabled,
                "networkAcls": acls,
            },
        },
    )
    t.add(
        KV,
        "kv",
        {
            "vaultName": "kv-engram",
            "properties": {"publicNetworkAccess": disabled_or_enabled, "networkAcls": acls},
        },
    )
    t.add(
        SWA,
        "swa",
        {"name": "swa-engram", "sku": {"name": "Standard"}, "publicNetworkAccess": disabled_or_enabled},
    )
    t.add(
        "azure-native:storage:StorageAccount",
        "rec",
        {
            "accountName": "engramrec",
            "allowSharedKeyAccess": False,
            "publicNetworkAccess": disabled_or_enabled,
            "networkRuleSet": {"defaultAction": "Deny" if private else "Allow", "bypass": "None"},
        },
    )
    t.add(
        APPI,
        "appi",
        {"resourceName": "appi-engram", "publicNetworkAccessForIngestion": "Enabled", "kind": "web"},
    )
    t.add(
        NAMED_VALUE,
        "nv-backend",
        {"serviceName": "apim-engram", "value": "https://engram-ai.cognitiveservices.azure.com/openai/v1"},
        {"serviceName": ["apim"], "value": ["ai"]},
    )


def _private_link(t: Topology, target: str, group: str, zones: tuple[str, ...], vnets: list[str]) -> None:
    """A private endpoint for `target` in the endpoints subnet, its zones linked to the VNet and the hub."""
    for zone in zones:
        if zone not in t:
            t.add(ZONE, zone, {"privateZoneName": zone, "location": "global"})
            for label, vnet in (("vnet", "vnet"), ("hub", None)):
                if label not in vnets:
                    continue
                vnet_id = t.id("vnet") if vnet else HUB_VNET_ID
                t.add(
                    LINK,
                    f"{zone}-link-{label}",
                    {
                        "privateZoneName": zone,
                        "virtualNetwork": {"id": vnet_id},
                        "registrationEnabled": False,
                    },
                    {"privateZoneName": [zone], "virtualNetwork": ["vnet"] if vnet else []},
                )
    t.add(
        PE,
        f"{target}-pe",
        {
            "subnet": {"id": t.id("snet-pe")},
            "privateLinkServiceConnections": [
                {"name": f"{target}-{group}", "privateLinkServiceId": t.id(target), "groupIds": [group]}
            ],
        },
        {"subnet": ["snet-pe"], "privateLinkServiceConnections": [target]},
    )
    t.add(
        ZONE_GROUP,
        f"{target}-dns",
        {
            "privateEndpointName": f"{target}-pe",
            "privateDnsZoneGroupName": "default",
            "privateDnsZoneConfigs": [
                {"name": f"zone-{i}", "privateDnsZoneId": mock_id(ZONE, z)} for i, z in enumerate(zones)
            ],
        },
        {"privateEndpointName": [f"{target}-pe"], "privateDnsZoneConfigs": list(zones)},
    )


def private_prod() -> Topology:
    """Compliant private production: internal environment, internal-mode APIM, private endpoints with
    linked zones for every data service, and a peering to the corporate hub with every zone linked there."""
    t = Topology("prod")
    t.add(
        VNET,
        "vnet",
        {"virtualNetworkName": "engram-prod-vnet", "addressSpace": {"addressPrefixes": ["10.50.0.0/16"]}},
    )
    for subnet, prefix in (
        ("snet-apps", "10.50.0.0/23"),
        ("snet-pe", "10.50.2.0/24"),
        ("snet-apim", "10.50.3.0/24"),
    ):
        t.add(
            SUBNET,
            subnet,
            {"subnetName": subnet, "virtualNetworkName": "engram-prod-vnet", "addressPrefix": prefix},
            {"virtualNetworkName": ["vnet"]},
        )
    t.add(
        PEERING,
        "peer-hub",
        {"virtualNetworkName": "engram-prod-vnet", "remoteVirtualNetwork": {"id": HUB_VNET_ID}},
        {"virtualNetworkName": ["vnet"], "remoteVirtualNetwork": []},
    )
    t.add(
        ENV,
        "cae",
        {"vnetConfiguration": {"infrastructureSubnetId": t.id("snet-apps"), "internal": True}},
        {"vnetConfiguration": ["snet-apps"]},
    )
    t.add(
        ZONE,
        "cae-domain",
        {"privateZoneName": "cae.eastus2.azurecontainerapps.io", "location": "global"},
        {"privateZoneName": ["cae"]},
    )
    for record in ("*", "@"):
        t.add(
            RECORD,
            f"cae-domain-{record}",
            {
                "privateZoneName": "cae.eastus2.azurecontainerapps.io",
                "relativeRecordSetName": record,
                "recordType": "A",
                "ttl": 3600.0,
                "aRecords": [{"ipv4Address": "10.50.0.100"}],
            },
            {"privateZoneName": ["cae-domain"], "aRecords": ["cae"]},
        )
    t.add(
        APIM,
        "apim",
        {
            "serviceName": "apim-engram",
            "sku": {"name": "Premium", "capacity": 1.0},
            "virtualNetworkType": "Internal",
            "virtualNetworkConfiguration": {"subnetResourceId": t.id("snet-apim")},
            "publicNetworkAccess": "Enabled",
        },
        {"virtualNetworkConfiguration": ["snet-apim"]},
    )
    t.add(ZONE, "azure-api.net", {"privateZoneName": "azure-api.net", "location": "global"})
    t.add(
        RECORD,
        "apim-record",
        {
            "privateZoneName": "azure-api.net",
            "relativeRecordSetName": "apim-engram",
            "recordType": "A",
            "aRecords": [{"ipv4Address": "10.50.3.4"}],
        },
        {"privateZoneName": ["azure-api.net"], "relativeRecordSetName": ["apim"]},
    )
    for zone in ("cae-domain", "azure-api.net"):
        label = t[zone].properties["privateZoneName"]
        t.add(
            LINK,
            f"{zone}-link-vnet",
            {"privateZoneName": label, "virtualNetwork": {"id": t.id("vnet")}},
            {"privateZoneName": [zone], "virtualNetwork": ["vnet"]},
        )
        t.add(
            LINK,
            f"{zone}-link-hub",
            {"privateZoneName": label, "virtualNetwork": {"id": HUB_VNET_ID}},
            {"privateZoneName": [zone], "virtualNetwork": []},
        )
    _services(t, private=True)
    t.add(PG, "pg", {"serverName": "pg-engram", "network": {"publicNetworkAccess": "Disabled"}})
    t.add(REDIS, "redis", {"clusterName": "redis-engram", "publicNetworkAccess": "Disabled"})
    t.add(
        ACR,
        "acr",
        {"registryName": "acrengram", "sku": {"name": "Premium"}, "publicNetworkAccess": "Disabled"},
    )
    both = ["vnet", "hub"]
    _private_link(t, "kv", "vault", ("privatelink.vaultcore.azure.net",), both)
    _private_link(
        t,
        "ai",
        "account",
        (
            "privatelink.cognitiveservices.azure.com",
            "privatelink.openai.azure.com",
            "privatelink.services.ai.azure.com",
        ),
        both,
    )
    _private_link(t, "pg", "postgresqlServer", ("privatelink.postgres.database.azure.com",), both)
    _private_link(t, "redis", "redisEnterprise", ("privatelink.redis.azure.net",), both)
    _private_link(t, "acr", "registry", ("privatelink.azurecr.io",), both)
    _private_link(t, "swa", "staticSites", ("privatelink.azurestaticapps.net",), both)
    _private_link(t, "rec", "blob", ("privatelink.blob.core.windows.net",), both)
    _app(t, "cae", database=True, registry_host="acrengram.azurecr.io")
    return t


def public_test() -> Topology:
    """A public test stack: public environment and services, PostgreSQL with the allow-Azure rule."""
    t = Topology("test")
    t.add(ENV, "cae", {"zoneRedundant": False})
    t.add(
        APIM,
        "apim",
        {
            "serviceName": "apim-engram",
            "sku": {"name": "Developer", "capacity": 1.0},
            "virtualNetworkType": "None",
        },
    )
    _services(t, private=False)
    t.add(PG, "pg", {"serverName": "pg-engram", "network": {"publicNetworkAccess": "Enabled"}})
    t.add(REDIS, "redis", {"clusterName": "redis-engram", "publicNetworkAccess": "Enabled"})
    t.add(
        PG_RULE,
        "pg-allow-azure",
        {
            "serverName": "pg-engram",
            "firewallRuleName": "AllowAzure",
            "startIpAddress": "0.0.0.0",
            "endIpAddress": "0.0.0.0",
        },
        {"serverName": ["pg"]},
    )
    t.add(
        ACR, "acr", {"registryName": "acrengram", "sku": {"name": "Basic"}, "publicNetworkAccess": "Enabled"}
    )
    _app(t, "cae", database=True, registry_host="acrengram.azurecr.io")
    return t


def local_dev() -> Topology:
    """The local-first dev stack: gateway, AI Services, Key Vault, telemetry; no container app."""
    t = Topology("dev")
    t.add(
        APIM,
        "apim",
        {"serviceName": "apim-engram", "sku": {"name": "Consumption"}, "virtualNetworkType": "None"},
    )
    _services(t, private=False)
    del t["swa"]
    return t


__all__ = ["HUB_VNET_ID", "UNKNOWN_STRING", "Topology", "local_dev", "mock_id", "private_prod", "public_test"]
