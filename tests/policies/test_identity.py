"""Production MFA: a Conditional Access policy requiring MFA for the app, and the app demanding it."""

from __future__ import annotations

from policies.rules import identity
from tests.policies.builders import (
    AAD_APP,
    CONDITIONAL_ACCESS,
    CONTAINER_APP,
    KEY_VAULT,
    aad_application,
    app_with_env,
    conditional_access_policy,
    container_app,
    messages,
    resource,
    run_resource,
    run_stack,
    vault,
)

CA, APP_MFA = identity.CATALOGUE


def _stack(policy: dict | None, linked: bool = True, env: str = "prod") -> list:
    app = resource(AAD_APP, aad_application(), name="api-app", stack=env)
    kv = resource(KEY_VAULT, vault(env), name="kv", stack=env)
    found = [app, kv]
    if policy is not None:
        deps = {"conditions": (app.urn,)} if linked else {}
        found.append(
            resource(CONDITIONAL_ACCESS, policy, name="ca-mfa", stack=env, property_dependencies=deps)
        )
    return found


def test_enabled_mfa_policy_for_the_app_passes() -> None:
    assert run_stack(CA, _stack(conditional_access_policy())) == []


def test_missing_conditional_access_policy_is_violation() -> None:
    found = run_stack(CA, _stack(None))
    assert messages(found) == [
        "No Conditional Access policy requires MFA for the Engram app; add an azuread "
        "ConditionalAccessPolicy "
        'with state "enabled", grantControls.builtInControls ["mfa"] and '
        "conditions.applications.includedApplications = [the app's client id]."
    ]
    assert found[0].target == "(stack)"


def test_report_only_policy_is_violation() -> None:
    policy = {**conditional_access_policy(), "state": "enabledForReportingButNotEnforced"}
    assert "(1 present, none enabled+MFA+targeting the app)" in messages(run_stack(CA, _stack(policy)))[0]


def test_policy_without_mfa_grant_is_violation() -> None:
    policy = conditional_access_policy()
    policy["grantControls"]["builtInControls"] = ["compliantDevice"]
    assert len(run_stack(CA, _stack(policy))) == 1


def test_policy_for_another_app_is_violation() -> None:
    policy = conditional_access_policy()
    policy["conditions"]["applications"]["includedApplications"] = ["11111111-2222-3333-4444-555555555555"]
    assert len(run_stack(CA, _stack(policy, linked=False))) == 1


def test_policy_for_all_apps_or_authentication_strength_passes() -> None:
    policy = conditional_access_policy()
    policy["conditions"]["applications"]["includedApplications"] = ["All"]
    policy["grantControls"] = {"operator": "OR", "authenticationStrengthPolicyId": "/policies/x"}
    assert run_stack(CA, _stack(policy, linked=False)) == []


def test_policy_on_the_ui_client_alone_is_violation() -> None:
    """CA is evaluated for the resource a token is for: a policy on the UI's public client misses the API."""
    api, kv = _stack(None)
    ui = resource(
        AAD_APP, {"displayName": "Engram UI", "signInAudience": "AzureADMyOrg"}, name="ui", stack="prod"
    )
    on_ui = resource(
        CONDITIONAL_ACCESS, conditional_access_policy(), name="ca-mfa", stack="prod",
        property_dependencies={"conditions": (ui.urn,)},
    )  # fmt: skip
    assert len(run_stack(CA, [api, ui, kv, on_ui])) == 1
    on_api = resource(
        CONDITIONAL_ACCESS, conditional_access_policy(), name="ca-mfa", stack="prod",
        property_dependencies={"conditions": (api.urn,)},
    )  # fmt: skip
    assert run_stack(CA, [api, ui, kv, on_api]) == []


def test_no_conditional_access_needed_below_prod() -> None:
    assert run_stack(CA, _stack(None, env="uat"), stack="uat") == []


def test_app_missing_auth_context_is_violation() -> None:
    assert run_resource(APP_MFA, CONTAINER_APP, container_app()) == []
    props = app_with_env(MFA_AUTH_CONTEXT_ID="c2")
    assert messages(run_resource(APP_MFA, CONTAINER_APP, props)) == [
        "Container app env MFA_AUTH_CONTEXT_ID is 'c2'; set MFA_AUTH_CONTEXT_ID=c1 so the app demands the "
        "Conditional Access MFA context."
    ]


def test_auth_context_id_from_config() -> None:
    props = app_with_env(MFA_AUTH_CONTEXT_ID="c7")
    assert run_resource(APP_MFA, CONTAINER_APP, props, config={"mfaAuthContextId": "c7"}) == []
    assert run_resource(APP_MFA, CONTAINER_APP, container_app(), config={"mfaAuthContextId": ""}) == []
