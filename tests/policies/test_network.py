"""Network rules: public access per service, private endpoints (stack), internal environment, HTTPS-only
ingress, wildcard CORS, data residency. Compliant prod builders pass; each mutation fails with its message."""

from __future__ import annotations

import pytest

from policies.rules import network
from policies.rules.common import PROD, RuleContext
from tests.policies.builders import (
    AI_ACCOUNT,
    APIM,
    CONTAINER_APP,
    KEY_VAULT,
    MANAGED_ENVIRONMENT,
    POSTGRES,
    PRIVATE_ENDPOINT,
    ai_account,
    apim,
    app_with_env,
    container_app,
    managed_environment,
    messages,
    postgres,
    private_endpoint,
    resource,
    run_resource,
    run_stack,
    urn,
    vault,
)

PUBLIC_ACCESS = [
    (network.CATALOGUE[0], KEY_VAULT, vault, "Key Vault properties.publicNetworkAccess"),
    (network.CATALOGUE[1], AI_ACCOUNT, ai_account, "AI Services account properties.publicNetworkAccess"),
]


@pytest.mark.parametrize(("entry", "type_", "build", "prefix"), PUBLIC_ACCESS)
def test_public_access_disabled_passes(entry, type_, build, prefix) -> None:
    assert run_resource(entry, type_, build()) == []


@pytest.mark.parametrize(("entry", "type_", "build", "prefix"), PUBLIC_ACCESS)
def test_public_access_enabled_is_violation(entry, type_, build, prefix) -> None:
    props = build()
    props["properties"]["publicNetworkAccess"] = "Enabled"
    assert messages(run_resource(entry, type_, props)) == [
        f"{prefix} is 'Enabled'; set properties.publicNetworkAccess to \"Disabled\" and reach it through a "
        "private endpoint."
    ]


@pytest.mark.parametrize(("entry", "type_", "build", "prefix"), PUBLIC_ACCESS)
def test_public_access_unset_is_violation_naming_azure_default(entry, type_, build, prefix) -> None:
    props = build()
    del props["properties"]["publicNetworkAccess"]
    assert "not set (Azure default: Enabled)" in messages(run_resource(entry, type_, props))[0]


@pytest.mark.parametrize(("entry", "type_", "build", "prefix"), PUBLIC_ACCESS)
def test_public_access_is_not_judged_below_prod(entry, type_, build, prefix) -> None:
    props = build("uat")
    props["properties"]["publicNetworkAccess"] = "Enabled"
    assert run_resource(entry, type_, props, stack="uat") == []


def test_postgres_public_access_enabled_is_violation() -> None:
    props = postgres()
    props["network"]["publicNetworkAccess"] = "Enabled"
    assert messages(run_resource(network.CATALOGUE[2], POSTGRES, props)) == [
        "PostgreSQL server network.publicNetworkAccess is 'Enabled'; set network.publicNetworkAccess to "
        '"Disabled" and reach it through a private endpoint.'
    ]


def test_postgres_in_delegated_subnet_passes_even_with_unknown_subnet_id() -> None:
    props = postgres()
    props["network"] = {"delegatedSubnetResourceId": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}
    assert network.check_postgres_public_network_access(props) == []
    assert run_resource(network.CATALOGUE[2], POSTGRES, props) == []


def test_apim_internal_vnet_passes_and_external_is_violation() -> None:
    entry = network.CATALOGUE[3]
    assert run_resource(entry, APIM, apim()) == []
    props = apim()
    props["virtualNetworkType"] = "External"
    assert messages(run_resource(entry, APIM, props)) == [
        "API Management publicNetworkAccess is not set (Azure default: Enabled) and virtualNetworkType is "
        '\'External\'; set virtualNetworkType to "Internal" or publicNetworkAccess to "Disabled" with a '
        "private endpoint."
    ]
    props["publicNetworkAccess"] = "Disabled"
    assert run_resource(entry, APIM, props) == []


# ---- SOP-NET-005 private endpoints (stack policy) ---------------------------------------------------


def _vault_and_endpoint(linked: bool) -> list:
    kv = resource(KEY_VAULT, vault(), name="kv")
    deps = {"privateLinkServiceConnections": (kv.urn,)} if linked else {}
    pe = resource(PRIVATE_ENDPOINT, private_endpoint(), name="pe-kv", property_dependencies=deps)
    return [kv, pe]


def test_private_endpoint_linked_by_property_dependency_passes() -> None:
    assert run_stack(network.CATALOGUE[4], _vault_and_endpoint(linked=True)) == []


def test_missing_private_endpoint_is_violation_on_the_vault() -> None:
    findings = run_stack(network.CATALOGUE[4], _vault_and_endpoint(linked=False))
    assert messages(findings) == [
        "Key Vault 'kv' has no private endpoint; add an azure-native:network:PrivateEndpoint whose "
        "privateLinkServiceConnections point at it."
    ]
    assert findings[0].target == f"{KEY_VAULT}::kv"
    assert findings[0].enforcement == "mandatory"


