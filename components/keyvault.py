"""KeyVault: the one place the service's secrets live; the app reads them through Key Vault references.

Creates `azure-native:keyvault:Vault` (RBAC authorization, soft delete with the profile's retention,
purge protection, standard or premium/HSM-backed SKU, network rules and public access from the
profile), one `azure-native:keyvault:Secret` per secret handed in (values come from
`pulumi config set --secret` or from other tiers' outputs, never from code; an expiry date where the
SOP 8.3 rotation schedule gives one), optionally an
`azure-native:monitor:DiagnosticSetting` for the `AuditEvent` category and a private endpoint
(group id `vault`). SOP 6.2 / 7.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
from pulumi_azure_native import keyvault

from components.observability import audit_diagnostics
from components.private_endpoint import PrivateLinkPlacement, private_endpoint
from components.tier import TierArgs

_SECRET_NAME = re.compile(r"^[a-z0-9-]{1,127}$")


@dataclass(frozen=True, kw_only=True)
class KeyVaultArgs(TierArgs):
    tenant_id: pulumi.Input[str]
    vault_name: str  # globally unique, 3-24 characters: autonaming's suffix would not fit
    sku: Literal["standard", "premium"] = "standard"
    soft_delete_retention_days: int = 90
    purge_protection: bool = True
    public_network_access: Literal["Enabled", "Disabled"] = "Disabled"
    default_action: Literal["Allow", "Deny"] = "Deny"
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    #: Expiry per secret name (Unix seconds, Key Vault's `exp` attribute): when it must be rotated.
    secret_expiry: Mapping[str, int] = field(default_factory=dict)
    audit_workspace_id: pulumi.Input[str] | None = None  # AuditEvent diagnostics when set
    private_link: PrivateLinkPlacement | None = None
    protect: bool = False

    def __post_init__(self) -> None:
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", self.vault_name):
            raise ValueError(f"vault_name {self.vault_name!r} must be 3-24 letters, digits or '-'")
        if not 7 <= self.soft_delete_retention_days <= 90:
            raise ValueError(
                f"soft_delete_retention_days must be 7..90, got {self.soft_delete_retention_days}"
            )
        bad = [n for n in self.secrets if not _SECRET_NAME.match(n)]
        if bad:
            raise ValueError(f"secret names must be lower-case letters, digits and '-': {bad}")
        stray = sorted(set(self.secret_expiry) - set(self.secrets))
        if stray:
            raise ValueError(f"secret_expiry names secrets the vault does not hold: {stray}")


class KeyVault(pulumi.ComponentResource):
    vault_id: pulumi.Output[str]  # scope of the Key Vault Secrets User role assignment
    vault_uri: pulumi.Output[str]
    secret_urls: dict[str, pulumi.Output[str]]  # versionless secret URLs for Key Vault references

    def __init__(self, name: str, args: KeyVaultArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:security:KeyVault", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        sku: keyvault.SkuArgsDict = {"family": keyvault.SkuFamily.A, "name": keyvault.SkuName(args.sku)}
        properties: keyvault.VaultPropertiesArgsDict = {
            "tenant_id": args.tenant_id,
            "sku": sku,
            "enable_rbac_authorization": True,
            "enable_soft_delete": True,
            "soft_delete_retention_in_days": args.soft_delete_retention_days,
            "public_network_access": args.public_network_access,
            "network_acls": {"default_action": args.default_action, "bypass": "AzureServices"},
        }
        if args.purge_protection:
            # Azure refuses `false` here: purge protection can only be switched on, never off.
            properties["enable_purge_protection"] = True
        vault = keyvault.Vault(
            f"{name}-kv",
            resource_group_name=args.resource_group_name,
            vault_name=args.vault_name,
            location=args.location,
            tags=dict(args.tags),
            properties=properties,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        vault_uri = vault.properties.apply(lambda p: p.vault_uri or "")
        self.secret_urls = {}
        for secret_name, value in args.secrets.items():
            secret = keyvault.Secret(
                f"{name}-secret-{secret_name}",
                resource_group_name=args.resource_group_name,
                vault_name=vault.name,
                secret_name=secret_name,
                tags=dict(args.tags),
                properties={
                    "value": pulumi.Output.secret(value),
                    "content_type": "text/plain",  # every Engram secret is a string read as an env var
                    **(
                        {"attributes": {"expires": args.secret_expiry[secret_name]}}
                        if secret_name in args.secret_expiry
                        else {}
                    ),
                },
                opts=child,
            )
            # Derived from the secret's id so a consumer waits for the secret to exist.
            self.secret_urls[secret_name] = _secret_url(secret.id, vault_uri, secret_name)
        if args.audit_workspace_id is not None:
            audit_diagnostics(
                f"{name}-kv-audit",
                target_id=vault.id,
                workspace_id=args.audit_workspace_id,
                categories=("AuditEvent",),
                opts=child,
            )
        if args.private_link is not None:
            private_endpoint(
                f"{name}-kv",
                args,
                target_id=vault.id,
                group_id="vault",
                placement=args.private_link,
                parent=self,
            )
        self.vault_id = vault.id
        self.vault_uri = vault_uri
        self.register_outputs({"vault_id": vault.id, "vault_uri": vault_uri})


def _secret_url(
    secret_id: pulumi.Output[str], vault_uri: pulumi.Output[str], name: str
) -> pulumi.Output[str]:
    """The versionless secret URL, derived from the secret's id so consumers wait for the secret."""
    return pulumi.Output.all(secret_id, vault_uri).apply(lambda parts: f"{parts[1]}secrets/{name}")
