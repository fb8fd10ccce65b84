"""components/cache.py: Azure Managed Redis for the shared limits, provisioned by profile (uat, prod).

Validation of the args, then the planned resources of the stacks' own configs: the cluster and its
Entra-only TLS database, the private endpoint in prod, the app identity's access policy and the
settings the container app gets.
"""

from __future__ import annotations

import pytest

from components.cache import CacheArgs
from components.private_endpoint import PrivateLinkPlacement
from tests.components.conftest import env_of, plan_for

CLUSTER = "azure-native:redisenterprise:RedisEnterprise"
DATABASE = "azure-native:redisenterprise:Database"
ACCESS = "azure-native:redisenterprise:AccessPolicyAssignment"


def test_private_access_without_a_private_endpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing could connect"):
        CacheArgs(resource_group_name="rg", location="eastus2", tags={}, public_network_access="Disabled")


def test_a_cache_for_redis_sku_is_refused() -> None:
    placement = PrivateLinkPlacement(subnet_id="s", zone_ids={"redisEnterprise": ["z"]})
    with pytest.raises(ValueError, match="not an Azure Managed Redis SKU"):
        CacheArgs(
            resource_group_name="rg",
            location="eastus2",
            tags={},
            sku="Enterprise_E10",
            private_link=placement,
        )


@pytest.mark.parametrize("stack", ["staging", "dev", "test"])
def test_stacks_without_the_limits_section_get_no_redis(stack: str) -> None:
    plan = plan_for(stack)
    assert not plan.of_type(CLUSTER)
    if stack != "dev":
        assert "REDIS_URL" not in env_of(plan)
        assert "REDIS_AUTH" not in env_of(plan)


@pytest.mark.parametrize("stack", ["uat", "prod"])
def test_uat_and_prod_get_an_entra_only_tls_database(stack: str) -> None:
    plan = plan_for(stack)
    cluster = plan.one(CLUSTER)
    assert cluster.inputs["sku"] == {"name": "Balanced_B0"}
    assert cluster.inputs["minimumTlsVersion"] == "1.2"
    assert cluster.inputs["highAvailability"] == "Enabled"
    database = plan.one(DATABASE)
    assert database.inputs["databaseName"] == "default"
    assert database.inputs["clientProtocol"] == "Encrypted"
    assert database.inputs["accessKeysAuthentication"] == "Disabled"
    assert database.inputs["clusteringPolicy"] == "EnterpriseCluster"  # the app's plain client, hash tags
    assert database.inputs["evictionPolicy"] == "NoEviction"


@pytest.mark.parametrize("stack", ["uat", "prod"])
def test_the_app_identity_gets_the_default_access_policy(stack: str) -> None:
    plan = plan_for(stack)
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "-wid-")  # the app's (workload)
    access = plan.one(ACCESS)
    assert access.inputs["accessPolicyName"] == "default"
    assert access.inputs["databaseName"] == "default"
    assert access.inputs["user"] == {"objectId": identity.outputs["principalId"]}


def test_public_access_follows_the_profile() -> None:
    assert plan_for("uat").one(CLUSTER).inputs["publicNetworkAccess"] == "Enabled"
    assert plan_for("prod").one(CLUSTER).inputs["publicNetworkAccess"] == "Disabled"
    zones = {
        z.inputs["privateZoneName"] for z in plan_for("prod").of_type("azure-native:privatedns:PrivateZone")
    }
    assert "privatelink.redis.azure.net" in zones


@pytest.mark.parametrize(("stack", "budget"), [("uat", "50000"), ("prod", "100000")])
def test_the_app_gets_redis_the_token_budget_and_the_session_caps(stack: str, budget: str) -> None:
    env = env_of(plan_for(stack))
    assert env["REDIS_URL"] == {"name": "REDIS_URL", "secretRef": "redis-url"}
    values = {k: v["value"] for k, v in env.items() if "value" in v}
    assert values["REDIS_AUTH"] == "entra"
    assert values["CHAT_TOKENS_PER_MINUTE"] == budget  # the chat deployment's quota (thousands a minute)
    assert values["VOICE_MAX_SESSIONS_PER_USER"] == "3"
    assert values["VOICE_MAX_SESSIONS_DEPLOYMENT"] == "120"  # above the SOP alert (100)
