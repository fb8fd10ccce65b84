"""The runtime path model: every network path the running system needs, decided from planned resources.

From a stack's planned resources (the inputs a preview registers, with their property dependencies)
this derives the paths the deployed service uses - browser -> UI, browser -> API (HTTP and websocket),
API -> AI gateway, gateway -> AI Services, API -> VoiceLive, API -> PostgreSQL, API -> Redis (the
shared limits), API -> Key Vault references, API -> registry pull, API -> Zep, API -> recordings
storage, telemetry -> Application Insights - and decides each:

* reachable: a route exists (a public endpoint the source may use, or a private endpoint in a VNet
  the source sits in or peers with, whose DNS zone has the right name and is linked to the source's VNet);
* unreachable: no route; the result names the hop that fails and the fix;
* undecided: a value that decides it is unknown until `pulumi up` (an id, an output) - advisory;
* not required: an end of the path is not in the plan (no container app on the local dev stack, no
  database, no Zep).

Resources are linked through property dependencies (URNs) first and by id or name equality second,
never by ARM id shapes alone: offline plans carry mock ids that are not ARM-shaped. The module reads
only the resources handed to it and imports nothing from the program (`app`, `components`, `stacks`)
or from the rest of the pack, so the standalone pack (`rules.azure.paths`, AZ-PATH-001) and
`engram check` judge any stack - ours or a customer's - the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

try:  # the analyzer's proxies raise this on a value unknown at preview
    from pulumi_policy.proxy import UnknownValueError
except ImportError:  # pragma: no cover - the pack always has pulumi-policy

    class UnknownValueError(Exception):  # type: ignore[no-redef]
        pass


# ---- resource types (pulumi-azure-native 3.x tokens) ---------------------------------------------

APP = "azure-native:app:ContainerApp"
ENVIRONMENT = "azure-native:app:ManagedEnvironment"
STATIC_SITE = "azure-native:web:StaticSite"
APIM = "azure-native:apimanagement:ApiManagementService"
APIM_NAMED_VALUE = "azure-native:apimanagement:NamedValue"
AI_ACCOUNT = "azure-native:cognitiveservices:Account"
POSTGRES = "azure-native:dbforpostgresql:Server"
POSTGRES_FIREWALL = "azure-native:dbforpostgresql:FirewallRule"
REDIS = "azure-native:redisenterprise:RedisEnterprise"  # Azure Managed Redis
VAULT = "azure-native:keyvault:Vault"
VAULT_SECRET = "azure-native:keyvault:Secret"  # noqa: S105 - a type token
REGISTRY = "azure-native:containerregistry:Registry"
APP_INSIGHTS = "azure-native:applicationinsights:Component"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
PEERING = "azure-native:network:VirtualNetworkPeering"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
ZONE = "azure-native:privatedns:PrivateZone"
ZONE_LINK = "azure-native:privatedns:VirtualNetworkLink"
RECORD_SET = "azure-native:privatedns:PrivateRecordSet"
STORAGE = "azure-native:storage:StorageAccount"

#: The input holding each type's ARM name (what ids and hostnames are made of).
ARM_NAME_KEY: dict[str, str] = {
    VAULT: "vaultName",
    AI_ACCOUNT: "accountName",
    POSTGRES: "serverName",
    REDIS: "clusterName",
    APIM: "serviceName",
    REGISTRY: "registryName",
    STATIC_SITE: "name",
    APP_INSIGHTS: "resourceName",
    ZONE: "privateZoneName",
    VNET: "virtualNetworkName",
    SUBNET: "subnetName",
    PRIVATE_ENDPOINT: "privateEndpointName",
    ENVIRONMENT: "environmentName",
    APP: "containerAppName",
    STORAGE: "accountName",
}

#: Private DNS zones per private-link group id: Azure's documented names (commercial cloud), the one
#: table the pack judges by (AZ-PE-001, the paths below) and the components create zones from.
#: https://learn.microsoft.com/azure/private-link/private-endpoint-dns
PRIVATE_DNS_ZONES: dict[str, tuple[str, ...]] = {
    "vault": ("privatelink.vaultcore.azure.net",),
    "account": (
        "privatelink.cognitiveservices.azure.com",
        "privatelink.openai.azure.com",
        "privatelink.services.ai.azure.com",
    ),
    "postgresqlServer": ("privatelink.postgres.database.azure.com",),
    "redisEnterprise": ("privatelink.redis.azure.net",),  # Azure Managed Redis
    "registry": ("privatelink.azurecr.io",),
    # Static Web Apps: the site's partition zone `privatelink.<n>.azurestaticapps.net`, taken from its
    # default host name; this is the unpartitioned form.
    "staticSites": ("privatelink.azurestaticapps.net",),
    "Gateway": ("privatelink.azure-api.net",),
    "sites": ("privatelink.azurewebsites.net",),
    "blob": ("privatelink.blob.core.windows.net",),
}
GROUP_OF_TYPE: dict[str, str] = {
    VAULT: "vault",
    AI_ACCOUNT: "account",
    POSTGRES: "postgresqlServer",
    REDIS: "redisEnterprise",
    REGISTRY: "registry",
    STATIC_SITE: "staticSites",
    APIM: "Gateway",
    STORAGE: "blob",  # the recordings account's blob endpoint (the only sub-resource the app uses)
}
#: Public hostname suffix -> the private zone its privatelink CNAME lands in.
ZONE_OF_HOST_SUFFIX: tuple[tuple[str, str], ...] = (
    (".vault.azure.net", "privatelink.vaultcore.azure.net"),
    (".cognitiveservices.azure.com", "privatelink.cognitiveservices.azure.com"),
    (".openai.azure.com", "privatelink.openai.azure.com"),
    (".services.ai.azure.com", "privatelink.services.ai.azure.com"),
    (".postgres.database.azure.com", "privatelink.postgres.database.azure.com"),
    (".redis.azure.net", "privatelink.redis.azure.net"),
    (".azurecr.io", "privatelink.azurecr.io"),
    (".azure-api.net", "privatelink.azure-api.net"),
    (".blob.core.windows.net", "privatelink.blob.core.windows.net"),
)
_STATIC_SITE_ZONE = re.compile(r"^privatelink(\.\d+)?\.azurestaticapps\.net$")
APIM_INTERNAL_ZONE = "azure-api.net"
ZEP_CLOUD_HOST = "api.getzep.com"

REACHABLE, UNREACHABLE, UNDECIDED, NOT_REQUIRED = "reachable", "unreachable", "undecided", "not required"

_UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)
_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105 - the engine's secret marker


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown at preview>"


#: A value unknown at preview (the engine's sentinel, or a proxy that raised).
UNKNOWN: Any = _Unknown()


def _plain(value: Any) -> Any:
    """A plain copy of a wire or proxied value: secrets unwrapped, unknowns as `UNKNOWN`."""
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        keys = list(value)
        if _SECRET_SIG_KEY in keys:
            return _plain(_read(value, "value"))
        return {key: _plain(_read(value, key)) for key in keys}
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        out = []
        for index in range(len(value)):
            try:
                out.append(_plain(value[index]))
            except UnknownValueError:
                out.append(UNKNOWN)
        return out
    if hasattr(value, "value") and type(value).__name__ == "Secret":  # pulumi_policy's secret wrapper
        return _plain(value.value)
    return value


def _read(mapping: Mapping[str, Any], key: str) -> Any:
    try:
        return mapping[key]
    except UnknownValueError:
        return UNKNOWN


def get(value: Any, *path: str) -> Any:
    """The value at `path` (None when a step is missing, UNKNOWN when a step is unknown)."""
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def listed(value: Any) -> list[Any] | Any:
    """A list value (missing = empty), or UNKNOWN."""
    if value is UNKNOWN:
        return UNKNOWN
    return list(value) if isinstance(value, list) else []


# ---- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Node:
    """One planned resource: type, URN, name, plain inputs, and property dependencies as URNs."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    deps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def arm_names(self) -> set[str]:
        names = {self.name.lower()}
        arm = self.props.get(ARM_NAME_KEY.get(self.type, ""))
        if isinstance(arm, str):
            names.add(arm.lower())
        return names

    @property
    def arm_name(self) -> str:
        arm = self.props.get(ARM_NAME_KEY.get(self.type, ""))
        return arm if isinstance(arm, str) else self.name


