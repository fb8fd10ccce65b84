"""Identity and access: who the workload is, what it may touch, and the Entra app users sign in to.

`WorkloadIdentity` creates the app's `azure-native:managedidentity:UserAssignedIdentity` (hosted
stacks) and one `azure-native:authorization:RoleAssignment` per principal and grant, with a
deterministic GUID name so re-runs never duplicate an assignment. The dev stack grants the same roles
to developers' own Entra identities instead (SOP: "Managed Identity: local").

`EntraApplication` creates, through pulumi-azuread, the API's `azuread:index/application:Application`
(app roles engram.user / engram.analyst / engram.admin, assignable to service principals where the
profile says so; identifier URI; the delegated `access_as_user` scope MSAL asks for) and its
`azuread:index/servicePrincipal:ServicePrincipal`; the UI's own public client (a second Application
with the SPA redirect URIs, `azuread:index/applicationRedirectUris:ApplicationRedirectUris`, asking for
the API's scope) pre-authorized on the API (`azuread:index/applicationPreAuthorized:ApplicationPreAuthorized`,
so users get no consent prompt); and where the profile asks for it the SOP 6.3
`azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy` (MFA + compliant device, 8-hour
sign-in frequency) with an optional `azuread:index/namedLocation:NamedLocation` geo restriction.

Why two registrations: the API registration is a resource only (no redirect URI: nothing can sign a user
in "as" the API), the UI is a public client that holds no secret; the token the UI gets is for the API
(`aud` = the API's client id), so the API validates one audience whatever the client. The prod MFA proof
(the `c1` authentication context and its Conditional Access policy) has no pulumi-azuread resource:
`engram tenant auth-context` creates it through Microsoft Graph (app/ops/auth_context.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_azuread as azuread
from pulumi_azure_native import authorization, managedidentity

from components.tier import TierArgs

# Built-in role definition ids (the same in every tenant).
SPEECH_USER = "f2dc8367-1007-4938-bd23-fe263f013447"  # Cognitive Services Speech User (VoiceLive)
OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"  # Cognitive Services OpenAI User
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
#: Storage Blob Data Contributor: read, write and delete blobs, and (at account scope) ask for the
#: user-delegation key that signs recording read links (AZ-ST-002).
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

#: Namespace of the deterministic role assignment names (uuid5 of the assignment's logical key).
ASSIGNMENT_NAMESPACE = uuid.UUID("5b1f3c8e-9d0a-4e51-8a43-6f0e2b7c9d11")

#: The API's app roles (the service maps them to permissions in app/security).
APP_ROLES: tuple[tuple[str, str], ...] = (
    ("engram.user", "Chat and talk with the agents; read one's own memory."),
    ("engram.analyst", "Everything a user may, plus search memory and read the facts taken from it."),
    ("engram.admin", "Everything an analyst may, plus all users' memory, audit, usage, recordings, erasure."),
)
APP_ROLE_NAMESPACE = uuid.UUID("0c6f2f55-2a57-4e4f-9b0c-1d7f4c1f6a20")

PrincipalType = Literal["ServicePrincipal", "User", "Group"]


def role_definition_id(subscription_id: pulumi.Input[str], role_id: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role_id
    )


def assignment_name(*parts: str) -> str:
    """A stable GUID for one (scope, principal, role) triple, from logical names known at plan time."""
    return str(uuid.uuid5(ASSIGNMENT_NAMESPACE, "/".join(parts)))


def assign_role(
    name: str,
    *,
    principal_id: pulumi.Input[str],
    principal_type: PrincipalType,
    role_id: str,
    scope: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> authorization.RoleAssignment:
    return authorization.RoleAssignment(
        name,
        role_assignment_name=assignment_name(name, role_id),
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=role_definition_id(subscription_id, role_id),
        scope=scope,
        opts=opts,
    )


@dataclass(frozen=True, kw_only=True)
class Grant:
    """A role on a scope, e.g. Key Vault Secrets User on the vault."""

    label: str  # logical name of the scope ("kv", "ai", "acr"): part of the assignment name
    role_id: str
    scope: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentityArgs(TierArgs):
    subscription_id: pulumi.Input[str]
    grants: Sequence[Grant]
    managed_identity: bool = True  # hosted stacks: the app's user-assigned identity gets the grants
    developer_principal_ids: Sequence[str] = ()  # local stacks: developers get the same grants

    def __post_init__(self) -> None:
        if not self.managed_identity and not self.developer_principal_ids:
            raise ValueError("no principal: enable managed_identity or list developer_principal_ids")
        labels = [(g.label, g.role_id) for g in self.grants]
        if len(labels) != len(set(labels)):
            raise ValueError(f"duplicate grants: {labels}")


class WorkloadIdentity(pulumi.ComponentResource):
    identity_id: pulumi.Output[str] | None  # the container app's identity and Key Vault reference identity
    client_id: pulumi.Output[str] | None  # AZURE_CLIENT_ID for DefaultAzureCredential in the app
    principal_id: pulumi.Output[str] | None  # its object id (data-plane grants such as Redis access)
    assignments: list[authorization.RoleAssignment]  # the app must wait for these before it starts

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:identity:WorkloadIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        principals: list[tuple[str, pulumi.Input[str], PrincipalType]] = []
        self.identity_id = self.client_id = self.principal_id = None
        if args.managed_identity:
            uami = managedidentity.UserAssignedIdentity(
                f"{name}-id",
                resource_group_name=args.resource_group_name,
                location=args.location,
                tags=dict(args.tags),
                opts=child,
            )
            self.identity_id, self.client_id, self.principal_id = uami.id, uami.client_id, uami.principal_id
            principals.append(("app", uami.principal_id, "ServicePrincipal"))
        for index, object_id in enumerate(args.developer_principal_ids):
            principals.append((f"dev{index}", object_id, "User"))
        self.assignments = [
            assign_role(
                f"{name}-{label}-{grant.label}-{_ROLE_LABELS.get(grant.role_id, grant.role_id[:8])}",
                principal_id=principal_id,
                principal_type=principal_type,
                role_id=grant.role_id,
                scope=grant.scope,
                subscription_id=args.subscription_id,
                opts=child,
            )
            for label, principal_id, principal_type in principals
            for grant in args.grants
        ]
        self.register_outputs({"identity_id": self.identity_id, "client_id": self.client_id})


_ROLE_LABELS = {
    SPEECH_USER: "speech",
    OPENAI_USER: "openai",
    KEY_VAULT_SECRETS_USER: "secrets",
    ACR_PULL: "acrpull",
    STORAGE_BLOB_DATA_CONTRIBUTOR: "blobdata",
}


@dataclass(frozen=True, kw_only=True)
class ConditionalAccessArgs:
    included_group_ids: Sequence[str]
    excluded_group_ids: Sequence[str] = ()
    require_compliant_device: bool = True
    sign_in_frequency_hours: int = 8
    allowed_countries: Sequence[str] = ()
    state: str = "enabled"

    def __post_init__(self) -> None:
        if not self.included_group_ids:
            raise ValueError("included_group_ids must name at least one group")
        if not 1 <= self.sign_in_frequency_hours <= 24:
            raise ValueError(f"sign_in_frequency_hours must be 1..24, got {self.sign_in_frequency_hours}")


#: The delegated scope the UI asks for with MSAL (`<identifier uri>/access_as_user`: VITE_API_SCOPE).
USER_SCOPE = "access_as_user"


@dataclass(frozen=True, kw_only=True)
class EntraApplicationArgs:
    display_name: str
    identifier_uri: str
    conditional_access: ConditionalAccessArgs | None = None
    # Graph only lets an app role be assigned to a service principal when its allowedMemberTypes
    # include "Application" (the test tier's clients, the pipeline's `engram verify`).
    service_principal_roles: bool = True
    # MSAL (auth code + PKCE) in the browser needs the UI's origin as an SPA redirect URI.
    spa_redirect_uris: pulumi.Input[Sequence[str]] | None = None


#: Stable id of the `access_as_user` scope (Entra keys consent and pre-authorization by it).
USER_SCOPE_ID = str(uuid.uuid5(APP_ROLE_NAMESPACE, USER_SCOPE))


class EntraApplication(pulumi.ComponentResource):
    client_id: pulumi.Output[str]  # AZURE_AD_CLIENT_ID: the audience the API validates
    ui_client_id: pulumi.Output[str]  # VITE_ENTRA_CLIENT_ID: the UI's public client
    user_scope: str  # VITE_API_SCOPE
    conditional_access_policy_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: EntraApplicationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("engram:identity:EntraApplication", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        member_types = ["User", "Application"] if args.service_principal_roles else ["User"]
        application = azuread.Application(
            f"{name}-app",
            display_name=args.display_name,
            identifier_uris=[args.identifier_uri],
            sign_in_audience="AzureADMyOrg",
            api={
                "requested_access_token_version": 2,
                "oauth2_permission_scopes": [
                    {
                        "id": USER_SCOPE_ID,
                        "value": USER_SCOPE,
                        "type": "User",
                        "enabled": True,
                        "admin_consent_display_name": "Use Engram as the signed-in user",
                        "admin_consent_description": "Lets the Engram UI call the API as the signed-in user.",
                        "user_consent_display_name": "Use Engram as you",
                        "user_consent_description": "Lets the Engram UI call the API on your behalf.",
                    }
                ],
            },
            app_roles=[
                {
                    # Stable ids: Entra keys role assignments by them, so they must never change.
                    "id": str(uuid.uuid5(APP_ROLE_NAMESPACE, value)),
                    "value": value,
                    "display_name": value,
                    "description": description,
                    "allowed_member_types": member_types,
                    "enabled": True,
                }
                for value, description in APP_ROLES
            ],
            opts=child,
        )
        ui = azuread.Application(
            f"{name}-ui",
            display_name=f"{args.display_name} UI",
            sign_in_audience="AzureADMyOrg",
            required_resource_accesses=[
                {
                    "resource_app_id": application.client_id,
                    "resource_accesses": [{"id": USER_SCOPE_ID, "type": "Scope"}],
                }
            ],
            # The SPA redirect URIs are their own resource (the UI's origin is known once the site exists).
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["singlePageApplication"]),
        )
        if args.spa_redirect_uris is not None:
            azuread.ApplicationRedirectUris(
                f"{name}-spa",
                application_id=ui.id,
                type="SPA",
                redirect_uris=args.spa_redirect_uris,
                opts=child,
            )
        azuread.ApplicationPreAuthorized(
            f"{name}-ui-preauthorized",
            application_id=application.id,
            authorized_client_id=ui.client_id,
            permission_ids=[USER_SCOPE_ID],
            opts=child,
        )
        azuread.ServicePrincipal(
            f"{name}-sp",
            client_id=application.client_id,
            app_role_assignment_required=True,  # only users given an engram.* role may sign in
            opts=child,
        )
        self.conditional_access_policy_id = None
        ca = args.conditional_access
        if ca is not None:
            built_in = ["mfa", "compliantDevice"] if ca.require_compliant_device else ["mfa"]
            conditions: azuread.ConditionalAccessPolicyConditionsArgsDict = {
                "client_app_types": ["all"],
                "applications": {"included_applications": [application.client_id]},
                "users": {
                    "included_groups": list(ca.included_group_ids),
                    "excluded_groups": list(ca.excluded_group_ids),
                },
            }
            policy = azuread.ConditionalAccessPolicy(
                f"{name}-ca-mfa",
                display_name=f"{args.display_name}: require MFA and a compliant device",
                state=ca.state,
                conditions=conditions,
                grant_controls={"operator": "AND", "built_in_controls": built_in},
                session_controls={
                    "sign_in_frequency": ca.sign_in_frequency_hours,
                    "sign_in_frequency_period": "hours",
                    "sign_in_frequency_authentication_type": "primaryAndSecondaryAuthentication",
                    "sign_in_frequency_interval": "timeBased",
                },
                opts=child,
            )
            self.conditional_access_policy_id = policy.id
            if ca.allowed_countries:
                allowed = azuread.NamedLocation(
                    f"{name}-allowed-countries",
                    display_name=f"{args.display_name} allowed countries",
                    country={"countries_and_regions": list(ca.allowed_countries)},
                    opts=child,
                )
                # SOP 6.3 geo restriction: a second policy blocks sign-in from anywhere else.
                azuread.ConditionalAccessPolicy(
                    f"{name}-ca-geo",
                    display_name=f"{args.display_name}: block sign-in outside allowed countries",
                    state=ca.state,
                    conditions={
                        **conditions,
                        "locations": {"included_locations": ["All"], "excluded_locations": [allowed.id]},
                    },
                    grant_controls={"operator": "OR", "built_in_controls": ["block"]},
                    opts=child,
                )
        self.client_id = application.client_id
        self.ui_client_id = ui.client_id
        self.user_scope = f"{args.identifier_uri}/{USER_SCOPE}"
        self.register_outputs(
            {"client_id": self.client_id, "ui_client_id": self.ui_client_id, "user_scope": self.user_scope}
        )
