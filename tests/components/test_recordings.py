"""RecordingsStorage and the `recordings` profile section: args and profile validation, then the real
program under mocks (uat and prod record with consent; the others create no account).

Checked: the account refuses shared keys and public blobs, is HTTPS/TLS 1.2 only and double-encrypted;
prod's is private with a `blob` private endpoint, uat's public with Entra only; soft delete; the
lifecycle rule deletes after the retention days; the app gets the RECORDING_* settings.
"""

from __future__ import annotations

import pytest

from components.private_endpoint import PrivateLinkPlacement
from components.profile import RecordingsSection
from components.recordings import (
    CMK_KEY_NAME,
    CRYPTO_SERVICE_ENCRYPTION_USER,
    RecordingsStorageArgs,
    account_name,
    blob_endpoint,
)
from tests.components.conftest import by_id, env_of, plan_for

STORAGE = "azure-native:storage:StorageAccount"


def args(**overrides: object) -> RecordingsStorageArgs:
    values: dict[str, object] = {
        "resource_group_name": "rg",
        "location": "eastus2",
        "tags": {},
        "account_name": "engramprodrec",
        "container": "recordings",
        "retention_days": 30,
        "public_network_access": "Enabled",
    }
    values.update(overrides)
    return RecordingsStorageArgs(**values)  # type: ignore[arg-type]


def test_account_names_follow_azure_rules() -> None:
    assert account_name("engram", "prod") == "engramprodrec"
    assert account_name("contoso", "customer-uat-eu-west") == "contosocustomeruateuwest"[:24]
    assert len(account_name("abcdefghijkl", "abcdefghijklmnopqrst")) == 24
    assert blob_endpoint("engramprodrec") == "https://engramprodrec.blob.core.windows.net"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"account_name": "Engram-Rec"}, "3-24 lower-case letters and digits"),
        ({"retention_days": 0}, "retention_days must be 1..3650"),
        ({"soft_delete_days": 366}, "soft_delete_days must be 1..365"),
        ({"public_network_access": "Disabled"}, "needs private_link"),
    ],
)
def test_args_refuse_what_azure_or_the_network_would(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        args(**overrides)


def test_a_private_account_with_its_placement_is_accepted() -> None:
    placement = PrivateLinkPlacement(subnet_id="s", zone_ids={"blob": ["z"]})
    assert args(public_network_access="Disabled", private_link=placement).private_link is placement


def test_recording_needs_a_retention() -> None:
    with pytest.raises(ValueError, match="retentionDays must be set"):
        RecordingsSection(mode="consent")
    assert RecordingsSection().mode == "off"  # the default records nothing and needs nothing


@pytest.mark.parametrize("stack", ["staging", "dev", "test"])
def test_stacks_that_do_not_record_have_no_account(stack: str) -> None:
    plan = plan_for(stack)
    assert plan.of_type(STORAGE) == []
    if stack != "dev":  # dev runs the service locally: no container app
        env = env_of(plan)
        assert env["RECORDING_MODE"]["value"] == "off"
        assert "RECORDING_STORAGE_URL" not in env


@pytest.mark.parametrize(("stack", "public", "days"), [("uat", "Enabled", "30"), ("prod", "Disabled", "90")])
def test_recording_stacks_get_a_locked_down_account(stack: str, public: str, days: str) -> None:
    plan = plan_for(stack)
    account = plan.one(STORAGE)
    inputs = account.inputs
    assert inputs["allowSharedKeyAccess"] is False
    assert inputs["allowBlobPublicAccess"] is False
    assert inputs["enableHttpsTrafficOnly"] is True
    assert inputs["minimumTlsVersion"] == "TLS1_2"
    assert inputs["encryption"]["requireInfrastructureEncryption"] is True
    assert inputs["publicNetworkAccess"] == public
    assert inputs["networkRuleSet"]["defaultAction"] == ("Deny" if public == "Disabled" else "Allow")
    container = plan.one("azure-native:storage:BlobContainer")
    assert container.inputs["publicAccess"] == "None"
    service = plan.one("azure-native:storage:BlobServiceProperties")
    assert service.inputs["deleteRetentionPolicy"] == {"enabled": True, "days": 7}
    (rule,) = plan.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"]
    assert rule["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"] == int(
        days
    )
    assert rule["definition"]["filters"] == {"blobTypes": ["blockBlob"], "prefixMatch": ["recordings/"]}
    env = env_of(plan)
    assert env["RECORDING_MODE"]["value"] == "consent"
    assert env["RECORDING_RETENTION_DAYS"]["value"] == days
    assert env["RECORDING_STORAGE_URL"]["value"] == blob_endpoint(inputs["accountName"])
    assert "RECORDING_STORAGE_CONNECTION_STRING" not in env  # Entra only in Azure
    endpoints = [
        pe
        for pe in plan.of_type("azure-native:network:PrivateEndpoint")
        if pe.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["blob"]
    ]
    assert len(endpoints) == (1 if public == "Disabled" else 0)


def test_prod_encrypts_recordings_with_its_own_hsm_key() -> None:
    plan = plan_for("prod")
    account = plan.one(STORAGE)
    encryption = account.inputs["encryption"]
    assert encryption["keySource"] == "Microsoft.Keyvault"
    assert encryption["keyVaultProperties"] == {
        "keyName": CMK_KEY_NAME,
        "keyVaultUri": plan.one("azure-native:keyvault:Vault").outputs["properties"]["vaultUri"],
    }
    assert encryption["requireInfrastructureEncryption"] is True
    key_identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "rec-cmk")
    assert encryption["encryptionIdentity"]["encryptionUserAssignedIdentity"] == key_identity.id
    assert account.inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [key_identity.id]}
    key = plan.one("azure-native:keyvault:Key")
    assert key.inputs["keyName"] == CMK_KEY_NAME
    assert key.inputs["properties"]["kty"] == "RSA-HSM"  # prod's vault is premium
    assert key.inputs["properties"]["rotationPolicy"]["lifetimeActions"][0]["action"] == {"type": "rotate"}
    targets = by_id(plan)
    (grant,) = [
        a
        for a in plan.of_type("azure-native:authorization:RoleAssignment")
        if a.inputs["principalId"] == key_identity.outputs["principalId"]
    ]
    assert grant.inputs["roleDefinitionId"].endswith(CRYPTO_SERVICE_ENCRYPTION_USER)
    assert targets[grant.inputs["scope"]].type == "azure-native:keyvault:Vault"


def test_uat_keeps_microsoft_managed_keys() -> None:
    account = plan_for("uat").one(STORAGE)
    assert account.inputs["encryption"]["keySource"] == "Microsoft.Storage"
    assert plan_for("uat").of_type("azure-native:keyvault:Key") == []
