"""AZ-ENTRA-*: app roles for service principals, role values, redirect and identifier URIs, CA controls."""

from __future__ import annotations

from policies.rules.azure import entra
from tests.policies.builders import (
    AAD_APP,
    CONDITIONAL_ACCESS,
    aad_app_with_roles,
    conditional_access_policy,
    messages,
    resource,
    run_resource,
    run_stack,
)

MEMBER_TYPES, ROLE_VALUES, REDIRECTS, IDENTIFIERS, CA = entra.CATALOGUE
ROLE_ID = "6f1b4c0e-0000-4000-8000-000000000001"


def _assignment_plan(members: list[str]) -> list:
    app_props = aad_app_with_roles()
    app_props["appRoles"][0]["allowedMemberTypes"] = members
    app = resource(AAD_APP, app_props, name="api")
    sp = resource(entra.SERVICE_PRINCIPAL, {"clientId": "x"}, name="test-tier")
    assignment = resource(
        entra.APP_ROLE_ASSIGNMENT,
        {"appRoleId": ROLE_ID, "principalObjectId": "y", "resourceObjectId": "z"},
        name="grant",
        property_dependencies={"principalObjectId": (sp.urn,)},
    )
    return [app, sp, assignment]


def test_role_for_applications_passes() -> None:
    assert run_stack(MEMBER_TYPES, _assignment_plan(["User", "Application"])) == []


def test_user_only_role_assigned_to_service_principal_is_violation() -> None:
    assert messages(run_stack(MEMBER_TYPES, _assignment_plan(["User"]))) == [
        "App role 'Transcripts.Read' of application 'api' is assigned to a service principal by 'grant' but "
        "allowedMemberTypes is ['User']; add \"Application\" to allowedMemberTypes."
    ]


def test_role_values() -> None:
    assert run_resource(ROLE_VALUES, AAD_APP, aad_app_with_roles()) == []
    props = aad_app_with_roles()
    props["appRoles"][0]["value"] = "Transcripts Read"
    assert messages(run_resource(ROLE_VALUES, AAD_APP, props)) == [
        "App role value 'Transcripts Read' is invalid; use 1-120 letters, digits and punctuation, no "
        "spaces, not "
        "starting with '.' (e.g. Transcripts.Read)."
    ]
    props = aad_app_with_roles()
    props["appRoles"].append(dict(props["appRoles"][0], value="Transcripts.Write"))
    assert messages(run_resource(ROLE_VALUES, AAD_APP, props)) == [
        f"App role id {ROLE_ID!r} is used twice; give each role its own GUID."
    ]


def test_redirect_uris() -> None:
    assert run_resource(REDIRECTS, AAD_APP, aad_app_with_roles()) == []
    props = aad_app_with_roles()
    props["singlePageApplication"]["redirectUris"].append("http://<UI_HOST>/")
    assert messages(run_resource(REDIRECTS, AAD_APP, props)) == [
        "Application singlePageApplication.redirectUris contains 'http://<UI_HOST>/'; use an https:// URI "
        "(http:// only for localhost)."
    ]
    standalone = {"applicationId": "x", "type": "SPA", "redirectUris": ["http://example.com/"]}
    assert len(run_resource(REDIRECTS, entra.REDIRECT_URIS, standalone)) == 1


def test_identifier_uris() -> None:
    assert run_resource(IDENTIFIERS, AAD_APP, aad_app_with_roles()) == []
    props = aad_app_with_roles()
    props["identifierUris"] = ["engram-prod"]
    assert messages(run_resource(IDENTIFIERS, AAD_APP, props)) == [
        "Application identifierUris contains 'engram-prod'; use api://<app id or name>, an https:// URI on a "
        "verified domain, urn: or ms-appx://."
    ]


def test_conditional_access_controls() -> None:
    assert run_resource(CA, CONDITIONAL_ACCESS, conditional_access_policy()) == []
    props = conditional_access_policy()
    del props["grantControls"]
    assert messages(run_resource(CA, CONDITIONAL_ACCESS, props)) == [
        "Conditional access policy has neither grantControls nor sessionControls; add a grant control "
        '(e.g. builtInControls ["mfa"]) or a session control.'
    ]
    props = conditional_access_policy()
    props["state"] = "on"
    assert (
        "set enabled, disabled or enabledForReportingButNotEnforced."
        in messages(run_resource(CA, CONDITIONAL_ACCESS, props))[0]
    )
