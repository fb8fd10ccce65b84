"""AiGateway: API Management per stack, its policy limits, an existing gateway; its args."""

from __future__ import annotations

import pytest

from components.gateway import AiGatewayArgs, gateway_policy
from components.identity import OPENAI_USER
from components.network import DnsLinks
from policies.plan import OfflinePlan, run_program
from tests.components.conftest import by_id


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