def node_of(resource: Any) -> Node:
    """A Node from a `policies.plan.PlannedResource` or a pulumi-policy `PolicyResource`."""
    type_ = getattr(resource, "resource_type", None) or resource.type
    raw = resource.props if hasattr(resource, "props") else resource.properties
    deps: dict[str, tuple[str, ...]] = {}
    for key, values in dict(resource.property_dependencies or {}).items():
        deps[key] = tuple(v if isinstance(v, str) else v.urn for v in values)
    props = _plain(raw)
    return Node(resource.urn, type_, resource.name, props if isinstance(props, dict) else {}, deps)


class Undecided(Exception):
    """A value the verdict depends on is unknown until `pulumi up`."""


def known(value: Any, what: str) -> Any:
    if value is UNKNOWN:
        raise Undecided(f"{what} is unknown until deploy")
    return value


def _host(url: Any) -> Any:
    if url is UNKNOWN:
        return UNKNOWN
    if not isinstance(url, str) or not url:
        return None
    parsed = urlparse(url if "://" in url else f"//{url}")
    return (parsed.hostname or "").lower() or None


def _last_segment(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1].lower()


class Plan:
    """The planned resources with the links between them resolved."""

    def __init__(self, resources: Iterable[Any]) -> None:
        self.nodes = [r if isinstance(r, Node) else node_of(r) for r in resources]
        self.by_urn = {n.urn: n for n in self.nodes}

    def of(self, *types: str) -> list[Node]:
        return [n for n in self.nodes if n.type in types]

    def linked(self, node: Node, key: str, *types: str) -> list[Node]:
        """The planned resources of `types` that input `key` of `node` depends on, in dependency order."""
        return [
            self.by_urn[u]
            for u in node.deps.get(key, ())
            if u in self.by_urn and self.by_urn[u].type in types
        ]

    def refs(self, node: Node, key: str, value: Any, *types: str) -> list[Node] | Any:
        """Resources of `types` that `node.<key>` (holding `value`) refers to.

        Property dependencies first; then a known id or name compared with the candidates' ARM and
        resource names. Returns UNKNOWN when the value is unknown and no dependency says more, and []
        for a known value naming nothing in the plan.
        """
        linked = self.linked(node, key, *types)
        if linked:
            return list(dict.fromkeys(linked))
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, str) or not value:
            return []
        wanted = _last_segment(value)
        return [n for n in self.of(*types) if wanted in n.arm_names]

    # -- networks ---------------------------------------------------------------------------------

    def vnet_key_of_subnet_ref(self, node: Node, key: str, subnet_id: Any) -> Any:
        """The VNet key of the subnet `node.<key>` names: a VNet URN, `id:<vnet id>` outside the plan,
        None when not set, UNKNOWN when unknown."""
        if subnet_id is None and not node.deps.get(key):
            return None
        subnets = self.refs(node, key, subnet_id, SUBNET)
        if subnets is UNKNOWN:
            return UNKNOWN
        if subnets:
            return self.vnet_of_subnet(subnets[0])
        if isinstance(subnet_id, str) and subnet_id:
            match = re.match(r"(?i)^(.*/virtualnetworks/[^/]+)/subnets/", subnet_id)
            return f"id:{match.group(1).lower()}" if match else f"id:{subnet_id.lower()}"
        return None

    def vnet_of_subnet(self, subnet: Node) -> Any:
        vnets = self.refs(subnet, "virtualNetworkName", subnet.props.get("virtualNetworkName"), VNET)
        if vnets is UNKNOWN:
            return UNKNOWN
        if vnets:
            return vnets[0].urn
        name = subnet.props.get("virtualNetworkName")
        return f"name:{name.lower()}" if isinstance(name, str) else UNKNOWN

    def vnet_key(self, node: Node, key: str, vnet_id: Any) -> Any:
        vnets = self.refs(node, key, vnet_id, VNET)
        if vnets is UNKNOWN:
            return UNKNOWN
        if vnets:
            return vnets[0].urn
        return f"id:{vnet_id.lower()}" if isinstance(vnet_id, str) and vnet_id else None

    def vnet_label(self, key: Any) -> str:
        if key is UNKNOWN:
            return "an unknown VNet"
        if isinstance(key, str) and key in self.by_urn:
            return self.by_urn[key].arm_name
        if isinstance(key, str) and key.startswith(("id:", "name:")):
            return key.split(":", 1)[1]
        return str(key)

    def peerings(self) -> list[tuple[Any, Any]]:
        pairs = []
        for peering in self.of(PEERING):
            local = self.vnet_key(peering, "virtualNetworkName", peering.props.get("virtualNetworkName"))
            remote = self.vnet_key(
                peering, "remoteVirtualNetwork", get(peering.props, "remoteVirtualNetwork", "id")
            )
            pairs.append((local, remote))
        return pairs

    def connected(self, a: Any, b: Any) -> bool:
        """Same VNet, or peered (the remote side of a peering to a VNet outside the plan is assumed)."""
        if a is UNKNOWN or b is UNKNOWN:
            raise Undecided("a VNet id is unknown until deploy")
        if a == b:
            return True
        return any({a, b} == {x, y} for x, y in self.peerings())

    def hubs(self) -> list[Any]:
        """VNets outside the plan that a planned VNet peers with (where corporate users arrive)."""
        return [
            remote
            for local, remote in self.peerings()
            if isinstance(local, str) and local in self.by_urn and remote not in self.by_urn
        ]

    # -- DNS --------------------------------------------------------------------------------------

    def zone_name(self, zone: Node) -> Any:
        return zone.props.get("privateZoneName")

    def links(self, zone: Node) -> list[Any]:
        """The VNet keys `zone` is linked to (UNKNOWN entries for links whose VNet is unknown)."""
        found = []
        for link in self.of(ZONE_LINK):
            zones = self.refs(link, "privateZoneName", link.props.get("privateZoneName"), ZONE)
            if zones is UNKNOWN or zone not in zones:
                continue
            found.append(self.vnet_key(link, "virtualNetwork", get(link.props, "virtualNetwork", "id")))
        return found

    def linked_to(self, zone: Node, vnets: Sequence[Any]) -> Any:
        """The first of `vnets` the zone is linked to; None if none; raises Undecided if unknowable."""
        links = self.links(zone)
        for vnet in vnets:
            if vnet is not UNKNOWN and vnet in links:
                return vnet
        if UNKNOWN in links or UNKNOWN in vnets:
            raise Undecided(f"the VNet of a link of zone {zone.arm_name} is unknown until deploy")
        return None

    def records(self, zone: Node) -> list[Node]:
        out = []
        for record in self.of(RECORD_SET):
            zones = self.refs(record, "privateZoneName", record.props.get("privateZoneName"), ZONE)
            if zones is not UNKNOWN and zone in zones:
                out.append(record)
        return out

    def zone_groups(self, endpoint: Node) -> list[Node]:
        found = []
        for group in self.of(ZONE_GROUP):
            endpoints = self.refs(
                group, "privateEndpointName", group.props.get("privateEndpointName"), PRIVATE_ENDPOINT
            )
            if endpoints is UNKNOWN:
                raise Undecided(
                    f"the private endpoint of DNS zone group {group.name} is unknown until deploy"
                )
            if endpoint in endpoints:
                found.append(group)
        return found

    def group_zones(self, group: Node) -> list[tuple[str, Node | None]]:
        """(zone name, planned zone or None) for each zone config of a DNS zone group."""
        configs = known(listed(group.props.get("privateDnsZoneConfigs")), f"{group.name} zone configs")
        planned = self.linked(group, "privateDnsZoneConfigs", ZONE)
        out: list[tuple[str, Node | None]] = []
        for config in configs:
            zone_id = get(config, "privateDnsZoneId")
            if isinstance(zone_id, str) and zone_id:
                wanted = _last_segment(zone_id)
                match = [z for z in (planned or self.of(ZONE)) if wanted in z.arm_names]
                if match:
                    out.append((str(known(self.zone_name(match[0]), "a zone name")).lower(), match[0]))
                else:
                    out.append((wanted, None))
        if not out and planned:  # ids unknown at preview: the dependencies name the zones
            for zone in planned:
                out.append((str(known(self.zone_name(zone), f"zone {zone.name} name")).lower(), zone))
        if not out and configs:
            raise Undecided(f"the zones of DNS zone group {group.name} are unknown until deploy")
        return out

    # -- private endpoints ------------------------------------------------------------------------

    def endpoints_of(self, target: Node) -> list[Node]:
        found = []
        for endpoint in self.of(PRIVATE_ENDPOINT):
            for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
                if target.urn in endpoint.deps.get(key, ()):
                    found.append(endpoint)
                    break
                conns = listed(endpoint.props.get(key))
                if conns is UNKNOWN:
                    continue
                ids = [get(c, "privateLinkServiceId") for c in conns]
                if any(isinstance(i, str) and _last_segment(i) in target.arm_names for i in ids):
                    found.append(endpoint)
                    break
        return found

    def endpoint_groups(self, endpoint: Node) -> set[str]:
        groups: set[str] = set()
        for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
            conns = known(listed(endpoint.props.get(key)), f"{endpoint.name} connections")
            for conn in conns:
                ids = known(listed(get(conn, "groupIds")), f"{endpoint.name} group ids")
                groups.update(str(g).lower() for g in ids if isinstance(g, str))
        return groups

    def endpoint_vnet(self, endpoint: Node) -> Any:
        return self.vnet_key_of_subnet_ref(endpoint, "subnet", get(endpoint.props, "subnet", "id"))


