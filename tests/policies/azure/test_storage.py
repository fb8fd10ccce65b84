"""AZ-ST-*: storage account names, where a user-delegation signer's role sits, lifecycle policy shape."""

from __future__ import annotations

from typing import Any

from policies.rules.azure import storage as rules
from tests.policies.builders import messages, resource, run_resource, run_stack, tags

NAME, SCOPE, POLICY_NAME, BLOB_TYPES, CMK, CMK_VAULT = rules.CATALOGUE
CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ACCOUNT_SCOPE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/engramprodrec"


def assignment(scope: str = ACCOUNT_SCOPE, role: str = CONTRIBUTOR) -> dict[str, Any]:
    return {
        "principalId": "p",
        "principalType": "ServicePrincipal",
        "roleDefinitionId": f"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{role}",
        "scope": scope,
    }


def policy(**definition: Any) -> dict[str, Any]:
    return {
        "accountName": "engramprodrec",
        "managementPolicyName": "default",
        "policy": {
            "rules": [{"name": "expire", "enabled": True, "type": "Lifecycle", "definition": definition}]
        },
    }


def test_valid_account_name_passes_and_hyphens_are_refused() -> None:
    props = {"accountName": "engramprodrec", "tags": tags()}
    assert run_resource(NAME, rules.STORAGE_ACCOUNT, props) == []
    props["accountName"] = "engram-prod-rec"
    assert messages(run_resource(NAME, rules.STORAGE_ACCOUNT, props)) == [
        "Storage accountName 'engram-prod-rec' is not 3-24 lower-case letters and digits; rename it (it "
        "becomes <name>.blob.core.windows.net)."
    ]


def test_blob_data_role_at_account_scope_passes() -> None:
    assert run_resource(SCOPE, rules.ROLE_ASSIGNMENT, assignment()) == []


def test_blob_data_role_at_container_scope_cannot_sign_links() -> None:
    props = assignment(f"{ACCOUNT_SCOPE}/blobServices/default/containers/recordings")
    assert messages(run_resource(SCOPE, rules.ROLE_ASSIGNMENT, props)) == [
        "Storage Blob Data Contributor is assigned at container scope; a user-delegation key is asked for at "
        "the account, so the holder cannot sign read links. Assign it on the storage account (or add Storage "
        "Blob Delegator)."
    ]


def test_other_roles_at_container_scope_are_not_this_rules_business() -> None:
    props = assignment(f"{ACCOUNT_SCOPE}/blobServices/default/containers/x", role="acdd72a7-0000")
    assert run_resource(SCOPE, rules.ROLE_ASSIGNMENT, props) == []


def test_policy_must_be_named_default() -> None:
    props = policy(filters={"blobTypes": ["blockBlob"]})
    assert run_resource(POLICY_NAME, rules.MANAGEMENT_POLICY, props) == []
    props["managementPolicyName"] = "recordings"
    assert messages(run_resource(POLICY_NAME, rules.MANAGEMENT_POLICY, props)) == [
        "Storage managementPolicyName is 'recordings'; set managementPolicyName=\"default\"."
    ]


def test_rule_without_blob_types_is_refused() -> None:
    ok = policy(filters={"blobTypes": ["blockBlob"]}, actions={})
    assert run_resource(BLOB_TYPES, rules.MANAGEMENT_POLICY, ok) == []
    bad = policy(filters={"prefixMatch": ["recordings/"]}, actions={})
    assert messages(run_resource(BLOB_TYPES, rules.MANAGEMENT_POLICY, bad)) == [
        "Lifecycle rule 'expire' has no definition.filters.blobTypes; set blobTypes (e.g. [\"blockBlob\"])."
    ]


def cmk_account() -> dict[str, Any]:
    return {
        "accountName": "engramprodrec",
        "tags": tags(),
        "identity": {"type": "UserAssigned", "userAssignedIdentities": ["/id/cmk"]},
        "encryption": {
            "keySource": "Microsoft.Keyvault",
            "keyVaultProperties": {"keyName": "recordings-cmk", "keyVaultUri": "https://kv.vault.azure.net/"},
            "encryptionIdentity": {"encryptionUserAssignedIdentity": "/id/cmk"},
        },
    }


def test_customer_managed_key_with_its_identity_passes() -> None:
    assert run_resource(CMK, rules.STORAGE_ACCOUNT, cmk_account()) == []
    plain = {"accountName": "engramprodrec", "tags": tags(), "encryption": {"keySource": "Microsoft.Storage"}}
    assert run_resource(CMK, rules.STORAGE_ACCOUNT, plain) == []


def test_customer_managed_key_without_a_user_assigned_identity_is_refused() -> None:
    props = cmk_account()
    props["identity"] = {"type": "SystemAssigned"}
    del props["encryption"]["encryptionIdentity"]
    assert messages(run_resource(CMK, rules.STORAGE_ACCOUNT, props)) == [
        "Storage account encryption.keySource is 'Microsoft.Keyvault' but lacks identity.type UserAssigned "
        "with that identity in encryption.encryptionIdentity.encryptionUserAssignedIdentity; set them."
    ]


def test_customer_managed_key_without_a_key_name_is_refused() -> None:
    props = cmk_account()
    del props["encryption"]["keyVaultProperties"]["keyName"]
    assert (
        "lacks encryption.keyVaultProperties.keyName and keyVaultUri"
        in messages(run_resource(CMK, rules.STORAGE_ACCOUNT, props))[0]
    )


def _vault(purge_protection: bool) -> dict[str, Any]:
    return {"vaultName": "kv", "tags": tags(), "properties": {"enablePurgeProtection": purge_protection}}


def test_cmk_vault_with_purge_protection_passes() -> None:
    planned = [
        resource(rules.STORAGE_ACCOUNT, cmk_account(), name="rec"),
        resource("azure-native:keyvault:Vault", _vault(True), name="vault"),
    ]
    assert run_stack(CMK_VAULT, planned) == []


def test_cmk_vault_without_purge_protection_is_refused() -> None:
    planned = [
        resource(rules.STORAGE_ACCOUNT, cmk_account(), name="rec"),
        resource("azure-native:keyvault:Vault", _vault(False), name="vault"),
    ]
    (finding,) = run_stack(CMK_VAULT, planned)
    assert finding.message == (
        "Storage account 'rec' is encrypted with a key in Key Vault 'vault', which has no purge protection; "
        "set properties.enablePurgeProtection=true on the vault."
    )
