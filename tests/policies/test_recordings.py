"""SOP-REC-*: recording storage is private, Entra-only, deletes by age; recording apps set a retention."""

from __future__ import annotations

from typing import Any

from policies.rules import recordings as rules
from tests.policies.builders import (
    CONTAINER_APP,
    app_with_env,
    messages,
    resource,
    run_resource,
    run_stack,
    tags,
)

NO_PUBLIC_BLOBS, NO_SHARED_KEY, PRIVATE_ONLY, LIFECYCLE, RETENTION = rules.CATALOGUE
ACCOUNT, POLICY = rules.STORAGE_ACCOUNT, rules.MANAGEMENT_POLICY


def account(env: str = "prod") -> dict[str, Any]:
    return {
        "accountName": "engramprodrec",
        "tags": tags(env),
        "kind": "StorageV2",
        "allowBlobPublicAccess": False,
        "allowSharedKeyAccess": False,
        "publicNetworkAccess": "Disabled",
        "minimumTlsVersion": "TLS1_2",
    }


def lifecycle(days: float = 90.0, enabled: bool = True) -> dict[str, Any]:
    return {
        "accountName": "engramprodrec",
        "managementPolicyName": "default",
        "policy": {
            "rules": [
                {
                    "name": "delete-expired-recordings",
                    "enabled": enabled,
                    "type": "Lifecycle",
                    "definition": {
                        "filters": {"blobTypes": ["blockBlob"]},
                        "actions": {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": days}}},
                    },
                }
            ]
        },
    }


def test_compliant_account_passes() -> None:
    for entry in (NO_PUBLIC_BLOBS, NO_SHARED_KEY, PRIVATE_ONLY):
        assert run_resource(entry, ACCOUNT, account()) == []


def test_public_blob_access_is_violation_at_every_level() -> None:
    props = account("staging")
    props["allowBlobPublicAccess"] = True
    assert messages(run_resource(NO_PUBLIC_BLOBS, ACCOUNT, props, stack="staging")) == [
        "Storage account allowBlobPublicAccess is True (unset means allowed on older API versions); "
        "set allowBlobPublicAccess=false."
    ]


def test_unset_shared_key_access_is_violation() -> None:
    props = account()
    del props["allowSharedKeyAccess"]
    assert messages(run_resource(NO_SHARED_KEY, ACCOUNT, props)) == [
        "Storage account allowSharedKeyAccess is None (unset means allowed); set allowSharedKeyAccess=false "
        "and grant the app identity Storage Blob Data Contributor."
    ]


def test_public_network_access_is_violation_in_prod_only() -> None:
    props = account()
    props["publicNetworkAccess"] = "Enabled"
    assert 'set publicNetworkAccess="Disabled"' in messages(run_resource(PRIVATE_ONLY, ACCOUNT, props))[0]
    uat = account("uat")
    uat["publicNetworkAccess"] = "Enabled"
    assert run_resource(PRIVATE_ONLY, ACCOUNT, uat, stack="uat") == []


def _stack(policy: dict[str, Any] | None, linked: bool = True) -> list[Any]:
    store = resource(ACCOUNT, account(), name="rec")
    found = [store]
    if policy is not None:
        deps = {"accountName": (store.urn,)} if linked else {}
        found.append(resource(POLICY, policy, name="lifecycle", property_dependencies=deps))
    return found


def test_account_with_a_deleting_lifecycle_rule_passes() -> None:
    assert run_stack(LIFECYCLE, _stack(lifecycle())) == []


def test_account_without_lifecycle_is_violation() -> None:
    (finding,) = run_stack(LIFECYCLE, _stack(None))
    assert "Storage account 'rec' has no lifecycle rule deleting blobs by age" in finding.message


def test_disabled_rule_and_another_accounts_policy_do_not_count() -> None:
    assert len(run_stack(LIFECYCLE, _stack(lifecycle(enabled=False)))) == 1
    other = lifecycle()
    other["accountName"] = "someoneelse"
    assert len(run_stack(LIFECYCLE, _stack(other, linked=False))) == 1


def test_recording_app_without_retention_is_violation_from_uat() -> None:
    props = app_with_env("uat", RECORDING_MODE="consent")
    assert messages(run_resource(RETENTION, CONTAINER_APP, props, stack="uat")) == [
        "Container app env RECORDING_MODE is 'consent' but RECORDING_RETENTION_DAYS is None; set "
        "RECORDING_RETENTION_DAYS to the days recordings are kept (e.g. 30)."
    ]
    test = app_with_env("test", RECORDING_MODE="consent")
    assert run_resource(RETENTION, CONTAINER_APP, test, stack="test") == []


def test_recording_app_with_retention_or_mode_off_passes() -> None:
    props = app_with_env("prod", RECORDING_MODE="consent", RECORDING_RETENTION_DAYS="90")
    assert run_resource(RETENTION, CONTAINER_APP, props) == []
    assert run_resource(RETENTION, CONTAINER_APP, app_with_env("prod", RECORDING_MODE="off")) == []