# ---- sources and verdicts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    label: str
    vnets: tuple[Any, ...]  # VNet keys the source resolves and connects from
    azure: bool  # egress from Azure (a PostgreSQL 0.0.0.0 rule admits it)
    users: bool = False  # people arriving from the internet or a peered corporate hub
    no_vnet_fix: str = ""  # the fix when the source needs to be in a VNet and is not


@dataclass(frozen=True)
class PathResult:
    """One path and its verdict; `hop` and `fix` say what fails and what to do (unreachable only)."""

    source: str
    target: str
    verdict: str
    route: str
    hop: str = ""
    fix: str = ""
    urn: str | None = None  # the target resource (for reporting)

    @property
    def required(self) -> bool:
        return self.verdict != NOT_REQUIRED

    @property
    def name(self) -> str:
        return f"{self.source} -> {self.target}"


@dataclass(frozen=True)
class _Fail:
    hop: str
    fix: str


@dataclass(frozen=True)
class _Open:
    route: str


def _pna(value: Any) -> Any:
    """publicNetworkAccess as 'enabled' / 'disabled' (unset = enabled); UNKNOWN stays."""
    if value is UNKNOWN:
        return UNKNOWN
    return "disabled" if isinstance(value, str) and value.lower() == "disabled" else "enabled"


def _closed(access: Any, label: str) -> _Fail | None:
    """The verdict when publicNetworkAccess shuts the target's public endpoint; raises while unknown."""
    if known(_pna(access), f"{label} publicNetworkAccess") == "disabled":
        return _Fail(f"{label} has public network access disabled", "")
    return None


