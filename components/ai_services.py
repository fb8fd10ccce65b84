"""AiServices: the Azure AI Services account behind chat and VoiceLive, with its model deployments.

Creates `azure-native:cognitiveservices:Account` (kind `AIServices`, custom subdomain — required for
Entra auth and VoiceLive — system-assigned identity, local (key) auth disabled so every caller uses
Entra roles, public access and network rules from the profile), one
`azure-native:cognitiveservices:Deployment` per model (chat: gpt-5-chat, realtime: gpt-realtime;
capacity in thousands of tokens per minute from config), optionally an audit
`azure-native:monitor:DiagnosticSetting` and a private endpoint (group id `account`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import cognitiveservices

from components.observability import audit_diagnostics
from components.private_endpoint import PrivateLinkPlacement, private_endpoint
from components.tier import TierArgs


@dataclass(frozen=True, kw_only=True)
class ModelDeploymentArgs:
    name: str  # the deployment name callers use (AZURE_AI_DEPLOYMENT, AZURE_VOICELIVE_MODEL)
    model: str
    version: str
    sku: str
    capacity: int  # thousands of tokens per minute

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"deployment {self.name}: capacity must be >= 1, got {self.capacity}")


@dataclass(frozen=True, kw_only=True)
class AiServicesArgs(TierArgs):
    custom_subdomain: str
    deployments: Sequence[ModelDeploymentArgs]
    public_network_access: Literal["Enabled", "Disabled"] = "Disabled"
    audit_workspace_id: pulumi.Input[str] | None = None
    private_link: PrivateLinkPlacement | None = None

    def __post_init__(self) -> None:
        names = [d.name for d in self.deployments]
        if len(names) != len(set(names)):
            raise ValueError(f"deployment names must be unique: {names}")


class AiServices(pulumi.ComponentResource):
    account_id: pulumi.Output[str]  # scope of the Speech User / OpenAI User role assignments
    endpoint: pulumi.Output[str]  # https://<subdomain>.cognitiveservices.azure.com/ (VoiceLive)
    openai_v1_url: pulumi.Output[str]  # the OpenAI-compatible base URL the gateway forwards to
    principal_id: pulumi.Output[str]  # the account identity (for its own grants, e.g. storage)

    def __init__(self, name: str, args: AiServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:ai:AiServices", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        properties: cognitiveservices.AccountPropertiesArgsDict = {
            "custom_sub_domain_name": args.custom_subdomain,
            "public_network_access": args.public_network_access,
            "disable_local_auth": True,
            "network_acls": {
                "default_action": "Deny" if args.public_network_access == "Disabled" else "Allow",
                "bypass": "AzureServices",
            },
        }
        account = cognitiveservices.Account(
            f"{name}-ais",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            kind="AIServices",
            sku={"name": "S0"},
            identity={"type": cognitiveservices.ResourceIdentityType.SYSTEM_ASSIGNED},
            properties=properties,
            opts=child,
        )
        previous: list[pulumi.Resource] = []
        for deployment in args.deployments:
            created = cognitiveservices.Deployment(
                f"{name}-deploy-{deployment.name}",
                resource_group_name=args.resource_group_name,
                account_name=account.name,
                deployment_name=deployment.name,
                tags=dict(args.tags),
                sku={"name": deployment.sku, "capacity": deployment.capacity},
                properties={
                    "model": {"format": "OpenAI", "name": deployment.model, "version": deployment.version},
                    "version_upgrade_option": "NoAutoUpgrade",
                },
                # Azure rejects concurrent deployment operations on one account: one at a time.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(previous)),
            )
            previous = [created]
        if args.audit_workspace_id is not None:
            audit_diagnostics(
                f"{name}-ais-audit",
                target_id=account.id,
                workspace_id=args.audit_workspace_id,
                categories=("Audit", "RequestResponse"),
                opts=child,
            )
        if args.private_link is not None:
            private_endpoint(
                f"{name}-ais",
                args,
                target_id=account.id,
                group_id="account",
                placement=args.private_link,
                parent=self,
            )
        self.account_id = account.id
        self.endpoint = account.properties.apply(lambda p: p.endpoint or "")
        self.openai_v1_url = self.endpoint.apply(lambda e: e.rstrip("/") + "/openai/v1")
        self.principal_id = account.identity.apply(lambda i: i.principal_id if i else "")
        self.register_outputs({"account_id": account.id, "endpoint": self.endpoint})
