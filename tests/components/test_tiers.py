"""Focused checks of component args and pieces that the stack runs do not reach."""

from __future__ import annotations

import pytest

from components.database import DatabaseArgs
from components.gateway import AiGatewayArgs, gateway_policy
from components.hosting import ContainerRegistryArgs, HostingArgs
from components.identity import ConditionalAccessArgs, assignment_name
from components.keyvault import KeyVaultArgs
from components.network import DnsLinks
from components.private_endpoint import PrivateEndpointArgs, PrivateLinkPlacement
from components.static_site import StaticSiteArgs, partition_zone
from policies.plan import run_program


def hosting_args(**overrides: object) -> HostingArgs:
    values: dict[str, object] = {
        "resource_group_name": "rg",
        "location": "eastus2",
        "tags": {},
        "workspace_customer_id": "ws",
        "workspace_name": "ws",
        "identity_id": "id",
        "image": "img",
        "registry_server": None,
        "cpu": 0.5,
        "memory": "1Gi",
        "min_replicas": 0,
        "max_replicas": 2,
        "cors_origins": ["https://ui"],
        "env": {"ENVIRONMENT": "test"},
        "secret_env": {"AZURE_AI_KEY": "azure-ai-key"},
        "key_vault_secrets": {"azure-ai-key": "https://kv/secrets/azure-ai-key"},
    }
    values.update(overrides)
    return HostingArgs(**values)  # type: ignore[arg-type]


def test_a_plain_secret_variable_is_refused() -> None:
    with pytest.raises(ValueError, match=r"secret-like variables must use secret_env.*ZEP_API_KEY"):
        hosting_args(env={"ZEP_API_KEY": "zk-123"})


def test_a_secret_ref_without_a_key_vault_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="no Key Vault reference: \\['database-url'\\]"):
        hosting_args(secret_env={"DATABASE_URL": "database-url"})


def test_internal_environment_needs_a_subnet() -> None:
    with pytest.raises(ValueError, match="infrastructure_subnet_id"):
        hosting_args(internal=True)


def test_internal_environment_needs_its_private_dns() -> None:
    with pytest.raises(ValueError, match="nothing resolves its apps"):
        hosting_args(internal=True, infrastructure_subnet_id="snet")


def gateway_args(**overrides: object) -> AiGatewayArgs:
    values: dict[str, object] = {
        "resource_group_name": "rg",
        "location": "eastus2",
        "tags": {},
        "mode": "apim",
        "backend_url": "https://ai/openai/v1",
        "account_id": "acct",
        "subscription_id": "sub",
        "caller_key": "k",
        "sku": "Premium",
        "capacity": 1,
    }
    values.update(overrides)
    return AiGatewayArgs(**values)  # type: ignore[arg-type]


def test_a_gateway_cannot_be_created_with_public_access_disabled() -> None:
    with pytest.raises(ValueError, match="refused when API Management is created"):
        gateway_args(public_network_access="Disabled")


def test_an_injected_gateway_needs_its_dns_and_a_classic_tier() -> None:
    links = DnsLinks(resource_group_name="rg", tags={}, vnet_id="vnet")
    with pytest.raises(ValueError, match="both subnet_id and dns"):
        gateway_args(subnet_id="snet")
    with pytest.raises(ValueError, match="Developer or Premium"):
        gateway_args(subnet_id="snet", dns=links, sku="StandardV2", capacity=1)
    assert gateway_args(subnet_id="snet", dns=links).subnet_id == "snet"


def test_a_private_registry_needs_premium() -> None:
    placement = PrivateLinkPlacement(subnet_id="snet", zone_ids={"registry": ["zone"]})
    with pytest.raises(ValueError, match="needs the Premium SKU"):
        ContainerRegistryArgs(
            resource_group_name="rg",
            location="eastus2",
            tags={},
            registry_name="engramacr",
            private_link=placement,
        )


def test_a_public_database_without_a_firewall_rule_is_refused() -> None:
    base = {
        "resource_group_name": "rg",
        "location": "eastus2",
        "tags": {},
        "tenant_id": "t",
        "admin_login": "engramadmin",
        "admin_password": "p",
        "public_network_access": "Enabled",
    }
    with pytest.raises(ValueError, match="nothing could connect"):
        DatabaseArgs(**base)  # type: ignore[arg-type]
    ok = DatabaseArgs(firewall_rules=[("azure", "0.0.0.0", "0.0.0.0")], **base)  # type: ignore[arg-type]
    assert ok.firewall_rules