class Model:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    # -- the public endpoint --------------------------------------------------------------------

    def _acl(self, target: Node, acls: Any, label: str, trusted_note: str) -> _Open | _Fail | None:
        """A `networkAcls`-style firewall: None when it admits everyone."""
        if acls is UNKNOWN:
            raise Undecided(f"{label} network ACLs are unknown until deploy")
        action = get(acls, "defaultAction")
        if known(action, f"{label} firewall default action") is None or str(action).lower() != "deny":
            return None
        if listed(get(acls, "ipRules")) or listed(get(acls, "virtualNetworkRules")):
            raise Undecided(
                f"{label} firewall admits listed IPs/subnets only; the source's egress is not in the plan"
            )
        return _Fail(
            f"{label} firewall denies by default ({trusted_note})",
            f"reach {label} through a private endpoint, or allow the source in its firewall",
        )

    def public(self, target: Node, source: Source) -> _Open | _Fail:
        """Whether the source may use the target's public endpoint."""
        t, p, label = target.type, target.props, f"{_kind(target)} {target.arm_name}"
        if t in (VAULT, AI_ACCOUNT):
            if (closed := _closed(get(p, "properties", "publicNetworkAccess"), label)) is not None:
                return closed
            note = (
                "Container Apps are not a trusted Azure service"
                if t == VAULT
                else "API Management is not a trusted service for Cognitive Services"
            )
            acl = self._acl(target, get(p, "properties", "networkAcls"), label, note)
            return acl or _Open(f"public endpoint of {label}")
        if t == POSTGRES:
            network = get(p, "network")
            if get(network, "delegatedSubnetResourceId") not in (None, ""):
                return _Fail(f"{label} is VNet-injected (no public endpoint)", "")
            if (closed := _closed(get(network, "publicNetworkAccess"), label)) is not None:
                return closed
            return self._postgres_firewall(target, source, label)
        if t == REDIS:
            if (closed := _closed(p.get("publicNetworkAccess"), label)) is not None:
                return closed
            return _Open(f"public endpoint of {label} (TLS, Entra tokens)")
        if t == APIM:
            vnet_type = known(p.get("virtualNetworkType"), f"{label} virtualNetworkType")
            if isinstance(vnet_type, str) and vnet_type.lower() == "internal":
                return _Fail(f"{label} is in Internal VNet mode (no public gateway)", "")
            if (closed := _closed(p.get("publicNetworkAccess"), label)) is not None:
                return closed
            return _Open(f"public gateway of {label}")
        if t == REGISTRY:
            if (closed := _closed(p.get("publicNetworkAccess"), label)) is not None:
                return closed
            acl = self._acl(
                target, p.get("networkRuleSet"), label, "Container Apps are not a trusted service for ACR"
            )
            return acl or _Open(f"public endpoint of {label}")
        if t == STATIC_SITE:
            if (closed := _closed(p.get("publicNetworkAccess"), label)) is not None:
                return closed
            if self.plan.endpoints_of(target):
                return _Fail(f"{label} has a private endpoint, which closes its public endpoint", "")
            return _Open(f"public endpoint of {label}")
        if t == STORAGE:
            if (closed := _closed(p.get("publicNetworkAccess"), label)) is not None:
                return closed
            acl = self._acl(
                target,
                p.get("networkRuleSet"),
                label,
                "Container Apps are not a trusted service for Storage",
            )
            return acl or _Open(f"public endpoint of {label}")
        if t == APP_INSIGHTS:
            access = known(
                _pna(p.get("publicNetworkAccessForIngestion")), f"{label} publicNetworkAccessForIngestion"
            )
            if access == "disabled":
                if any(
                    "azuremonitor" in self.plan.endpoint_groups(pe) for pe in self.plan.of(PRIVATE_ENDPOINT)
                ):
                    raise Undecided("ingestion is private through an Azure Monitor Private Link Scope")
                return _Fail(
                    f"{label} has public ingestion disabled and no Azure Monitor Private Link Scope",
                    f"set publicNetworkAccessForIngestion Enabled on {label}, "
                    f"or add an AMPLS private endpoint",
                )
            return _Open(f"public ingestion endpoint of {label}")
        return _Open(f"public endpoint of {label}")

    def _postgres_firewall(self, server: Node, source: Source, label: str) -> _Open | _Fail:
        rules = []
        for rule in self.plan.of(POSTGRES_FIREWALL):
            servers = self.plan.refs(rule, "serverName", rule.props.get("serverName"), POSTGRES)
            if servers is UNKNOWN:
                raise Undecided(f"the server of firewall rule {rule.name} is unknown until deploy")
            if server in servers:
                start = known(rule.props.get("startIpAddress"), f"{rule.name} startIpAddress")
                end = known(rule.props.get("endIpAddress"), f"{rule.name} endIpAddress")
                rules.append((rule.name, start, end))
        for name, start, end in rules:
            if start == "0.0.0.0" and end == "255.255.255.255":
                return _Open(f"public endpoint of {label} (firewall rule {name} admits every address)")
        for name, start, end in rules:
            if start == "0.0.0.0" and end == "0.0.0.0" and source.azure:
                return _Open(f"public endpoint of {label} (firewall rule {name} allows Azure services)")
        if rules:
            raise Undecided(
                f"{label} firewall admits listed ranges only; the source's egress IP is not in the plan"
            )
        return _Fail(
            f"{label} has public access but no firewall rule, so nothing can connect",
            f"add a firewall rule to {label} (0.0.0.0-0.0.0.0 allows Azure services) or a private endpoint",
        )

    # -- private routes -------------------------------------------------------------------------

    def expected_zones(self, target: Node, host: Any) -> tuple[str, ...]:
        group = GROUP_OF_TYPE[target.type]
        if isinstance(host, str):
            for suffix, zone in ZONE_OF_HOST_SUFFIX:
                if host.endswith(suffix) and zone in PRIVATE_DNS_ZONES[group]:
                    return (zone,)
        return PRIVATE_DNS_ZONES[group][:1]

    def _zone_ok(self, target: Node, zone: str, expected: tuple[str, ...]) -> bool:
        if target.type == STATIC_SITE:
            return bool(_STATIC_SITE_ZONE.match(zone))
        return zone in expected

    def private_endpoint_route(self, target: Node, source: Source, host: Any) -> _Open | list[_Fail]:
        label = f"{_kind(target)} {target.arm_name}"
        group = GROUP_OF_TYPE.get(target.type)
        endpoints = self.plan.endpoints_of(target) if group else []
        if not endpoints:
            return []
        expected = self.expected_zones(target, host)
        fails: list[_Fail] = []
        for endpoint in endpoints:
            groups = self.plan.endpoint_groups(endpoint)
            if group and group.lower() not in groups:
                fails.append(
                    _Fail(
                        f"private endpoint {endpoint.name} connects group(s) {sorted(groups)}, not {group!r}",
                        f"set groupIds [{group!r}] on private endpoint {endpoint.name}",
                    )
                )
                continue
            pe_vnet = known(
                self.plan.endpoint_vnet(endpoint), f"the VNet of private endpoint {endpoint.name}"
            )
            if not source.vnets:
                fails.append(
                    _Fail(
                        f"{source.label} has no VNet, so it cannot use private endpoint {endpoint.name}",
                        source.no_vnet_fix or f"put {source.label} into a VNet that reaches {endpoint.name}",
                    )
                )
                continue
            near = [v for v in source.vnets if self.plan.connected(v, pe_vnet)]
            if not near:
                fails.append(
                    _Fail(
                        f"private endpoint {endpoint.name} is in VNet {self.plan.vnet_label(pe_vnet)}, which "
                        f"{source.label} (in {self._vnets(source)}) neither is in nor peers with",
                        f"peer {self._vnets(source)} with {self.plan.vnet_label(pe_vnet)}, or place the "
                        f"private endpoint in the source's VNet",
                    )
                )
                continue
            groups_of_pe = self.plan.zone_groups(endpoint)
            if not groups_of_pe:
                fails.append(
                    _Fail(
                        f"private endpoint {endpoint.name} has no DNS zone group, so {label}'s name "
                        f"resolves to its public address",
                        f"add a PrivateDnsZoneGroup on {endpoint.name} with zone {expected[0]}",
                    )
                )
                continue
            zones = [z for g in groups_of_pe for z in self.plan.group_zones(g)]
            good = [(n, z) for n, z in zones if self._zone_ok(target, n, expected)]
            if not good:
                fails.append(
                    _Fail(
                        f"the DNS zone group of {endpoint.name} uses {sorted(n for n, _ in zones)}, "
                        f"not {expected[0]}",
                        f"put the private endpoint's record in zone {expected[0]}",
                    )
                )
                continue
            planned = [(n, z) for n, z in good if z is not None]
            if not planned:
                raise Undecided(f"zone {good[0][0]} is outside the plan; its VNet links cannot be checked")
            for zone_name, zone in planned:
                linked = self.plan.linked_to(zone, source.vnets)
                if linked is not None:
                    return _Open(
                        f"private endpoint {endpoint.name} in {self.plan.vnet_label(pe_vnet)}, "
                        f"zone {zone_name} linked to {self.plan.vnet_label(linked)}"
                    )
            zone_name = planned[0][0]
            fails.append(
                _Fail(
                    f"zone {zone_name} is not linked to {self._vnets(source)}, so {source.label} resolves "
                    f"{label} to its public address",
                    f"link zone {zone_name} to VNet {self._vnets(source)}",
                )
            )
        return fails

    def _vnets(self, source: Source) -> str:
        return ", ".join(self.plan.vnet_label(v) for v in source.vnets) or "no VNet"

    def internal_apim_route(self, apim: Node, source: Source) -> _Open | list[_Fail] | None:
        """An Internal-mode gateway: reachable from a connected VNet with the azure-api.net zone."""
        vnet_type = apim.props.get("virtualNetworkType")
        if not (isinstance(vnet_type, str) and vnet_type.lower() == "internal"):
            return None
        label = f"API Management {apim.arm_name}"
        apim_vnet = known(
            self.plan.vnet_key_of_subnet_ref(
                apim,
                "virtualNetworkConfiguration",
                get(apim.props, "virtualNetworkConfiguration", "subnetResourceId"),
            ),
            f"the subnet of {label}",
        )
        if apim_vnet is None:
            return [
                _Fail(
                    f"{label} is Internal but has no subnet",
                    "set virtualNetworkConfiguration.subnetResourceId",
                )
            ]
        if not source.vnets:
            return [_Fail(f"{label} is Internal and {source.label} has no VNet", source.no_vnet_fix)]
        if not any(self.plan.connected(v, apim_vnet) for v in source.vnets):
            return [
                _Fail(
                    f"{label} is in VNet {self.plan.vnet_label(apim_vnet)}, which {source.label} "
                    f"neither is in nor peers with",
                    f"peer {self._vnets(source)} with {self.plan.vnet_label(apim_vnet)}",
                )
            ]
        zones = [z for z in self.plan.of(ZONE) if z.props.get("privateZoneName") == APIM_INTERNAL_ZONE]
        with_record = [z for z in zones if self._has_a_record(z, apim, apim.arm_names)]
        if not with_record:
            return [
                _Fail(
                    f"no private zone {APIM_INTERNAL_ZONE} with an A record for {apim.arm_name}: the "
                    f"internal gateway's name does not resolve",
                    f"add private zone {APIM_INTERNAL_ZONE} with an A record {apim.arm_name} -> the "
                    f"gateway's "
                    f"private IP, linked to VNet {self._vnets(source)}",
                )
            ]
        for zone in with_record:
            linked = self.plan.linked_to(zone, source.vnets)
            if linked is not None:
                return _Open(
                    f"internal gateway in {self.plan.vnet_label(apim_vnet)}, zone {APIM_INTERNAL_ZONE} "
                    f"(A {apim.arm_name}) linked to {self.plan.vnet_label(linked)}"
                )
        return [
            _Fail(
                f"zone {APIM_INTERNAL_ZONE} is not linked to {self._vnets(source)}",
                f"link zone {APIM_INTERNAL_ZONE} to VNet {self._vnets(source)}",
            )
        ]

    def _has_a_record(self, zone: Node, owner: Node, names: set[str]) -> bool:
        for record in self.plan.records(zone):
            record_type = record.props.get("recordType")
            if isinstance(record_type, str) and record_type.upper() != "A":
                continue
            relative = record.props.get("relativeRecordSetName")
            if owner.urn in record.deps.get("relativeRecordSetName", ()):
                return True
            if relative is UNKNOWN:
                raise Undecided(f"the name of record {record.name} is unknown until deploy")
            if isinstance(relative, str) and relative.lower() in names:
                return True
        return False

    def decide(self, source: Source, target: Node, host: Any = None) -> tuple[str, str, str, str]:
        """(verdict, route, hop, fix) for `source` reaching `target`."""
        label = f"{_kind(target)} {target.arm_name}"
        try:
            fails: list[_Fail] = []
            if target.type == APIM:
                internal = self.internal_apim_route(target, source)
                if isinstance(internal, _Open):
                    return REACHABLE, internal.route, "", ""
                fails += internal or []
            private = self.private_endpoint_route(target, source, host)
            if isinstance(private, _Open):
                return REACHABLE, private.route, "", ""
            fails += private
            public = self.public(target, source)
            if isinstance(public, _Open):
                return REACHABLE, public.route, "", ""
            if fails:
                return UNREACHABLE, "none", fails[0].hop, fails[0].fix
            if public.fix:
                return UNREACHABLE, "none", public.hop, public.fix
            if not source.vnets:
                return (
                    UNREACHABLE,
                    "none",
                    f"{public.hop}, and {source.label} has no VNet",
                    (source.no_vnet_fix or f"give {source.label} a route into the target's VNet"),
                )
            group = GROUP_OF_TYPE.get(target.type, "")
            zone = self.expected_zones(target, host)[0] if group else ""
            return (
                UNREACHABLE,
                "none",
                f"{public.hop} and {label} has no private endpoint",
                (
                    f"add a private endpoint (group {group!r}) for {label} in {self._vnets(source)} "
                    f"with zone "
                    f"{zone} linked to it"
                ),
            )
        except Undecided as exc:
            return UNDECIDED, str(exc), "", ""

    # -- where sources sit --------------------------------------------------------------------------

    def app_source(self, app: Node) -> Source:
        label = f"API (container app {app.arm_name})"
        env = self.environment_of(app)
        fix = "put the Container Apps environment in a VNet (vnetConfiguration.infrastructureSubnetId)"
        if env is UNKNOWN:
            return Source(label, (UNKNOWN,), azure=True, no_vnet_fix=fix)
        if env is None:
            return Source(label, (), azure=True, no_vnet_fix=fix)
        vnet = self.plan.vnet_key_of_subnet_ref(
            env, "vnetConfiguration", get(env.props, "vnetConfiguration", "infrastructureSubnetId")
        )
        return Source(label, (vnet,) if vnet is not None else (), azure=True, no_vnet_fix=fix)

    def environment_of(self, app: Node) -> Any:
        envs = self.plan.refs(app, "managedEnvironmentId", app.props.get("managedEnvironmentId"), ENVIRONMENT)
        if envs is UNKNOWN:
            return UNKNOWN
        return envs[0] if envs else None

    def gateway_source(self, apim: Node) -> Source:
        label = f"gateway (API Management {apim.arm_name})"
        fix = (
            f"give the gateway VNet integration/injection: virtualNetworkType Internal or External with "
            f"virtualNetworkConfiguration.subnetResourceId in {self._stack_vnets() or 'the stack VNet'}"
        )
        vnet_type = apim.props.get("virtualNetworkType")
        if vnet_type is UNKNOWN:
            return Source(label, (UNKNOWN,), azure=True, no_vnet_fix=fix)
        if isinstance(vnet_type, str) and vnet_type.lower() in ("internal", "external"):
            vnet = self.plan.vnet_key_of_subnet_ref(
                apim,
                "virtualNetworkConfiguration",
                get(apim.props, "virtualNetworkConfiguration", "subnetResourceId"),
            )
            return Source(label, (vnet,) if vnet is not None else (), azure=True, no_vnet_fix=fix)
        return Source(label, (), azure=True, no_vnet_fix=fix)

    def _stack_vnets(self) -> str:
        return ", ".join(v.arm_name for v in self.plan.of(VNET))

    def users(self) -> Source:
        hubs = tuple(self.plan.hubs())
        return Source(
            "browser"
            + (f" (internet or hub {', '.join(self.plan.vnet_label(h) for h in hubs)})" if hubs else ""),
            hubs,
            azure=False,
            users=True,
            no_vnet_fix=(
                f"peer {self._stack_vnets() or 'the stack VNet'} with the corporate hub VNet and link the "
                f"private DNS zones to the hub VNet"
            ),
        )