def test_private_endpoint_matched_by_known_resource_id() -> None:
    kv = resource(KEY_VAULT, vault(), name="kv")
    known_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-engram-prod"
    pe = resource(PRIVATE_ENDPOINT, private_endpoint(known_id), name="pe")
    assert run_stack(network.CATALOGUE[4], [kv, pe]) == []


def test_private_endpoint_not_required_below_prod_or_for_injected_postgres() -> None:
    kv = resource(KEY_VAULT, vault("uat"), name="kv", stack="uat")
    assert run_stack(network.CATALOGUE[4], [kv], stack="uat") == []
    injected = postgres()
    injected["network"] = {"delegatedSubnetResourceId": "/subscriptions/x/subnets/pg"}
    assert run_stack(network.CATALOGUE[4], [resource(POSTGRES, injected, name="pg")]) == []


def test_every_private_target_type_is_checked() -> None:
    targets = [
        resource(AI_ACCOUNT, ai_account(), name="ai"),
        resource(POSTGRES, postgres(), name="pg"),
        resource(APIM, {**apim(), "virtualNetworkType": "None"}, name="apim"),
    ]
    found = messages(run_stack(network.CATALOGUE[4], targets))
    assert [m.split(" '")[0] for m in found] == [
        "AI Services account",
        "PostgreSQL server",
        "API Management service",
    ]


# ---- environment, ingress, CORS, location ------------------------------------------------------------


def test_internal_environment_passes_and_external_is_violation() -> None:
    entry = network.CATALOGUE[5]
    assert run_resource(entry, MANAGED_ENVIRONMENT, managed_environment()) == []
    props = managed_environment()
    props["vnetConfiguration"]["internal"] = False
    assert messages(run_resource(entry, MANAGED_ENVIRONMENT, props)) == [
        "Container Apps environment vnetConfiguration.internal is False; set vnetConfiguration.internal to "
        "true with an infrastructureSubnetId so the apps have no public IP."
    ]


def test_insecure_ingress_is_violation_at_every_level() -> None:
    entry = network.CATALOGUE[6]
    for env in ("staging", "prod"):
        props = container_app(env)
        assert run_resource(entry, CONTAINER_APP, props, stack=env) == []
        props["configuration"]["ingress"]["allowInsecure"] = True
        assert messages(run_resource(entry, CONTAINER_APP, props, stack=env)) == [
            "Container app ingress allowInsecure is True; set configuration.ingress.allowInsecure to false "
            "so "
            "HTTP is redirected to HTTPS."
        ]


def test_wildcard_cors_is_violation_from_test_up_only() -> None:
    entry = network.CATALOGUE[7]
    props = container_app("test")
    props["configuration"]["ingress"]["corsPolicy"]["allowedOrigins"] = ["*"]
    assert messages(run_resource(entry, CONTAINER_APP, props, stack="test")) == [
        'Container app ingress corsPolicy.allowedOrigins contains "*"; list the UI origins '
        '(e.g. "https://<UI_HOST>") instead.'
    ]
    dev = container_app("dev")
    dev["configuration"]["ingress"]["corsPolicy"]["allowedOrigins"] = ["*"]
    assert run_resource(entry, CONTAINER_APP, dev, stack="dev") == []


def test_wildcard_cors_setting_is_violation() -> None:
    props = app_with_env(CORS_ORIGINS='["*"]')
    assert messages(run_resource(network.CATALOGUE[7], CONTAINER_APP, props)) == [
        'Container app env CORS_ORIGINS is \'["*"]\'; list the UI origins instead of "*".'
    ]


def test_location_outside_residency_is_violation() -> None:
    entry = network.CATALOGUE[8]
    assert run_resource(entry, KEY_VAULT, vault()) == []
    props = vault()
    props["location"] = "westeurope"
    assert messages(run_resource(entry, KEY_VAULT, props)) == [
        "location is 'westeurope', outside the allowed data-residency list ['eastus2']; deploy to one of "
        "those regions."
    ]


def test_location_display_names_global_and_config_override() -> None:
    entry = network.CATALOGUE[8]
    assert run_resource(entry, KEY_VAULT, {**vault(), "location": "East US 2"}) == []
    assert run_resource(entry, "azure-native:network:PrivateZone", {"location": "global", "tags": {}}) == []
    eu = {**vault(), "location": "westeurope"}
    assert (
        run_resource(entry, KEY_VAULT, eu, config={"allowedLocations": ["westeurope", "northeurope"]}) == []
    )


def test_location_pure_check_reads_config_from_context() -> None:
    ctx = RuleContext(5, {"allowedLocations": ["swedencentral"]})
    assert network.check_allowed_location({"location": "eastus2"}, ctx) != []
    assert network.check_allowed_location({"location": "eastus2"}, PROD) == []


def test_urn_helper_names_stack() -> None:
    assert urn(KEY_VAULT, "kv", "uat").startswith("urn:pulumi:uat::engram::")
