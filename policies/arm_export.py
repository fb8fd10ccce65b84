"""A planned stack as an ARM deployment template, for the field's scanners (Checkov, PSRule for Azure).

azure-native's inputs mirror the ARM request bodies, so a recorded plan (`policies.plan.run_program`)
converts to a resource-group deployment template with little more than a move of each resource's
body into ARM's shape:

- `type` comes from `ARM_TYPES` below (azure-native's Python SDK does not carry the ARM resource type
  of a token); `apiVersion` is the one the installed SDK uses for the token ("Uses Azure REST API
  version ..." in each resource class's docs), so it follows the pinned provider by itself.
- `name` joins the path inputs (`virtualNetworkName`, `subnetName`, ...) as ARM's `parent/child`;
  extension resources (role assignments, diagnostic settings) get `scope` from their target input.
- `location`, `tags`, `sku`, `kind`, `identity`, `zones`, `plan`, `extendedLocation` stay at the top;
  every other body input moves under `properties`, merged with a `properties` input when the type has
  one (Key Vault, Cognitive Services): the SDK flattens `properties` for most types, ARM does not.
- Secret values (anything the engine marks secret, Key Vault secret values, passwords) become
  `securestring` parameters without a default: the template never holds one. A side file
  `<stack>.parameters.json` (what PSRule's parameter-file expansion reads) fills them with an obvious
  placeholder.
- Resource ids the offline mocks made up (`/subscriptions/<id>/mock/...`) become `resourceId(...)`
  expressions of the resources they name; dependencies become `dependsOn`.
- Resources that are not ARM resources (azuread, the resource group the template deploys into, any
  type without a mapping) are skipped and listed in the template's `metadata.skipped` with the reason.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policies.plan import PlannedResource

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
CONTENT_VERSION = "1.0.0.0"
GENERATOR = "engram check --export-arm"

#: ARM's top-level resource properties; every other body input goes under `properties`.
TOP_LEVEL = ("location", "tags", "sku", "kind", "identity", "zones", "plan", "extendedLocation")
#: The engine's secret envelope and unknown sentinel (pulumi.runtime.rpc), in wire form.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105 - the envelope, not a secret
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - the envelope, not a secret
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_PLACEHOLDER = "<unknown until pulumi up>"
#: What the parameter file gives each secret parameter: obviously not a credential.
SECRET_PLACEHOLDER = "<secret: set at deployment>"  # noqa: S105 - a marker, never a credential
#: Inputs whose value is a secret whether or not the program marked it so.
_SECRET_KEY = re.compile(
    r"(password|secretvalue|clientsecret|primarykey|secondarykey|sharedkey)$", re.IGNORECASE
)
#: A resource id made up by the offline mocks: `/subscriptions/<sub>/mock/<package>/<module>/<Type>/<name>`.
_MOCK_ID = re.compile(
    r"^/subscriptions/[^/]+/mock/(?P<package>[^/]+)/(?P<module>[^/]+)/(?P<kind>[^/]+)/(?P<name>.+)$"
)
_API_VERSION = re.compile(r"Uses Azure REST API version (?P<version>\d{4}-\d{2}-\d{2}(?:-[a-z]+)?)")


@dataclass(frozen=True)
class ArmType:
    """How one azure-native type token maps onto ARM.

    `type` may hold `{input}` placeholders (private DNS record sets take their type from `recordType`).
    `names` are the path inputs, parent first; the last may be absent (autonaming: the logical name).
    `scope` names the input holding an extension resource's target; `nested` lists top-level names that
    ARM keeps under `properties` for this type; `renames` maps SDK input names onto ARM's.
    `secrets` are dotted paths of the ARM body that always hold a secret.
    """

    type: str
    names: tuple[str, ...]
    scope: str | None = None
    nested: tuple[str, ...] = ()
    renames: Mapping[str, str] = field(default_factory=dict)
    #: Nested SDK names ARM spells differently, by dotted path in the ARM body -> ARM's key.
    nested_renames: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()  # further path inputs that are not part of the body
    #: Objects the SDK flattens inside the body, by dotted path -> the keys that stay (the discriminator):
    #: every other key moves under the object's own `properties`, as ARM has it.
    unflatten: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Name segments that are no input (index in the ARM name -> value), e.g. blobServices/`default`.
    literals: Mapping[int, str] = field(default_factory=dict)


def _t(arm_type: str, *names: str, **options: Any) -> ArmType:
    return ArmType(arm_type, names, **options)


#: azure-native type token -> ARM type and name inputs. Tests check each entry against the SDK
#: (the class exists and takes these inputs) and that every type the five stacks plan is here.
ARM_TYPES: Mapping[str, ArmType] = {
    # networking
    "azure-native:network:VirtualNetwork": _t("Microsoft.Network/virtualNetworks", "virtualNetworkName"),
    "azure-native:network:Subnet": _t(
        "Microsoft.Network/virtualNetworks/subnets", "virtualNetworkName", "subnetName"
    ),
    "azure-native:network:NetworkSecurityGroup": _t(
        "Microsoft.Network/networkSecurityGroups", "networkSecurityGroupName"
    ),
    "azure-native:network:SecurityRule": _t(
        "Microsoft.Network/networkSecurityGroups/securityRules",
        "networkSecurityGroupName",
        "securityRuleName",
    ),
    "azure-native:network:PublicIPAddress": _t("Microsoft.Network/publicIPAddresses", "publicIpAddressName"),
    "azure-native:network:NatGateway": _t("Microsoft.Network/natGateways", "natGatewayName"),
    "azure-native:network:PrivateEndpoint": _t("Microsoft.Network/privateEndpoints", "privateEndpointName"),
    "azure-native:network:VirtualNetworkPeering": _t(
        "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
        "virtualNetworkName",
        "virtualNetworkPeeringName",
    ),
    "azure-native:network:PrivateDnsZoneGroup": _t(
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        "privateEndpointName",
        "privateDnsZoneGroupName",
    ),
    "azure-native:privatedns:PrivateZone": _t("Microsoft.Network/privateDnsZones", "privateZoneName"),
    "azure-native:privatedns:VirtualNetworkLink": _t(
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks", "privateZoneName", "virtualNetworkLinkName"
    ),
    "azure-native:privatedns:PrivateRecordSet": _t(
        "Microsoft.Network/privateDnsZones/{recordType}",
        "privateZoneName",
        "relativeRecordSetName",
        drop=("recordType",),
    ),
    # monitoring
    "azure-native:operationalinsights:Workspace": _t(
        "Microsoft.OperationalInsights/workspaces", "workspaceName", nested=("sku",)
    ),
    "azure-native:applicationinsights:Component": _t(
        "Microsoft.Insights/components",
        "resourceName",
        renames={
            "applicationType": "Application_Type",
            "flowType": "Flow_Type",
            "requestSource": "Request_Source",
            "retentionInDays": "RetentionInDays",
            "workspaceResourceId": "WorkspaceResourceId",
            "ingestionMode": "IngestionMode",
            "samplingPercentage": "SamplingPercentage",
            "disableIpMasking": "DisableIpMasking",
            "hockeyAppId": "HockeyAppId",
        },
    ),
    "azure-native:monitor:ActionGroup": _t("Microsoft.Insights/actionGroups", "actionGroupName"),
    "azure-native:monitor:ScheduledQueryRule": _t("Microsoft.Insights/scheduledQueryRules", "ruleName"),
    "azure-native:monitor:MetricAlert": _t("Microsoft.Insights/metricAlerts", "ruleName"),
    "azure-native:monitor:DiagnosticSetting": _t(
        "Microsoft.Insights/diagnosticSettings", "name", scope="resourceUri"
    ),
    "azure-native:eventgrid:SystemTopic": _t("Microsoft.EventGrid/systemTopics", "systemTopicName"),
    "azure-native:eventgrid:SystemTopicEventSubscription": _t(
        "Microsoft.EventGrid/systemTopics/eventSubscriptions",
        "systemTopicName",
        "eventSubscriptionName",
        unflatten={"properties.destination": ("endpointType",)},
    ),
    # identity and access
    "azure-native:managedidentity:UserAssignedIdentity": _t(
        "Microsoft.ManagedIdentity/userAssignedIdentities", "resourceName"
    ),
    "azure-native:managedidentity:FederatedIdentityCredential": _t(
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        "resourceName",
        "federatedIdentityCredentialResourceName",
    ),
    "azure-native:authorization:RoleAssignment": _t(
        "Microsoft.Authorization/roleAssignments", "roleAssignmentName", scope="scope"
    ),
    # Key Vault
    "azure-native:keyvault:Vault": _t("Microsoft.KeyVault/vaults", "vaultName"),
    "azure-native:keyvault:Secret": _t(
        "Microsoft.KeyVault/vaults/secrets",
        "vaultName",
        "secretName",
        secrets=("properties.value",),
        # azure-native names the secret attributes `expires` / `notBefore`; ARM's are `exp` / `nbf`.
        nested_renames={"properties.attributes.expires": "exp", "properties.attributes.notBefore": "nbf"},
    ),
    "azure-native:keyvault:Key": _t("Microsoft.KeyVault/vaults/keys", "vaultName", "keyName"),
    # AI services
    "azure-native:cognitiveservices:Account": _t("Microsoft.CognitiveServices/accounts", "accountName"),
    "azure-native:cognitiveservices:Deployment": _t(
        "Microsoft.CognitiveServices/accounts/deployments", "accountName", "deploymentName"
    ),
    "azure-native:cognitiveservices:RaiPolicy": _t(
        "Microsoft.CognitiveServices/accounts/raiPolicies", "accountName", "raiPolicyName"
    ),
    # API Management
    "azure-native:apimanagement:ApiManagementService": _t("Microsoft.ApiManagement/service", "serviceName"),
    "azure-native:apimanagement:Api": _t("Microsoft.ApiManagement/service/apis", "serviceName", "apiId"),
    "azure-native:apimanagement:ApiPolicy": _t(
        "Microsoft.ApiManagement/service/apis/policies", "serviceName", "apiId", "policyId"
    ),
    "azure-native:apimanagement:ApiOperation": _t(
        "Microsoft.ApiManagement/service/apis/operations", "serviceName", "apiId", "operationId"
    ),
    "azure-native:apimanagement:ApiOperationPolicy": _t(
        "Microsoft.ApiManagement/service/apis/operations/policies",
        "serviceName",
        "apiId",
        "operationId",
        "policyId",
    ),
    "azure-native:apimanagement:ApiDiagnostic": _t(
        "Microsoft.ApiManagement/service/apis/diagnostics", "serviceName", "apiId", "diagnosticId"
    ),
    "azure-native:apimanagement:Policy": _t(
        "Microsoft.ApiManagement/service/policies", "serviceName", "policyId"
    ),
    "azure-native:apimanagement:NamedValue": _t(
        "Microsoft.ApiManagement/service/namedValues", "serviceName", "namedValueId"
    ),
    "azure-native:apimanagement:Subscription": _t(
        "Microsoft.ApiManagement/service/subscriptions",
        "serviceName",
        "sid",
        secrets=("properties.primaryKey", "properties.secondaryKey"),
    ),
    "azure-native:apimanagement:Backend": _t(
        "Microsoft.ApiManagement/service/backends", "serviceName", "backendId"
    ),
    "azure-native:apimanagement:Logger": _t(
        "Microsoft.ApiManagement/service/loggers", "serviceName", "loggerId"
    ),
    "azure-native:apimanagement:Diagnostic": _t(
        "Microsoft.ApiManagement/service/diagnostics", "serviceName", "diagnosticId"
    ),
    "azure-native:apimanagement:Product": _t(
        "Microsoft.ApiManagement/service/products", "serviceName", "productId"
    ),
    # data
    "azure-native:dbforpostgresql:Server": _t(
        "Microsoft.DBforPostgreSQL/flexibleServers",
        "serverName",
        secrets=("properties.administratorLoginPassword",),
    ),
    "azure-native:dbforpostgresql:Database": _t(
        "Microsoft.DBforPostgreSQL/flexibleServers/databases", "serverName", "databaseName"
    ),
    "azure-native:dbforpostgresql:FirewallRule": _t(
        "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules", "serverName", "firewallRuleName"
    ),
    "azure-native:dbforpostgresql:Configuration": _t(
        "Microsoft.DBforPostgreSQL/flexibleServers/configurations", "serverName", "configurationName"
    ),
    "azure-native:dbforpostgresql:Administrator": _t(
        "Microsoft.DBforPostgreSQL/flexibleServers/administrators", "serverName", "objectId"
    ),
    "azure-native:redisenterprise:RedisEnterprise": _t("Microsoft.Cache/redisEnterprise", "clusterName"),
    "azure-native:redisenterprise:Database": _t(
        "Microsoft.Cache/redisEnterprise/databases", "clusterName", "databaseName"
    ),
    "azure-native:redisenterprise:AccessPolicyAssignment": _t(
        "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments",
        "clusterName",
        "databaseName",
        "accessPolicyAssignmentName",
    ),
    # hosting
    "azure-native:containerregistry:Registry": _t("Microsoft.ContainerRegistry/registries", "registryName"),
    "azure-native:containerregistry:Replication": _t(
        "Microsoft.ContainerRegistry/registries/replications", "registryName", "replicationName"
    ),
    "azure-native:app:ManagedEnvironment": _t("Microsoft.App/managedEnvironments", "environmentName"),
    "azure-native:app:ContainerApp": _t("Microsoft.App/containerApps", "containerAppName"),
    "azure-native:app:Job": _t("Microsoft.App/jobs", "jobName"),
    "azure-native:web:StaticSite": _t("Microsoft.Web/staticSites", "name"),
    # storage (voice recordings)
    "azure-native:storage:StorageAccount": _t(
        "Microsoft.Storage/storageAccounts",
        "accountName",
        # azure-native's names for two ARM properties of the account.
        renames={"networkRuleSet": "networkAcls", "enableHttpsTrafficOnly": "supportsHttpsTrafficOnly"},
        nested_renames={
            "properties.encryption.encryptionIdentity": "identity",
            "properties.encryption.identity.encryptionUserAssignedIdentity": "userAssignedIdentity",
        },
    ),
    "azure-native:storage:BlobServiceProperties": _t(
        "Microsoft.Storage/storageAccounts/blobServices", "accountName", "blobServicesName"
    ),
    "azure-native:storage:BlobContainer": _t(
        "Microsoft.Storage/storageAccounts/blobServices/containers",
        "accountName",
        "containerName",
        literals={1: "default"},  # the one blob service of an account
    ),
    "azure-native:storage:ManagementPolicy": _t(
        "Microsoft.Storage/storageAccounts/managementPolicies", "accountName", "managementPolicyName"
    ),
    "azure-native:web:StaticSiteCustomDomain": _t(
        "Microsoft.Web/staticSites/customDomains", "name", "domainName"
    ),
}

#: Types that are not resources of a resource-group deployment, and why.
NOT_ARM = {
    "azure-native:resources:ResourceGroup": "the resource group is the deployment's scope, not in it",
}


class ExportError(Exception):
    """A planned resource cannot be written as ARM (a parent name is missing); says which and why."""


@dataclass(frozen=True)
class Skipped:
    type: str
    name: str
    reason: str


def _sdk_class(type_token: str) -> Any:
    """The installed azure-native SDK's resource class for `type_token`, or None (another provider)."""
    package, module, name = type_token.split(":")
    if package != "azure-native":
        return None
    try:
        return getattr(importlib.import_module(f"pulumi_azure_native.{module}"), name)
    except (ImportError, AttributeError):
        return None


