"""Identity: the app's role assignments, the Entra app registration and Conditional Access."""

from __future__ import annotations

import pytest

from components.identity import (
    ACR_PULL,
    KEY_VAULT_SECRETS_USER,
    OPENAI_USER,
    SPEECH_USER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    ConditionalAccessArgs,
    assignment_name,
)
from policies.plan import OfflinePlan, read_stack_config, run_program
from tests.components.conftest import HOSTED, by_id, env_of, plan_for


@pytest.mark.parametrize("stack", HOSTED)
def test_role_assignments_for_the_app_identity(stack: str) -> None:
    plan = plan_for(stack)
    targets = by_id(plan)
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "-wid-")  # the app's
    principal = identity.outputs["principalId"]
    granted = {
        (a.inputs["roleDefinitionId"].rsplit("/", 1)[1], targets[a.inputs["scope"]].type)
        for a in plan.of_type("azure-native:authorization:RoleAssignment")
        if a.inputs["principalId"] == principal
    }
    recording = {(STORAGE_BLOB_DATA_CONTRIBUTOR, "azure-native:storage:StorageAccount")}
    assert granted == {
        (SPEECH_USER, "azure-native:cognitiveservices:Account"),
        (OPENAI_USER, "azure-native:cognitiveservices:Account"),
        (KEY_VAULT_SECRETS_USER, "azure-native:keyvault:Vault"),
        (ACR_PULL, "azure-native:containerregistry:Registry"),
    } | (recording if stack in ("uat", "prod") else set())  # the stacks that record (with consent)
    registry = plan.one("azure-native:containerregistry:Registry")
    assert registry.inputs["adminUserEnabled"] is False


def test_prod_entra_app_roles_and_conditional_access(prod: OfflinePlan) -> None:
    application = prod.one("azuread:index/application:Application", "entra-app")
    roles = {r["value"] for r in application.inputs["appRoles"]}
    assert roles == {"engram.user", "engram.analyst", "engram.admin"}
    assert application.inputs["identifierUris"] == ["api://engram-prod"]
    policy = prod.one("azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy")
    assert policy.inputs["grantControls"] == {
        "operator": "AND",
        "builtInControls": ["mfa", "compliantDevice"],
    }
    assert policy.inputs["conditions"]["applications"]["includedApplications"] == [
        application.outputs["clientId"]
    ]
    assert policy.inputs["sessionControls"]["signInFrequency"] == 8
    assert policy.inputs["sessionControls"]["signInFrequencyPeriod"] == "hours"
    env = env_of(prod)
    assert env["AZURE_AD_CLIENT_ID"]["value"] == application.outputs["clientId"]


@pytest.mark.parametrize("stack", ["test", "uat", "prod"])
def test_entra_app_is_usable_by_service_principals_and_msal(stack: str) -> None:
    plan = plan_for(stack)
    application = plan.one("azuread:index/application:Application", "entra-app")
    for role in application.inputs["appRoles"]:  # the test tier's clients and the pipeline hold roles
        assert role["allowedMemberTypes"] == ["User", "Application"], role["value"]
    scopes = application.inputs["api"]["oauth2PermissionScopes"]
    assert [s["value"] for s in scopes] == ["access_as_user"] and scopes[0]["type"] == "User"
    # The UI is its own public client: SPA redirect URIs on it, none on the API registration.
    ui = plan.one("azuread:index/application:Application", "entra-ui")
    spa = plan.one("azuread:index/applicationRedirectUris:ApplicationRedirectUris")
    site = plan.one("azure-native:web:StaticSite")
    assert spa.inputs["type"] == "SPA"
    assert spa.inputs["redirectUris"] == [f"https://{site.outputs['defaultHostname']}"]
    assert spa.inputs["applicationId"] == ui.id
    assert "singlePageApplication" not in application.inputs and "web" not in application.inputs
    # It asks for the API's scope, and the API pre-authorizes it for exactly that scope (no consent prompt).
    scope_id = scopes[0]["id"]
    assert ui.inputs["requiredResourceAccesses"] == [
        {
            "resourceAppId": application.outputs["clientId"],
            "resourceAccesses": [{"id": scope_id, "type": "Scope"}],
        }
    ]
    pre = plan.one("azuread:index/applicationPreAuthorized:ApplicationPreAuthorized")
    assert pre.inputs["applicationId"] == application.id
    assert pre.inputs["authorizedClientId"] == ui.outputs["clientId"]
    assert pre.inputs["permissionIds"] == [scope_id]
    # Everything the UI build needs, from the stack.
    outputs = plan.outputs
    assert outputs["VITE_AUTH_MODE"] == "entra"
    assert outputs["VITE_ENTRA_CLIENT_ID"] == ui.outputs["clientId"] != application.outputs["clientId"]
    assert outputs["VITE_ENTRA_TENANT_ID"] == read_stack_config(stack)["engram:auth"]["tenantId"]
    assert outputs["VITE_API_SCOPE"] == f"{application.inputs['identifierUris'][0]}/access_as_user"
    assert outputs["VITE_API_URL"] == outputs["apiUrl"] and outputs["VITE_WS_URL"] == outputs["wsUrl"]
    assert outputs["staticSiteName"] == site.outputs["name"]


def test_app_roles_can_be_kept_to_users() -> None:
    auth = dict(read_stack_config("uat")["engram:auth"])
    plan = run_program("uat", config_overrides={"engram:auth": {**auth, "servicePrincipalRoles": False}})
    application = plan.one("azuread:index/application:Application", "entra-app")
    assert {tuple(r["allowedMemberTypes"]) for r in application.inputs["appRoles"]} == {("User",)}


@pytest.mark.parametrize("stack", ["staging", "dev", "test", "uat"])
def test_conditional_access_only_in_prod(stack: str) -> None:
    assert not plan_for(stack).of_type("azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy")


def test_conditional_access_needs_groups() -> None:
    with pytest.raises(ValueError, match="included_group_ids"):
        ConditionalAccessArgs(included_group_ids=[])


def test_assignment_names_are_stable_and_distinct() -> None:
    assert assignment_name("a", "role") == assignment_name("a", "role")
    assert assignment_name("a", "role") != assignment_name("b", "role")


def test_geo_restriction_adds_a_blocking_policy() -> None:
    plan = run_program(
        "prod",
        config_overrides={
            "engram:auth": {
                "model": "entra",
                "required": True,
                "tenantId": "<CUSTOMER_TENANT_ID>",
                "mfaRequired": True,
                "conditionalAccess": {"enabled": True, "includedGroupIds": ["g"], "allowedCountries": ["US"]},
            }
        },
    )
    location = plan.one("azuread:index/namedLocation:NamedLocation")
    assert location.inputs["country"]["countriesAndRegions"] == ["US"]
    geo = plan.one("azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy", "-ca-geo")
    assert geo.inputs["grantControls"]["builtInControls"] == ["block"]
