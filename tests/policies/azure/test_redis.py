"""AZ-REDIS-*: compliant Azure Managed Redis resources pass; each single mutation fails with its message."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules.azure import redis
from tests.policies.builders import messages, run_resource

SKU, TLS, TLS_FOR_ENTRA, POLICY, KEYS = redis.CATALOGUE


def cluster(**extra: Any) -> dict[str, Any]:
    return {
        "sku": {"name": "Balanced_B0"},
        "minimumTlsVersion": "1.2",
        "publicNetworkAccess": "Disabled",
        **extra,
    }


def database(**extra: Any) -> dict[str, Any]:
    return {
        "clusterName": "c",
        "databaseName": "default",
        "clientProtocol": "Encrypted",
        "accessKeysAuthentication": "Disabled",
        **extra,
    }


def test_compliant_resources_pass() -> None:
    assert run_resource(SKU, redis.CLUSTER, cluster()) == []
    assert run_resource(TLS, redis.CLUSTER, cluster()) == []
    assert run_resource(TLS_FOR_ENTRA, redis.DATABASE, database()) == []
    assert run_resource(KEYS, redis.DATABASE, database()) == []
    assert run_resource(POLICY, redis.ACCESS_POLICY_ASSIGNMENT, {"accessPolicyName": "default"}) == []


@pytest.mark.parametrize(
    "sku", ["Balanced_B1000", "MemoryOptimized_M10", "ComputeOptimized_X3", "FlashOptimized_A250"]
)
def test_every_managed_redis_family_passes(sku: str) -> None:
    assert run_resource(SKU, redis.CLUSTER, cluster(sku={"name": sku})) == []


def test_retiring_enterprise_sku_is_violation() -> None:
    assert messages(run_resource(SKU, redis.CLUSTER, cluster(sku={"name": "Enterprise_E10"}))) == [
        "Redis cluster sku.name 'Enterprise_E10' is an Azure Cache for Redis Enterprise tier, announced for "
        "retirement; use an Azure Managed Redis SKU such as 'Balanced_B0'."
    ]


def test_unknown_sku_is_violation() -> None:
    assert messages(run_resource(SKU, redis.CLUSTER, cluster(sku={"name": "Premium_P1"}))) == [
        "Redis cluster sku.name 'Premium_P1' is not an Azure Managed Redis SKU; use Balanced_B*, "
        "MemoryOptimized_M*, ComputeOptimized_X* or FlashOptimized_A* (e.g. 'Balanced_B0')."
    ]


def test_old_tls_is_violation() -> None:
    assert messages(run_resource(TLS, redis.CLUSTER, cluster(minimumTlsVersion="1.0"))) == [
        "Redis cluster minimumTlsVersion is '1.0'; set it to '1.2'."
    ]


def test_plaintext_with_keys_off_is_violation() -> None:
    assert messages(run_resource(TLS_FOR_ENTRA, redis.DATABASE, database(clientProtocol="Plaintext"))) == [
        'Redis database clientProtocol is "Plaintext" with access keys disabled; Entra tokens are accepted '
        'over TLS only, so no client could authenticate: set clientProtocol to "Encrypted".'
    ]


def test_another_access_policy_is_violation() -> None:
    found = run_resource(POLICY, redis.ACCESS_POLICY_ASSIGNMENT, {"accessPolicyName": "readonly"})
    assert messages(found) == [
        "Redis access policy assignment accessPolicyName is 'readonly'; the only policy offered is "
        "'default': set accessPolicyName to 'default'."
    ]


@pytest.mark.parametrize("value", ["Enabled", None])
def test_access_keys_on_or_unset_is_violation(value: str | None) -> None:
    props = database(accessKeysAuthentication=value)
    if value is None:
        del props["accessKeysAuthentication"]
    found = messages(run_resource(KEYS, redis.DATABASE, props))
    assert len(found) == 1 and 'set it to "Disabled"' in found[0]
