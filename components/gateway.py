"""AiGateway: the OpenAI-compatible front door of the AI tier (API Management), or a customer's own.

With `mode="apim"` it creates `azure-native:apimanagement:ApiManagementService` (system identity,
TLS 1.0/1.1 and SSL 3 off on both sides; injected in internal mode into the gateway subnet where the
profile asks, with an `azure-api.net` private zone so the VNet resolves it), a
`azure-native:apimanagement:NamedValue` holding the AI Services backend URL, the
`azure-native:apimanagement:Api` at `/<path>/openai/v1` (subscription key in the `api-key` header),
its `azure-native:apimanagement:ApiOperation` `POST /chat/completions`, an
`azure-native:apimanagement:ApiPolicy` (managed-identity auth to the backend, per-environment call
and token limits), an `azure-native:apimanagement:Subscription` whose key is the `azure-ai-key`
secret the app reads from Key Vault, the gateway identity's Cognitive Services OpenAI User role on the
account, optionally `GatewayLogs` diagnostics, and a private endpoint (group id `Gateway`) only on a
non-injected gateway (Azure supports none on an injected one).
With `mode="existing"` it creates nothing and passes the customer's gateway URL through (SOP 1.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict
from xml.sax.saxutils import quoteattr

import pulumi
from pulumi_azure_native import apimanagement

from components.identity import OPENAI_USER, assign_role
from components.network import DnsLinks, private_zone
from components.observability import audit_diagnostics
from components.private_endpoint import PrivateLinkPlacement, private_endpoint
from components.tier import TierArgs

#: Protocols switched off on the gateway (SOP: TLS 1.2+).
_TLS_OFF = {
    f"Microsoft.WindowsAzure.ApiManagement.Gateway.Security.{side}.{proto}": "False"
    for side in ("Protocols", "Backend.Protocols")
    for proto in ("Tls10", "Tls11", "Ssl30")
}
BACKEND_NAMED_VALUE = "ai-services-openai-v1"


def gateway_policy(calls_per_minute: int | None, tokens_per_minute: int | None) -> str:
    """The API's policy XML: limits per caller, the caller key stripped, managed identity to the backend."""
    limits = []
    if calls_per_minute is not None:
        limits.append(f'<rate-limit calls="{int(calls_per_minute)}" renewal-period="60" />')
    if tokens_per_minute is not None:
        limits.append(
            f"<llm-token-limit counter-key={quoteattr('@(context.Subscription.Id)')} "
            f'tokens-per-minute="{int(tokens_per_minute)}" estimate-prompt-tokens="true" />'
        )
    inbound = "\n    ".join(
        [
            "<base />",
            *limits,
            '<set-header name="api-key" exists-action="delete" />',
            '<authentication-managed-identity resource="https://cognitiveservices.azure.com" />',
            f'<set-backend-service base-url="{{{{{BACKEND_NAMED_VALUE}}}}}" />',
        ]
    )
    return (
        "<policies>\n  <inbound>\n    "
        + inbound
        + "\n  </inbound>\n  <backend><base /></backend>\n  <outbound><base /></outbound>\n"
        "  <on-error><base /></on-error>\n</policies>"
    )


class _InApi(TypedDict):
    """Where a child of the gateway's API goes."""

    resource_group_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    api_id: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class AiGatewayArgs(TierArgs):
    mode: Literal["apim", "existing"]
    existing_url: str | None = None
    backend_url: pulumi.Input[str] | None = None  # AI Services `.../openai/v1`
    account_id: pulumi.Input[str] | None = None  # for the gateway identity's role assignment
    subscription_id: pulumi.Input[str] | None = None
    caller_key: pulumi.Input[str] | None = None  # the `azure-ai-key` secret
    sku: str = "Consumption"
    capacity: int = 0
    path: str = "engram"
    calls_per_minute: int | None = None
    tokens_per_minute: int | None = None
    publisher_email: str = "<CUSTOMER_PUBLISHER_EMAIL>"
    publisher_name: str = "Engram"
    public_network_access: Literal["Enabled", "Disabled"] = "Enabled"
    logs_workspace_id: pulumi.Input[str] | None = None
    private_link: PrivateLinkPlacement | None = None
    # Internal mode: injected into this subnet, reachable by name through an `azure-api.net` zone.
    subnet_id: pulumi.Input[str] | None = None
    dns: DnsLinks | None = None

    def __post_init__(self) -> None:
        if self.public_network_access == "Disabled":
            raise ValueError(
                "public_network_access 'Disabled' is refused when API Management is created; inject the "
                "gateway (subnet_id) for a private one"
            )
        if (self.subnet_id is None) != (self.dns is None):
            raise ValueError("an injected gateway needs both subnet_id and dns (its private name)")
        if self.subnet_id is not None and self.sku not in ("Developer", "Premium"):
            raise ValueError(f"VNet injection needs the Developer or Premium SKU, not {self.sku!r}")
        if self.mode == "existing":
            if not (self.existing_url or "").startswith("https://"):
                raise ValueError("mode 'existing' needs existing_url, an https:// URL")
        else:
            missing = [
                n
                for n in ("backend_url", "account_id", "subscription_id", "caller_key")
                if getattr(self, n) is None
            ]
            if missing:
                raise ValueError(f"mode 'apim' needs {', '.join(missing)}")