@functools.cache
def api_version(type_token: str) -> str | None:
    """The ARM API version the installed azure-native SDK uses for `type_token`, from its class docs."""
    cls = _sdk_class(type_token)
    if cls is None:
        return None
    docs = [getattr(f, "__doc__", None) or "" for f in typing.get_overloads(cls.__init__)]
    if not any(docs):  # overloads not registered (an older typing): read the class's source
        try:
            docs = [inspect.getsource(cls)]
        except (OSError, TypeError):
            return None
    for doc in docs:
        match = _API_VERSION.search(doc)
        if match:
            return match.group("version")
    return None


def taggable(type_token: str) -> bool:
    """Whether an azure-native resource type takes ARM `tags` (so the SOP tags must be on it)."""
    cls = _sdk_class(type_token)
    if cls is None:
        return False
    parameter = inspect.signature(cls._internal_init).parameters.get("tags")
    # ARM tags are a string map; a few types (APIM named values) call a list of labels "tags".
    return parameter is not None and "Mapping" in str(parameter.annotation)


def _plain(value: Any) -> Any:
    """Integral floats (the wire form's numbers) as ints; the rest unchanged, recursively."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class _Entry:
    record: PlannedResource
    arm: ArmType
    arm_type: str
    segments: list[str]

    @property
    def name(self) -> str:
        return "/".join(self.segments)

    @property
    def resource_id(self) -> str:
        return f"[resourceId({', '.join(_quote(p) for p in [self.arm_type, *self.segments])})]"


class _Secrets:
    """Collects secret values and hands out the `securestring` parameter that stands for each."""

    def __init__(self) -> None:
        self.parameters: dict[str, str] = {}  # parameter name -> what it stands for
        self.values: set[str] = set()

    def parameter(self, resource: str, path: str, value: Any = None) -> str:
        if isinstance(value, str) and value:
            self.values.add(value)
        base = re.sub(r"[^A-Za-z0-9]+", "_", f"{resource}_{path}").strip("_")
        name, n = base, 2
        while name in self.parameters:
            name, n = f"{base}_{n}", n + 1
        self.parameters[name] = f"secret input {path} of {resource}"
        return f"[parameters({_quote(name)})]"


class _Converter:
    def __init__(self, entries: Sequence[_Entry], secrets: _Secrets) -> None:
        self.secrets = secrets
        self.by_key: dict[tuple[str, str], _Entry] = {}
        for entry in entries:
            self.by_key[(entry.record.type, entry.record.name)] = entry
            self.by_key.setdefault((entry.record.type, entry.segments[-1]), entry)

    def reference(self, value: str) -> str:
        """A mock resource id as a `resourceId()` expression of the resource it names."""
        match = _MOCK_ID.match(value)
        if not match:
            return value
        token = ":".join(match.group("package", "module", "kind"))
        if token in NOT_ARM:
            return "[resourceGroup().id]"
        entry = self.by_key.get((token, match.group("name")))
        if entry is not None:
            return entry.resource_id
        arm = ARM_TYPES.get(token)
        if arm is not None and len(arm.names) == 1 and "{" not in arm.type:  # not planned here: by name
            return f"[resourceId({_quote(arm.type)}, {_quote(match.group('name'))})]"
        return value

    def value(self, value: Any, resource: str, path: str) -> Any:
        """Secrets to parameters, unknowns to a placeholder, mock ids to references; recursively."""
        if _is_secret(value):
            return self.secrets.parameter(resource, path, value.get("value"))
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                sub = f"{path}.{key}" if path else key
                if _SECRET_KEY.search(key) and isinstance(item, str) and item:
                    out[key] = self.secrets.parameter(resource, sub, item)
                else:
                    out[key] = self.value(item, resource, sub)
            return out
        if isinstance(value, list):
            return [self.value(item, resource, f"{path}[{i}]") for i, item in enumerate(value)]
        if value == UNKNOWN:
            return UNKNOWN_PLACEHOLDER
        if isinstance(value, str):
            return self.reference(value)
        return value


def _set_secret(body: dict[str, Any], dotted: str, secrets: _Secrets, resource: str) -> None:
    *parents, leaf = dotted.split(".")
    node: Any = body
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and leaf in node and not str(node[leaf]).startswith("[parameters("):
        node[leaf] = secrets.parameter(resource, dotted, node[leaf])


def _entry(record: PlannedResource, arm: ArmType) -> _Entry:
    inputs = record.properties
    segments: list[str] = []
    for i, key in enumerate(arm.names):
        if len(segments) in arm.literals:
            segments.append(arm.literals[len(segments)])
        part = inputs.get(key)
        if not isinstance(part, str) or not part:
            if i < len(arm.names) - 1:
                raise ExportError(f"{record.type} {record.name}: no {key!r} input to name its parent")
            part = record.name  # autonamed: the logical name stands in for the name Azure will get
        segments.append(part)
    arm_type = arm.type.format_map({k: v for k, v in inputs.items() if isinstance(v, str)})
    return _Entry(record, arm, arm_type, segments)


def _resource(entry: _Entry, convert: _Converter, api: str, depends_on: list[str]) -> dict[str, Any]:
    record, arm = entry.record, entry.arm
    label = record.name
    path_inputs = {*arm.names, *arm.drop, "resourceGroupName", *([arm.scope] if arm.scope else [])}
    body = convert.value(_plain(dict(record.properties)), label, "")
    resource: dict[str, Any] = {"type": entry.arm_type, "apiVersion": api, "name": entry.name}
    if arm.scope and isinstance(record.properties.get(arm.scope), str):
        resource["scope"] = convert.reference(record.properties[arm.scope])
    properties: dict[str, Any] = dict(body.pop("properties", None) or {})
    for key, item in body.items():
        if key in path_inputs:
            continue
        if key in TOP_LEVEL and key not in arm.nested:
            resource[key] = item
        else:
            properties[arm.renames.get(key, key)] = item
    if properties:
        resource["properties"] = properties
    for dotted, new_key in arm.nested_renames.items():
        *parents, old_key = dotted.split(".")
        holder: Any = resource
        for part in parents:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and old_key in holder:
            holder[new_key] = holder.pop(old_key)
    for dotted, keep in arm.unflatten.items():
        node: Any = resource
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            moved = {k: node.pop(k) for k in [k for k in node if k not in keep and k != "properties"]}
            if moved:
                node["properties"] = {**(node.get("properties") or {}), **moved}
    for dotted in arm.secrets:
        _set_secret(resource, dotted, convert.secrets, label)
    if depends_on:
        resource["dependsOn"] = depends_on
    resource["comments"] = f"pulumi {record.type} {record.name}"
    return resource


def _redact_known(node: Any, secrets: _Secrets, resource: str, path: str = "") -> Any:
    """Any string still holding a secret's value (interpolated into a longer one) becomes a parameter."""
    if isinstance(node, dict):
        return {k: _redact_known(v, secrets, resource, f"{path}.{k}" if path else k) for k, v in node.items()}
    if isinstance(node, list):
        return [_redact_known(v, secrets, resource, f"{path}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and any(len(s) >= 8 and s in node for s in secrets.values):
        return secrets.parameter(resource, path)
    return node


def to_template(records: Iterable[PlannedResource], *, stack: str) -> dict[str, Any]:
    """The ARM deployment template for one planned stack."""
    skipped: list[Skipped] = []
    entries: list[_Entry] = []
    versions: dict[str, str] = {}
    for record in records:
        if not record.custom:
            continue  # a component: only its children are resources
        package = record.type.split(":", 1)[0]
        arm = ARM_TYPES.get(record.type)
        version = api_version(record.type) if arm else None
        if package != "azure-native":
            skipped.append(Skipped(record.type, record.name, f"not an ARM resource ({package} provider)"))
        elif record.type in NOT_ARM:
            skipped.append(Skipped(record.type, record.name, NOT_ARM[record.type]))
        elif arm is None:
            skipped.append(Skipped(record.type, record.name, "no ARM mapping in policies/arm_export.py"))
        elif version is None:
            skipped.append(Skipped(record.type, record.name, "the azure-native SDK names no API version"))
        else:
            versions[record.type] = version
            entries.append(_entry(record, arm))
    secrets = _Secrets()
    convert = _Converter(entries, secrets)
    by_urn = {e.record.urn: e for e in entries}
    resources = []
    for entry in entries:
        depends_on = []
        for urn in entry.record.dependencies:
            target = by_urn.get(urn)
            if target is not None and target is not entry and target.resource_id not in depends_on:
                depends_on.append(target.resource_id)
        resource = _resource(entry, convert, versions[entry.record.type], depends_on)
        resources.append(resource)
    resources = [_redact_known(r, secrets, r["comments"].rsplit(" ", 1)[-1]) for r in resources]
    return {
        "$schema": SCHEMA,
        "contentVersion": CONTENT_VERSION,
        "metadata": {
            "generator": GENERATOR,
            "stack": stack,
            "note": "the offline plan of a Pulumi stack (mock ids and outputs); not for deployment",
            "skipped": [{"type": s.type, "name": s.name, "reason": s.reason} for s in skipped],
        },
        "parameters": {
            name: {"type": "securestring", "metadata": {"description": about}}
            for name, about in secrets.parameters.items()
        },
        "resources": resources,
    }


def parameters_file(template: Mapping[str, Any], template_file: str) -> dict[str, Any]:
    """A parameter file for the template: every secret an obvious placeholder (PSRule expands these)."""
    return {
        "$schema": PARAMETERS_SCHEMA,
        "contentVersion": CONTENT_VERSION,
        "metadata": {"template": f"./{template_file}"},
        "parameters": {name: {"value": SECRET_PLACEHOLDER} for name in template.get("parameters", {})},
    }


def write(records: Iterable[PlannedResource], *, stack: str, directory: Path) -> Path:
    """Write `<directory>/<stack>.json` (and its `<stack>.parameters.json`); return the template's path."""
    directory.mkdir(parents=True, exist_ok=True)
    template = to_template(records, stack=stack)
    path = directory / f"{stack}.json"
    path.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
    params = directory / f"{stack}.parameters.json"
    params.write_text(json.dumps(parameters_file(template, path.name), indent=2) + "\n", encoding="utf-8")
    return path
