"""RecordingsStorage: the storage account that holds consented voice recordings (SOP 5.6, 6.7, 7).

Creates `azure-native:storage:StorageAccount` (StorageV2; shared-key access off, so only Entra
tokens and user-delegation SAS work; no public blob access; HTTPS and TLS 1.2 only; infrastructure
(double) encryption at rest; public network access off with a private endpoint where the stack has
private link), `azure-native:storage:BlobServiceProperties` (blob and container soft delete),
`azure-native:storage:BlobContainer` (private) and `azure-native:storage:ManagementPolicy` (the
lifecycle rule deleting recordings older than the retention: the second line behind the service's
own purge), plus a `PrivateEndpoint` (group `blob`) on private-link stacks. With a customer-managed
key (`recordings.customerManagedKey`): a `keyvault:Key` (RSA-HSM 3072, rotated yearly by its rotation
policy) in the stack's vault, a user-assigned identity for the account with Key Vault Crypto Service
Encryption User on the vault, and the account's encryption keyed to it (AZ-ST-005). The app identity's role
(Storage Blob Data Contributor, which also lets it ask for user-delegation keys) is granted by the
platform with the other grants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import keyvault, managedidentity, storage

from components.identity import assign_role
from components.private_endpoint import PrivateLinkPlacement, private_endpoint
from components.tier import TierArgs

#: The one lifecycle policy an account has is always named "default" (ARM refuses any other name).
MANAGEMENT_POLICY_NAME = "default"
LIFECYCLE_RULE = "delete-expired-recordings"
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
#: Key Vault Crypto Service Encryption User: wrap/unwrap with the vault's keys (what Storage's CMK needs).
CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
CMK_KEY_NAME = "recordings-cmk"


def account_name(prefix: str, stack: str) -> str:
    """`<prefix><stack>rec`, letters and digits only, at most 24 (Azure's storage account name rules)."""
    return re.sub(r"[^a-z0-9]", "", f"{prefix}{stack}rec".lower())[:24]


def blob_endpoint(name: str) -> str:
    """The account's blob endpoint in Azure's public cloud (RECORDING_STORAGE_URL)."""
    return f"https://{name}.blob.core.windows.net"


@dataclass(frozen=True, kw_only=True)
class CustomerManagedKey:
    """The stack's Key Vault, which holds the account's key (soft delete and purge protection on)."""

    vault_name: pulumi.Input[str]
    vault_id: pulumi.Input[str]
    vault_uri: pulumi.Input[str]
    subscription_id: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class RecordingsStorageArgs(TierArgs):
    account_name: str
    container: str
    retention_days: int  # lifecycle: delete blobs not modified for longer than this
    sku: Literal["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_GZRS"] = "Standard_LRS"
    public_network_access: Literal["Enabled", "Disabled"] = "Disabled"
    soft_delete_days: int = 7
    private_link: PrivateLinkPlacement | None = None
    customer_managed_key: CustomerManagedKey | None = None

    def __post_init__(self) -> None:
        if not _ACCOUNT_NAME.match(self.account_name):
            raise ValueError(f"account_name {self.account_name!r} must be 3-24 lower-case letters and digits")
        if not 1 <= self.retention_days <= 3650:
            raise ValueError(f"retention_days must be 1..3650, got {self.retention_days}")
        if not 1 <= self.soft_delete_days <= 365:
            raise ValueError(f"soft_delete_days must be 1..365, got {self.soft_delete_days}")
        if self.public_network_access == "Disabled" and self.private_link is None:
            raise ValueError(
                "public_network_access Disabled needs private_link (nothing could reach the account)"
            )


class RecordingsStorage(pulumi.ComponentResource):
    account_id: pulumi.Output[str]  # scope of the app identity's Storage Blob Data Contributor grant
    blob_url: str  # RECORDING_STORAGE_URL for the service
    container_name: str

    def __init__(self, name: str, args: RecordingsStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:recordings:RecordingsStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        private = args.public_network_access == "Disabled"
        encryption: storage.EncryptionArgsDict = {
            "key_source": "Microsoft.Storage",
            "require_infrastructure_encryption": True,  # a second AES-256 layer at the infrastructure
            "services": {"blob": {"enabled": True, "key_type": "Account"}},
        }
        identity: storage.IdentityArgsDict | None = None
        account_opts = child
        cmk = args.customer_managed_key
        if cmk is not None:
            # Azure wants a user-assigned identity when CMK is set at creation (AZ-ST-005).
            key_identity = managedidentity.UserAssignedIdentity(
                f"{name}-cmk-id",
                resource_group_name=args.resource_group_name,
                location=args.location,
                tags=dict(args.tags),
                opts=child,
            )
            key_properties: keyvault.KeyPropertiesArgsDict = {
                "kty": keyvault.JsonWebKeyType.RS_A_HSM,
                "key_size": 3072,
                "key_ops": [keyvault.JsonWebKeyOperation.WRAP_KEY, keyvault.JsonWebKeyOperation.UNWRAP_KEY],
                # A new version every year; the account follows (no key_version pinned below).
                "rotation_policy": {
                    "attributes": {"expiry_time": "P2Y"},
                    "lifetime_actions": [
                        {
                            "action": {"type": keyvault.KeyRotationPolicyActionType.ROTATE},
                            "trigger": {"time_after_create": "P1Y"},
                        }
                    ],
                },
            }
            key = keyvault.Key(
                f"{name}-cmk-key",
                resource_group_name=args.resource_group_name,
                vault_name=cmk.vault_name,
                key_name=CMK_KEY_NAME,
                tags=dict(args.tags),
                properties=key_properties,
                opts=child,
            )
            grant = assign_role(
                f"{name}-cmk-crypto",
                principal_id=key_identity.principal_id,
                principal_type="ServicePrincipal",
                role_id=CRYPTO_SERVICE_ENCRYPTION_USER,
                scope=cmk.vault_id,
                subscription_id=cmk.subscription_id,
                opts=child,
            )
            encryption = {
                **encryption,
                "key_source": "Microsoft.Keyvault",
                "key_vault_properties": {"key_name": CMK_KEY_NAME, "key_vault_uri": cmk.vault_uri},
                "encryption_identity": {"encryption_user_assigned_identity": key_identity.id},
            }
            identity = {
                "type": storage.IdentityType.USER_ASSIGNED,
                "user_assigned_identities": [key_identity.id],
            }
            account_opts = pulumi.ResourceOptions(parent=self, depends_on=[grant, key])
        rules: storage.NetworkRuleSetArgsDict = {
            "default_action": storage.DefaultAction.DENY if private else storage.DefaultAction.ALLOW,
            "bypass": storage.Bypass.NONE,  # no trusted-service exception
        }
        account = storage.StorageAccount(
            f"{name}-st",
            account_name=args.account_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            kind="StorageV2",
            sku=storage.SkuArgs(name=args.sku),
            access_tier=storage.AccessTier.HOT,
            allow_blob_public_access=False,
            allow_shared_key_access=False,  # Entra only; read links are user-delegation SAS (AZ-ST-002)
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            public_network_access=args.public_network_access,
            network_rule_set=rules,
            encryption=encryption,
            identity=identity,
            opts=account_opts,
        )
        storage.BlobServiceProperties(
            f"{name}-blobsvc",
            account_name=account.name,
            resource_group_name=args.resource_group_name,
            blob_services_name="default",
            delete_retention_policy={"enabled": True, "days": args.soft_delete_days},
            container_delete_retention_policy={"enabled": True, "days": args.soft_delete_days},
            opts=child,
        )
        storage.BlobContainer(
            f"{name}-container",
            account_name=account.name,
            resource_group_name=args.resource_group_name,
            container_name=args.container,
            public_access=storage.PublicAccess.NONE,
            opts=child,
        )
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            account_name=account.name,
            resource_group_name=args.resource_group_name,
            management_policy_name=MANAGEMENT_POLICY_NAME,
            policy={
                "rules": [
                    {
                        "name": LIFECYCLE_RULE,
                        "enabled": True,
                        "type": "Lifecycle",
                        "definition": {
                            "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{args.container}/"]},
                            "actions": {
                                "base_blob": {
                                    "delete": {"days_after_modification_greater_than": args.retention_days}
                                }
                            },
                        },
                    }
                ]
            },
            opts=child,
        )
        if args.private_link is not None:
            private_endpoint(
                f"{name}-pe-blob",
                args,
                target_id=account.id,
                group_id="blob",
                placement=args.private_link,
                parent=self,
            )
        self.account_id = account.id
        self.blob_url = blob_endpoint(args.account_name)
        self.container_name = args.container
        self.register_outputs({"account_id": self.account_id, "blob_url": self.blob_url})
