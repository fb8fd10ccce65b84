"""The runtime path model (`policies.paths`) and AZ-PATH-001, on synthetic planned topologies.

A compliant private production topology has every required path reachable; each mutation breaks one
thing and turns exactly the expected path red, naming the failing hop and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from policies import paths
from policies.gate import evaluate
from policies.plan import PlannedResource
from policies.rules.azure.paths import CATALOGUE as PATH_CATALOGUE

from .paths_builders import HUB_VNET_ID, UNKNOWN_STRING, local_dev, private_prod, public_test

PATH_POLICY = [entry.policy for entry in PATH_CATALOGUE]


def verdicts(resources: Sequence[PlannedResource]) -> dict[str, paths.PathResult]:
    return {f"{r.source} -> {r.target}": r for r in paths.analyse(resources)}


def by_target(resources: Sequence[PlannedResource]) -> dict[str, paths.PathResult]:
    """Path results keyed by the first word(s) of the target ('Key Vault references', 'PostgreSQL', ...)."""
    out: dict[str, paths.PathResult] = {}
    for r in paths.analyse(resources):
        out[r.target.split(" (")[0]] = r
    return out


def red(resources: Sequence[PlannedResource]) -> dict[str, paths.PathResult]:
    return {k: v for k, v in by_target(resources).items() if v.verdict == paths.UNREACHABLE}


ALL_PATHS = {
    "UI",
    "API HTTP",
    "API websocket",
    "AI gateway",
    "AI Services",
    "VoiceLive",
    "PostgreSQL",
    "Redis",
    "Key Vault references",
    "registry pull",
    "Zep",
    "recordings storage",
    "Application Insights",
}


def test_private_prod_every_path_reachable() -> None:
    results = by_target(list(private_prod().values()))
    assert set(results) == ALL_PATHS
    assert {k: v.verdict for k, v in results.items()} == dict.fromkeys(ALL_PATHS, paths.REACHABLE)
    assert (
        "privatelink.vaultcore.azure.net linked to engram-prod-vnet" in results["Key Vault references"].route
    )
    assert "internal gateway" in results["AI gateway"].route
    assert results["UI"].route.endswith("linked to " + HUB_VNET_ID.lower())
    assert "(* A) linked to the hub" in results["API HTTP"].route


def test_private_prod_passes_the_policy() -> None:
    report = evaluate(list(private_prod().values()), stack="prod", policies=PATH_POLICY)
    assert report.findings == []


def test_links_by_id_when_no_property_dependencies() -> None:
    """Known ids (offline mocks, not ARM-shaped) link resources when the dependencies are absent."""
    stripped = [
        PlannedResource(urn=r.urn, type=r.type, name=r.name, properties=r.properties)
        for r in private_prod().values()
    ]
    results = by_target(stripped)
    broken = {k: v.verdict for k, v in results.items() if v.verdict != paths.REACHABLE}
    # The environment's zone is named after an output (defaultDomain): only its dependency ties it to the
    # environment; by name it still looks like a Container Apps domain, so it is accepted.
    assert broken == {}


# ---- one mutation, one red path -------------------------------------------------------------------


def test_removing_the_vault_private_endpoint_breaks_key_vault_references() -> None:
    broken = red(private_prod().without("kv-pe", "kv-dns"))
    assert set(broken) == {"Key Vault references"}
    assert "no private endpoint" in broken["Key Vault references"].hop
    assert "add a private endpoint (group 'vault')" in broken["Key Vault references"].fix


def test_removing_a_zone_link_breaks_the_path_through_it() -> None:
    broken = red(private_prod().without("privatelink.vaultcore.azure.net-link-vnet"))
    assert set(broken) == {"Key Vault references"}
    result = broken["Key Vault references"]
    assert "zone privatelink.vaultcore.azure.net is not linked to engram-prod-vnet" in result.hop
    assert result.fix == "link zone privatelink.vaultcore.azure.net to VNet engram-prod-vnet"


def test_wrong_zone_name_breaks_the_path() -> None:
    t = private_prod()
    group = t["kv-dns"]
    wrong = dict(group.properties)
    wrong["privateDnsZoneConfigs"] = [
        {"name": "zone-0", "privateDnsZoneId": "/mock/PrivateZone/privatelink.vault.azure.net"}
    ]
    t["kv-dns"] = PlannedResource(
        urn=group.urn, type=group.type, name=group.name, properties=wrong, property_dependencies={}
    )
    broken = red(list(t.values()))
    assert set(broken) == {"Key Vault references"}
    assert "not privatelink.vaultcore.azure.net" in broken["Key Vault references"].hop


def test_removing_the_gateway_vnet_injection_breaks_gateway_to_ai_services() -> None:
    t = private_prod()
    resources = t.replaced("apim", virtualNetworkType="None", virtualNetworkConfiguration=None)
    broken = red(resources)
    assert set(broken) == {"AI Services"}
    result = broken["AI Services"]
    assert "has no VNet" in result.hop
    assert "give the gateway VNet integration/injection" in result.fix


def test_internal_gateway_without_its_a_record_breaks_api_to_gateway() -> None:
    broken = red(private_prod().without("apim-record"))
    assert set(broken) == {"AI gateway"}
    assert "no private zone azure-api.net with an A record for apim-engram" in broken["AI gateway"].hop


def test_internal_environment_without_its_domain_zone_breaks_browser_to_api() -> None:
    broken = red(private_prod().without("cae-domain-*"))
    assert set(broken) == {"API HTTP", "API websocket"}
    assert "'*' A record" in broken["API HTTP"].fix


def test_hub_peering_without_the_zone_linked_to_the_hub_breaks_the_ui() -> None:
    broken = red(private_prod().without("privatelink.azurestaticapps.net-link-hub"))
    assert set(broken) == {"UI"}
    assert broken["UI"].fix == f"link zone privatelink.azurestaticapps.net to VNet {HUB_VNET_ID.lower()}"


def test_no_hub_peering_leaves_users_no_route_to_private_front_ends() -> None:
    broken = red(private_prod().without("peer-hub"))
    assert set(broken) == {"UI", "API HTTP", "API websocket"}
    assert "no peering to a corporate hub" in broken["UI"].hop


def test_removing_the_postgres_firewall_rule_breaks_api_to_postgres() -> None:
    t = public_test()
    assert red(list(t.values())) == {}
    broken = red(t.without("pg-allow-azure"))
    assert set(broken) == {"PostgreSQL"}
    assert "no firewall rule" in broken["PostgreSQL"].hop
    assert "add a firewall rule" in broken["PostgreSQL"].fix


def test_vault_firewall_deny_does_not_admit_container_apps() -> None:
    t = public_test()
    resources = t.replaced(
        "kv",
        properties={
            "publicNetworkAccess": "Enabled",
            "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
        },
    )
    broken = red(resources)
    assert set(broken) == {"Key Vault references"}
    assert "Container Apps are not a trusted Azure service" in broken["Key Vault references"].hop


def test_public_test_stack_every_path_reachable_over_the_internet() -> None:
    results = by_target(list(public_test().values()))
    assert {k for k, v in results.items() if v.verdict != paths.REACHABLE} == set()
    assert "allows Azure services" in results["PostgreSQL"].route
    assert results["Zep"].route.startswith("over the internet to api.getzep.com")


def test_local_dev_paths_start_at_the_developer_machine() -> None:
    results = verdicts(list(local_dev().values()))
    required = {k: v.verdict for k, v in results.items() if v.required}
    assert required == {
        "developer machine -> AI gateway (apim-engram)": paths.REACHABLE,
        "gateway (API Management apim-engram) -> AI Services (engram-ai)": paths.REACHABLE,
        "developer machine -> VoiceLive (engram-ai)": paths.REACHABLE,
        "telemetry from developer machine -> Application Insights (appi-engram)": paths.REACHABLE,
    }
    not_required = {v.target for v in results.values() if not v.required}
    assert {"UI (Static Web App)", "API (HTTP)", "PostgreSQL", "Key Vault references", "Zep"} <= not_required


def test_external_gateway_url_is_reached_over_the_internet() -> None:
    t = public_test()
    app = t["app-api"]
    props = dict(app.properties)
    container = dict(props["template"]["containers"][0])
    container["env"] = [
        {"name": "AZURE_AI_ENDPOINT", "value": "https://ai.fabrikam.com/openai/v1"}
        if e["name"] == "AZURE_AI_ENDPOINT"
        else e
        for e in container["env"]
    ]
    props["template"] = {"containers": [container]}
    results = by_target(t.replaced("app-api", template=props["template"]))
    assert results["AI gateway"].verdict == paths.REACHABLE
    assert results["AI gateway"].target == "AI gateway (ai.fabrikam.com)"


# ---- unknown at preview ---------------------------------------------------------------------------


def test_unknown_deciding_value_is_undecided_not_red() -> None:
    t = private_prod()
    endpoint = t["kv-pe"]
    props = dict(endpoint.properties, subnet={"id": UNKNOWN_STRING})
    t["kv-pe"] = PlannedResource(
        urn=endpoint.urn,
        type=endpoint.type,
        name=endpoint.name,
        properties=props,
        property_dependencies={"privateLinkServiceConnections": (t.urn("kv"),)},
    )
    results = by_target(list(t.values()))
    assert results["Key Vault references"].verdict == paths.UNDECIDED
    assert red(list(t.values())) == {}
    report = evaluate(list(t.values()), stack="prod", policies=PATH_POLICY)
    assert [f.undecided for f in report.findings] == [True]
    assert report.findings[0].enforcement == "advisory"
    assert report.passed


def test_unknown_ids_linked_by_dependencies_still_decide() -> None:
    """At a real preview ids are unknown; property dependencies carry the links."""
    t = private_prod()
    for name, resource in list(t.items()):
        if resource.type in (
            "azure-native:network:PrivateEndpoint",
            "azure-native:network:PrivateDnsZoneGroup",
        ):
            props = dict(resource.properties)
            if "subnet" in props:
                props["subnet"] = {"id": UNKNOWN_STRING}
                props["privateLinkServiceConnections"] = [
                    dict(c, privateLinkServiceId=UNKNOWN_STRING)
                    for c in props["privateLinkServiceConnections"]
                ]
            if "privateDnsZoneConfigs" in props:
                props["privateDnsZoneConfigs"] = [
                    {"name": c["name"], "privateDnsZoneId": UNKNOWN_STRING}
                    for c in props["privateDnsZoneConfigs"]
                ]
            t[name] = PlannedResource(
                urn=resource.urn,
                type=resource.type,
                name=resource.name,
                properties=props,
                property_dependencies=resource.property_dependencies,
            )
    results = by_target(list(t.values()))
    assert {k: v.verdict for k, v in results.items()} == dict.fromkeys(ALL_PATHS, paths.REACHABLE)


def _blank(value: Any) -> Any:
    """Every id, URL and output-derived name unknown, as at a real preview."""
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    if (
        isinstance(value, str)
        and not value.startswith("privatelink.")
        and (
            value.startswith(("/subscriptions", "https://"))
            or value.endswith((".azurecr.io", ".azurecontainerapps.io"))
            or ".azurecr.io/" in value
        )
    ):
        return UNKNOWN_STRING
    return value


def test_every_output_unknown_dependencies_decide_every_path() -> None:
    """A real preview: ids, URLs, the image and the environment's domain are unknown; the hub id is a
    literal. Property dependencies alone carry every link."""
    resources = [
        r
        if r.type == "azure-native:network:VirtualNetworkPeering" or r.name.endswith("-link-hub")
        else PlannedResource(
            urn=r.urn,
            type=r.type,
            name=r.name,
            properties=_blank(dict(r.properties)),
            property_dependencies=r.property_dependencies,
        )
        for r in private_prod().values()
    ]
    results = by_target(resources)
    assert {k: v.verdict for k, v in results.items()} == dict.fromkeys(ALL_PATHS, paths.REACHABLE)


# ---- through the analyzer -------------------------------------------------------------------------


def test_policy_names_the_hop_and_the_fix_on_the_target() -> None:
    t = private_prod()
    report = evaluate(
        t.without("privatelink.postgres.database.azure.com-link-vnet"), stack="prod", policies=PATH_POLICY
    )
    assert [(f.rule_id, f.enforcement, f.target) for f in report.findings] == [
        ("AZ-PATH-001", "mandatory", "azure-native:dbforpostgresql:Server::pg")
    ]
    message = report.findings[0].message
    assert "PostgreSQL (pg-engram) is unreachable" in message
    assert "link zone privatelink.postgres.database.azure.com to VNet engram-prod-vnet" in message


@pytest.mark.parametrize("stack", ["test", "uat", "staging", "dev"])
def test_the_policy_applies_at_every_level(stack: str) -> None:
    t = public_test()
    resources = [
        PlannedResource(
            urn=r.urn.replace("urn:pulumi:test::", f"urn:pulumi:{stack}::"),
            type=r.type,
            name=r.name,
            properties=r.properties,
            property_dependencies={
                k: tuple(u.replace("urn:pulumi:test::", f"urn:pulumi:{stack}::") for u in v)
                for k, v in r.property_dependencies.items()
            },
        )
        for r in t.without("pg-allow-azure")
    ]
    report = evaluate(resources, stack=stack, policies=PATH_POLICY)
    assert [f.rule_id for f in report.mandatory] == ["AZ-PATH-001"]