def _kind(node: Node) -> str:
    return {
        VAULT: "Key Vault",
        AI_ACCOUNT: "AI Services",
        POSTGRES: "PostgreSQL",
        REDIS: "Azure Managed Redis",
        APIM: "API Management",
        REGISTRY: "registry",
        STATIC_SITE: "Static Web App",
        APP_INSIGHTS: "Application Insights",
        ENVIRONMENT: "Container Apps environment",
        APP: "container app",
        STORAGE: "storage account",
    }.get(node.type, node.type.rsplit(":", 1)[-1])


# ---- the paths ----------------------------------------------------------------------------------


def _env(app: Node, name: str) -> Any:
    """(present, value) of env var `name`: value is the literal, UNKNOWN, or "secretRef:<name>"."""
    containers = listed(get(app.props, "template", "containers"))
    if containers is UNKNOWN:
        return UNKNOWN
    for container in containers:
        env = listed(get(container, "env"))
        if env is UNKNOWN:
            return UNKNOWN
        for entry in env:
            if get(entry, "name") == name:
                ref = get(entry, "secretRef")
                if isinstance(ref, str):
                    return f"secretRef:{ref}"
                value = get(entry, "value")
                return value if value is not None else ""
    return None


def _api_app(plan: Plan) -> Node | None:
    apps = plan.of(APP)
    for app in apps:
        if _env(app, "AZURE_AI_ENDPOINT") is not None or _env(app, "AZURE_VOICELIVE_ENDPOINT") is not None:
            return app
    with_ingress = [a for a in apps if get(a.props, "configuration", "ingress") not in (None, {})]
    candidates = with_ingress or apps
    return candidates[0] if candidates else None