def test_static_site_partition_zone() -> None:
    assert partition_zone("nice-rock-0a1.2.azurestaticapps.net") == "privatelink.2.azurestaticapps.net"
    assert partition_zone("nice-rock-0a1.azurestaticapps.net") == "privatelink.azurestaticapps.net"


def test_policy_limits_per_environment() -> None:
    limited = gateway_policy(60, 20000)
    assert '<rate-limit calls="60" renewal-period="60" />' in limited
    assert 'tokens-per-minute="20000"' in limited
    unlimited = gateway_policy(None, None)
    assert "rate-limit" not in unlimited and "token-limit" not in unlimited
    assert '<set-header name="api-key" exists-action="delete" />' in unlimited
    assert "{{ai-services-openai-v1}}" in unlimited


def test_existing_gateway_passes_the_url_through() -> None:
    plan = run_program(
        "staging",
        config_overrides={
            "engram:gateway": {"mode": "existing", "existingUrl": "https://gw.customer.example/openai/v1/"}
        },
    )
    assert plan.of_type("azure-native:apimanagement:ApiManagementService") == []
    env = {
        e["name"]: e
        for e in plan.one("azure-native:app:ContainerApp").inputs["template"]["containers"][0]["env"]
    }
    assert env["AZURE_AI_ENDPOINT"]["value"] == "https://gw.customer.example/openai/v1"


def test_existing_gateway_args_need_https() -> None:
    with pytest.raises(ValueError, match="https://"):
        AiGatewayArgs(
            resource_group_name="rg", location="eastus2", tags={}, mode="existing", existing_url="gw"
        )


def test_key_vault_args() -> None:
    base = {"resource_group_name": "rg", "location": "eastus2", "tags": {}, "tenant_id": "t"}
    with pytest.raises(ValueError, match="3-24"):
        KeyVaultArgs(vault_name="this-name-is-far-too-long-for-a-vault", **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="7..90"):
        KeyVaultArgs(vault_name="kv-ok", soft_delete_retention_days=120, **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret names"):
        KeyVaultArgs(vault_name="kv-ok", secrets={"AZURE_AI_KEY": "x"}, **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not hold: \\['zep-api-key'\\]"):
        KeyVaultArgs(vault_name="kv-ok", secret_expiry={"zep-api-key": 1}, **base)  # type: ignore[arg-type]


def test_private_endpoint_needs_its_dns_zone() -> None:
    placement = PrivateLinkPlacement(subnet_id="snet", zone_ids={"vault": ["zone"]})
    with pytest.raises(ValueError, match="no private DNS zone was provisioned for group id 'account'"):
        PrivateEndpointArgs(
            resource_group_name="rg",
            location="eastus2",
            tags={},
            target_id="x",
            group_id="account",
            placement=placement,
        )
    with pytest.raises(ValueError, match="Standard SKU"):
        StaticSiteArgs(
            resource_group_name="rg", location="eastus2", tags={}, sku="Free", private_link=placement
        )


def test_conditional_access_needs_groups() -> None:
    with pytest.raises(ValueError, match="included_group_ids"):
        ConditionalAccessArgs(included_group_ids=[])


def test_assignment_names_are_stable_and_distinct() -> None:
    assert assignment_name("a", "role") == assignment_name("a", "role")
    assert assignment_name("a", "role") != assignment_name("b", "role")


def test_geo_restriction_adds_a_blocking_policy() -> None:
    plan = run_program(
        "prod",
        config_overrides={
            "engram:auth": {
                "model": "entra",
                "required": True,
                "tenantId": "<CUSTOMER_TENANT_ID>",
                "mfaRequired": True,
                "conditionalAccess": {"enabled": True, "includedGroupIds": ["g"], "allowedCountries": ["US"]},
            }
        },
    )
    location = plan.one("azuread:index/namedLocation:NamedLocation")
    assert location.inputs["country"]["countriesAndRegions"] == ["US"]
    geo = plan.one("azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy", "-ca-geo")
    assert geo.inputs["grantControls"]["builtInControls"] == ["block"]