class AiGateway(pulumi.ComponentResource):
    url: pulumi.Output[str]  # AZURE_AI_ENDPOINT: the OpenAI-compatible base URL (`.../openai/v1`)

    def __init__(self, name: str, args: AiGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:ai:AiGateway", name, None, opts)
        if args.mode == "existing":
            self.url = pulumi.Output.from_input(str(args.existing_url).rstrip("/"))
            self.register_outputs({"url": self.url})
            return
        assert args.backend_url is not None and args.account_id is not None  # checked in args
        assert args.subscription_id is not None and args.caller_key is not None
        child = pulumi.ResourceOptions(parent=self)
        service = apimanagement.ApiManagementService(
            f"{name}-apim",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            sku={"name": args.sku, "capacity": args.capacity},
            identity={"type": "SystemAssigned"},
            publisher_email=args.publisher_email,
            publisher_name=args.publisher_name,
            public_network_access=args.public_network_access,
            custom_properties=dict(_TLS_OFF),
            # Internal mode: the gateway gets a private IP in the subnet and no public endpoint, and its
            # calls to the AI Services private endpoint leave from the VNet (APIM is not a trusted
            # service of Cognitive Services, so without this every chat would get 403).
            virtual_network_type="Internal" if args.subnet_id is not None else None,
            virtual_network_configuration=(
                {"subnet_resource_id": args.subnet_id} if args.subnet_id is not None else None
            ),
            opts=child,
        )
        backend = apimanagement.NamedValue(
            f"{name}-nv-backend",
            resource_group_name=args.resource_group_name,
            service_name=service.name,
            named_value_id=BACKEND_NAMED_VALUE,
            display_name=BACKEND_NAMED_VALUE,
            value=args.backend_url,
            secret=False,  # a URL, not a credential
            opts=child,
        )
        api_path = f"{args.path}/openai/v1"
        api = apimanagement.Api(
            f"{name}-api",
            resource_group_name=args.resource_group_name,
            service_name=service.name,
            api_id="engram-openai-v1",
            display_name="Engram OpenAI-compatible v1",
            path=api_path,
            protocols=["https"],
            subscription_required=True,
            subscription_key_parameter_names={"header": "api-key", "query": "api-key"},
            opts=child,
        )
        in_api = _InApi(
            resource_group_name=args.resource_group_name, service_name=service.name, api_id=api.name
        )
        apimanagement.ApiOperation(
            f"{name}-op-chat",
            **in_api,
            operation_id="chat-completions",
            display_name="Create chat completion",
            method="POST",
            url_template="/chat/completions",
            opts=child,
        )
        apimanagement.ApiPolicy(
            f"{name}-policy",
            **in_api,
            policy_id="policy",
            format="rawxml",
            value=gateway_policy(args.calls_per_minute, args.tokens_per_minute),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[backend]),
        )
        apimanagement.Subscription(
            f"{name}-sub-app",
            resource_group_name=args.resource_group_name,
            service_name=service.name,
            sid="engram-app",
            display_name="Engram API",
            scope=pulumi.Output.concat("/apis/", api.name),
            state=apimanagement.SubscriptionState.ACTIVE,
            primary_key=pulumi.Output.secret(args.caller_key),
            opts=child,
        )
        principal_id = service.identity.apply(lambda i: i.principal_id if i else "")
        assign_role(
            f"{name}-apim-openai",
            principal_id=principal_id,
            principal_type="ServicePrincipal",
            role_id=OPENAI_USER,
            scope=args.account_id,
            subscription_id=args.subscription_id,
            opts=child,
        )
        if args.logs_workspace_id is not None:
            audit_diagnostics(
                f"{name}-apim-logs",
                target_id=service.id,
                workspace_id=args.logs_workspace_id,
                categories=("GatewayLogs",),
                opts=child,
            )
        if args.dns is not None:
            # Internal mode registers nothing in public DNS: the VNet resolves the gateway's host name
            # through this zone. It is linked to the stack's VNet only (a hub keeps its own azure-api.net).
            private_zone(
                f"{name}-dns",
                "azure-api.net",
                args.dns,
                records=[(service.name, service.private_ip_addresses.apply(_first_ip))],
                opts=child,
            )
        elif args.private_link is not None:
            private_endpoint(
                f"{name}-apim",
                args,
                target_id=service.id,
                group_id="Gateway",
                placement=args.private_link,
                parent=self,
            )
        self.url = pulumi.Output.concat(service.gateway_url, "/", api_path)
        self.register_outputs({"url": self.url})


def _first_ip(addresses: Sequence[str] | None) -> str:
    return addresses[0] if addresses else ""