def _by_host(plan: Plan, host: str) -> Node | None:
    for apim in plan.of(APIM):
        if any(host == f"{n}.azure-api.net" for n in apim.arm_names):
            return apim
    for account in plan.of(STORAGE):
        if any(host == f"{n}.blob.core.windows.net" for n in account.arm_names):
            return account
    for account in plan.of(AI_ACCOUNT):
        sub = get(account.props, "properties", "customSubDomainName")
        names = {sub.lower()} if isinstance(sub, str) else set()
        names |= account.arm_names
        for n in names:
            if host in (
                f"{n}.cognitiveservices.azure.com",
                f"{n}.openai.azure.com",
                f"{n}.services.ai.azure.com",
            ):
                return account
    return None


class _Paths:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.model = Model(plan)
        self.app = _api_app(plan)
        self.out: list[PathResult] = []

    def add(
        self,
        source: str,
        target: str,
        verdict: str,
        route: str,
        hop: str = "",
        fix: str = "",
        urn: str | None = None,
    ) -> None:
        self.out.append(PathResult(source, target, verdict, route, hop, fix, urn))

    def decide(self, source: Source, target_label: str, node: Node, host: Any = None) -> None:
        verdict, route, hop, fix = self.model.decide(source, node, host)
        self.add(source.label, target_label, verdict, route, hop, fix, node.urn)

    def api_source(self) -> Source | None:
        if self.app is not None:
            return self.model.app_source(self.app)
        return None

    def developer(self) -> Source:
        return Source(
            "developer machine", (), azure=False, no_vnet_fix="reach it from a VNet-connected machine"
        )

    # -- browser ------------------------------------------------------------------------------

    def browser_ui(self) -> None:
        sites = self.plan.of(STATIC_SITE)
        if not sites:
            self.add("browser", "UI (Static Web App)", NOT_REQUIRED, "no Static Web App in the plan")
            return
        users = self.model.users()
        for site in sites:
            self._users_to(users, f"UI (Static Web App {site.arm_name})", site)

    def _users_to(self, users: Source, label: str, node: Node) -> None:
        verdict, route, hop, fix = self.model.decide(users, node)
        if verdict == UNREACHABLE and not users.vnets:
            hop = (
                f"{_kind(node)} {node.arm_name} has no public endpoint and users have no private route "
                f"(no peering to a corporate hub)"
            )
            fix = f"{users.no_vnet_fix} (zone {PRIVATE_DNS_ZONES[GROUP_OF_TYPE[node.type]][0]})"
        self.add(users.label, label, verdict, route, hop, fix, node.urn)

    def browser_api(self) -> None:
        if self.app is None:
            for kind in ("HTTP", "websocket"):
                self.add(
                    "browser",
                    f"API ({kind})",
                    NOT_REQUIRED,
                    "no container app in the plan (the service runs locally)",
                )
            return
        users = self.model.users()
        for kind in ("HTTP", "websocket"):
            verdict, route, hop, fix = self._ingress(users, kind)
            self.add(users.label, f"API {kind} ({self.app.arm_name})", verdict, route, hop, fix, self.app.urn)

    def _ingress(self, users: Source, kind: str) -> tuple[str, str, str, str]:
        assert self.app is not None
        app, label = self.app, f"container app {self.app.arm_name}"
        try:
            ingress = known(get(app.props, "configuration", "ingress"), f"{label} ingress")
            if not ingress:
                return (
                    UNREACHABLE,
                    "none",
                    f"{label} has no ingress",
                    "add configuration.ingress (external, targetPort)",
                )
            external = known(get(ingress, "external"), f"{label} ingress.external")
            if external is not True:
                return (
                    UNREACHABLE,
                    "none",
                    f"{label} ingress is internal to its environment",
                    ("set configuration.ingress.external true"),
                )
            transport = str(known(get(ingress, "transport"), f"{label} ingress.transport") or "auto").lower()
            if transport == "tcp":
                return (
                    UNREACHABLE,
                    "none",
                    f"{label} ingress transport is tcp (no HTTP)",
                    "set ingress.transport auto",
                )
            if kind == "websocket" and transport == "http2":
                return (
                    UNREACHABLE,
                    "none",
                    f"{label} ingress transport http2 cannot upgrade to websocket",
                    ("set ingress.transport auto (or http)"),
                )
            env = known(self.model.environment_of(app), f"the environment of {label}")
            if env is None:
                return UNDECIDED, f"the environment of {label} is not in the plan", "", ""
            internal = known(get(env.props, "vnetConfiguration", "internal"), f"{env.arm_name} internal")
            if internal is not True:
                return REACHABLE, f"internet -> external ingress of {label} (public environment)", "", ""
            return self._internal_environment(users, env, label)
        except Undecided as exc:
            return UNDECIDED, str(exc), "", ""

    def _internal_environment(self, users: Source, env: Node, label: str) -> tuple[str, str, str, str]:
        plan, env_label = self.plan, f"internal environment {env.arm_name}"
        env_vnet = known(
            plan.vnet_key_of_subnet_ref(
                env, "vnetConfiguration", get(env.props, "vnetConfiguration", "infrastructureSubnetId")
            ),
            f"the subnet of {env_label}",
        )
        zone_fix = (
            f"add a private zone named after {env.arm_name}'s defaultDomain with a '*' A record to its "
            f"staticIp, linked to the hub VNet"
        )
        if not users.vnets:
            return (
                UNREACHABLE,
                "none",
                (
                    f"{label} is in {env_label} (no public IP) and users have no private route: no peering "
                    f"to a corporate hub"
                ),
                f"{users.no_vnet_fix}; {zone_fix}",
            )
        near = [h for h in users.vnets if env_vnet is not None and plan.connected(h, env_vnet)]
        if not near:
            return (
                UNREACHABLE,
                "none",
                f"{env_label} is in {plan.vnet_label(env_vnet)}, not peered with the hub",
                (f"peer {plan.vnet_label(env_vnet)} with the hub"),
            )
        zones = [z for z in plan.of(ZONE) if self._names_environment(z, env)]
        zones = [z for z in zones if self._has_wildcard(z, env)]
        if not zones:
            return (
                UNREACHABLE,
                "none",
                (
                    f"no private zone for {env_label}'s default domain with a '*' A record: its apps' names "
                    f"do not resolve"
                ),
                zone_fix,
            )
        for zone in zones:
            linked = plan.linked_to(zone, near)
            if linked is not None:
                return (
                    REACHABLE,
                    (
                        f"hub {plan.vnet_label(linked)} peered with {plan.vnet_label(env_vnet)}, zone "
                        f"{self._zone_label(zone)} (* A) linked to the hub"
                    ),
                    "",
                    "",
                )
        return (
            UNREACHABLE,
            "none",
            f"zone {self._zone_label(zones[0])} is not linked to the hub VNet",
            (f"link zone {self._zone_label(zones[0])} to VNet {', '.join(plan.vnet_label(h) for h in near)}"),
        )

    def _zone_label(self, zone: Node) -> str:
        name = zone.props.get("privateZoneName")
        return name if isinstance(name, str) else f"{zone.name} (defaultDomain)"

    def _names_environment(self, zone: Node, env: Node) -> bool:
        if env.urn in zone.deps.get("privateZoneName", ()):
            return True
        name = zone.props.get("privateZoneName")
        return isinstance(name, str) and name.lower().endswith(".azurecontainerapps.io")

    def _has_wildcard(self, zone: Node, env: Node) -> bool:
        for record in self.plan.records(zone):
            record_type = record.props.get("recordType")
            relative = record.props.get("relativeRecordSetName")
            if isinstance(record_type, str) and record_type.upper() != "A":
                continue
            if relative is UNKNOWN:
                raise Undecided(f"the name of record {record.name} is unknown until deploy")
            if relative == "*":
                return True
        return False

    # -- the service's dependencies -------------------------------------------------------------

    def _caller(self) -> Source:
        return self.api_source() or self.developer()

    def gateway(self) -> None:
        self._service("AI gateway", APIM, "AZURE_AI_ENDPOINT", "no gateway in the plan")

    def _service(self, label: str, prefer: str, var: str, none_planned: str) -> None:
        """A service the app reaches at the endpoint in env var `var` (every `prefer` node without an app)."""
        caller = self._caller()
        if self.app is None:
            nodes = self.plan.of(prefer)
            if not nodes:
                self.add(caller.label, label, NOT_REQUIRED, none_planned)
            for node in nodes:
                self.decide(caller, f"{label} ({node.arm_name})", node)
            return
        value = _env(self.app, var)
        if value is None or value == "":
            self.add(caller.label, label, NOT_REQUIRED, f"{var} is not set")
            return
        self._endpoint(caller, label, value, prefer, var)

    def _endpoint(self, caller: Source, label: str, value: Any, prefer: str, var: str) -> None:
        host = _host(value) if not (isinstance(value, str) and value.startswith("secretRef:")) else UNKNOWN
        if isinstance(host, str):
            node = _by_host(self.plan, host)
            if node is None:
                self.add(
                    caller.label,
                    f"{label} ({host})",
                    REACHABLE,
                    f"over the internet to {host} (outside the plan)",
                )
                return
            self.decide(caller, f"{label} ({node.arm_name})", node, host)
            return
        assert self.app is not None
        linked = self.plan.linked(self.app, "template", prefer)
        if len(linked) == 1:
            self.decide(caller, f"{label} ({linked[0].arm_name})", linked[0])
            return
        self.add(caller.label, label, UNDECIDED, f"{var} is unknown until deploy")

    def gateway_to_ai(self) -> None:
        apims, accounts = self.plan.of(APIM), self.plan.of(AI_ACCOUNT)
        if not apims:
            self.add("gateway", "AI Services", NOT_REQUIRED, "no API Management gateway in the plan")
            return
        for apim in apims:
            source = self.model.gateway_source(apim)
            target, host = self._backend(apim, accounts)
            if target is None:
                if isinstance(host, str):
                    self.add(source.label, f"AI backend ({host})", REACHABLE, f"over the internet to {host}")
                else:
                    self.add(source.label, "AI Services", NOT_REQUIRED, "no AI Services account in the plan")
                continue
            self.decide(source, f"AI Services ({target.arm_name})", target, host)

    def _backend(self, apim: Node, accounts: list[Node]) -> tuple[Node | None, Any]:
        for named in self.plan.of(APIM_NAMED_VALUE):
            services = self.plan.refs(named, "serviceName", named.props.get("serviceName"), APIM)
            if services is UNKNOWN or apim not in services:
                continue
            host = _host(named.props.get("value"))
            if isinstance(host, str) and "." in host:
                node = _by_host(self.plan, host)
                if node is not None and node.type == AI_ACCOUNT:
                    return node, host
            linked = self.plan.linked(named, "value", AI_ACCOUNT)
            if linked:
                return linked[0], None
        return (accounts[0], None) if accounts else (None, None)

    def voicelive(self) -> None:
        self._service(
            "VoiceLive", AI_ACCOUNT, "AZURE_VOICELIVE_ENDPOINT", "no AI Services account in the plan"
        )

    def postgres(self) -> None:
        servers = self.plan.of(POSTGRES)
        source = self.api_source()
        if source is None or not servers:
            why = "no container app in the plan" if source is None else "no PostgreSQL server in the plan"
            self.add(source.label if source else "API", "PostgreSQL", NOT_REQUIRED, why)
            return
        for server in servers:
            self.decide(source, f"PostgreSQL ({server.arm_name})", server)

    def redis(self) -> None:
        clusters = self.plan.of(REDIS)
        source = self.api_source()
        if source is None or not clusters:
            why = (
                "no container app in the plan"
                if source is None
                else "no Redis in the plan (limits per replica)"
            )
            self.add(source.label if source else "API", "Redis", NOT_REQUIRED, why)
            return
        for cluster in clusters:
            self.decide(source, f"Redis ({cluster.arm_name})", cluster)

    def key_vault(self) -> None:
        source = self.api_source()
        if source is None or self.app is None:
            self.add(
                "API", "Key Vault references", NOT_REQUIRED, "no container app resolves Key Vault references"
            )
            return
        secrets = listed(get(self.app.props, "configuration", "secrets"))
        if secrets is UNKNOWN:
            self.add(
                source.label, "Key Vault references", UNDECIDED, "the app's secrets are unknown until deploy"
            )
            return
        urls = [get(s, "keyVaultUrl") for s in secrets if get(s, "keyVaultUrl") is not None]
        if not urls:
            self.add(
                source.label, "Key Vault references", NOT_REQUIRED, "the app has no Key Vault references"
            )
            return
        vaults: dict[str, Node] = {}
        outside: set[str] = set()
        unknown = False
        for url in urls:
            host = _host(url)
            if isinstance(host, str):
                match = [
                    v for v in self.plan.of(VAULT) if any(host == f"{n}.vault.azure.net" for n in v.arm_names)
                ]
                if match:
                    vaults[match[0].urn] = match[0]
                else:
                    outside.add(host)
            else:
                unknown = True
        if unknown:
            for vault in self._vaults_by_dependency():
                vaults[vault.urn] = vault
        for vault in vaults.values():
            self.decide(
                source, f"Key Vault references ({vault.arm_name})", vault, f"{vault.arm_name}.vault.azure.net"
            )
        for host in sorted(outside):
            self.add(
                source.label, f"Key Vault references ({host})", UNDECIDED, f"vault {host} is outside the plan"
            )
        if unknown and not vaults:
            self.add(source.label, "Key Vault references", UNDECIDED, "a keyVaultUrl is unknown until deploy")

    def _vaults_by_dependency(self) -> list[Node]:
        assert self.app is not None
        found: list[Node] = []
        for urn in self.app.deps.get("configuration", ()):
            node = self.plan.by_urn.get(urn)
            if node is None:
                continue
            if node.type == VAULT:
                found.append(node)
            elif node.type == VAULT_SECRET:
                parents = self.plan.refs(node, "vaultName", node.props.get("vaultName"), VAULT)
                if parents is not UNKNOWN:
                    found += parents
        return list(dict.fromkeys(found))

    def registry(self) -> None:
        source = self.api_source()
        if source is None or self.app is None:
            self.add("API", "registry pull", NOT_REQUIRED, "no container app pulls an image")
            return
        servers = listed(get(self.app.props, "configuration", "registries"))
        hosts: list[Any] = []
        if servers is UNKNOWN:
            hosts.append(UNKNOWN)
        else:
            hosts += [get(r, "server") for r in servers]
        containers = listed(get(self.app.props, "template", "containers"))
        for container in containers if containers is not UNKNOWN else [UNKNOWN]:
            image = get(container, "image")
            if image is UNKNOWN:
                hosts.append(UNKNOWN)
            elif isinstance(image, str) and "/" in image and "." in image.split("/", 1)[0]:
                hosts.append(image.split("/", 1)[0].lower())
            elif isinstance(image, str):
                hosts.append("docker.io")
        seen: set[str] = set()
        for host in hosts:
            if host is UNKNOWN:
                continue
            host = str(host).lower()
            if host in seen:
                continue
            seen.add(host)
            match = [r for r in self.plan.of(REGISTRY) if any(host == f"{n}.azurecr.io" for n in r.arm_names)]
            if match:
                self.decide(source, f"registry pull ({match[0].arm_name})", match[0], host)
            else:
                self.add(
                    source.label,
                    f"registry pull ({host})",
                    REACHABLE,
                    f"over the internet to {host} (outside the plan)",
                )
        if not seen:
            linked = [
                n for key in ("configuration", "template") for n in self.plan.linked(self.app, key, REGISTRY)
            ]
            if linked:
                self.decide(source, f"registry pull ({linked[0].arm_name})", linked[0])
            else:
                self.add(
                    source.label,
                    "registry pull",
                    UNDECIDED,
                    "the image and registry are unknown until deploy",
                )

    def zep(self) -> None:
        source = self.api_source()
        if source is None or self.app is None:
            self.add(
                "API", "Zep", NOT_REQUIRED, "no container app in the plan (a local service's Zep is its own)"
            )
            return
        url = _env(self.app, "ZEP_API_URL")
        key = _env(self.app, "ZEP_API_KEY")
        secret_names = [get(s, "name") for s in listed(get(self.app.props, "configuration", "secrets")) or []]
        if url in (None, "") and key is None and "zep-api-key" not in secret_names:
            self.add(source.label, "Zep", NOT_REQUIRED, "Zep is not configured")
            return
        host = _host(url) if url not in (None, "") else ZEP_CLOUD_HOST
        if host is UNKNOWN:
            self.add(source.label, "Zep", UNDECIDED, "ZEP_API_URL is unknown until deploy")
            return
        self.add(
            source.label, f"Zep ({host})", REACHABLE, f"over the internet to {host} (outbound from the app)"
        )

    def recordings(self) -> None:
        """API -> the recordings account, where RECORDING_STORAGE_URL names one (recording not off)."""
        source = self.api_source()
        if source is None or self.app is None:
            self.add("API", "recordings storage", NOT_REQUIRED, "no container app in the plan")
            return
        value = _env(self.app, "RECORDING_STORAGE_URL")
        if value is None or value == "":
            self.add(source.label, "recordings storage", NOT_REQUIRED, "RECORDING_STORAGE_URL is not set")
            return
        self._endpoint(source, "recordings storage", value, STORAGE, "RECORDING_STORAGE_URL")

    def telemetry(self) -> None:
        components = self.plan.of(APP_INSIGHTS)
        if self.app is not None and _env(self.app, "APPLICATIONINSIGHTS_CONNECTION_STRING") is None:
            self.add("telemetry", "Application Insights", NOT_REQUIRED, "the app has no connection string")
            return
        if not components:
            self.add("telemetry", "Application Insights", NOT_REQUIRED, "no Application Insights in the plan")
            return
        caller = self._caller()
        source = Source(
            f"telemetry from {caller.label}", caller.vnets, caller.azure, no_vnet_fix=caller.no_vnet_fix
        )
        for component in components:
            self.decide(source, f"Application Insights ({component.arm_name})", component)


def analyse(resources: Iterable[Any]) -> list[PathResult]:
    """Every path the running system needs, decided from the planned resources."""
    paths = _Paths(Plan(resources))
    paths.browser_ui()
    paths.browser_api()
    paths.gateway()
    paths.gateway_to_ai()
    paths.voicelive()
    paths.postgres()
    paths.redis()
    paths.key_vault()
    paths.registry()
    paths.zep()
    paths.recordings()
    paths.telemetry()
    return paths.out


def unreachable(results: Iterable[PathResult]) -> list[PathResult]:
    return [r for r in results if r.verdict == UNREACHABLE]


def describe(result: PathResult) -> str:
    """One line for a diagnostic: the path, where it fails, and the fix."""
    if result.verdict == UNREACHABLE:
        return f"{result.name} is unreachable: {result.hop}. Fix: {result.fix}."
    return f"{result.name} is {result.verdict}: {result.route}."
