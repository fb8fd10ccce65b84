"""AI Services accounts and their model deployments.

AZ-AI-001  account needs customSubDomainName (Entra auth, private endpoints, VoiceLive)
AZ-AI-002  account name: 2-64 letters, digits and hyphens, starting and ending alphanumeric
AZ-AI-003  deployment sku.name one the model is offered with, capacity >= 1
AZ-AI-004  deployments on one account serialised: each later one depends on the previous (stack)
AZ-AI-005  deployment model version neither retired, closed to new customers, nor unknown (model table)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from pulumi_policy import Severity

from ..common import AI_ACCOUNT, PROD, RuleContext, StackResource, depends_on, of_type, peek, sub
from . import model_lifecycle
from ._factory import rule_maker
from .model_lifecycle import State

DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}[A-Za-z0-9]$")

#: The day AZ-AI-005 judges model versions on; tests replace it (`monkeypatch.setattr`).
check_date: Callable[[], date] = date.today


def check_custom_subdomain(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    value = sub(props, "properties").get("customSubDomainName")
    if isinstance(value, str) and value:
        return []
    return [
        f"AI Services account customSubDomainName is {value!r}; set properties.customSubDomainName (globally "
        f"unique, usually the account name): Entra ID auth, private endpoints and VoiceLive need it."
    ]


def check_account_name(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    name = peek(props, "accountName")
    if not isinstance(name, str) or ACCOUNT_NAME.match(name):
        return []
    return [
        f"AI Services accountName {name!r} is not 2-64 letters, digits and hyphens starting and "
        "ending with a "
        f"letter or digit; rename the account."
    ]


def _model(props: Mapping[str, Any]) -> tuple[Any, Any]:
    model = sub(props, "properties", "model")
    return model.get("name"), model.get("version")


def check_deployment_sku(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    sku = sub(props, "sku")
    problems: list[str] = []
    name, capacity = sku.get("name"), sku.get("capacity")
    model, version = _model(props)
    entry = (
        model_lifecycle.lookup(model, version)
        if isinstance(model, str) and isinstance(version, str)
        else None
    )
    if not isinstance(name, str) or not name:
        problems.append(
            f"Model deployment sku.name is {name!r}; set it to a deployment type such as GlobalStandard."
        )
    elif entry is not None and entry.skus is not None and name not in entry.skus:
        problems.append(
            f"Model deployment sku.name is {name!r} but {entry.label} is offered as {sorted(entry.skus)}; "
            f"set sku.name to one of those."
        )
    if not isinstance(capacity, int | float) or capacity < 1:
        problems.append(
            f"Model deployment sku.capacity is {capacity!r}; set it to at least 1 (thousands of "
            "tokens per minute)."
        )
    return problems


def check_model_lifecycle(props: Mapping[str, Any], ctx: RuleContext = PROD) -> list[str]:
    model, version = _model(props)
    on = check_date()
    if not isinstance(model, str) or not isinstance(version, str):
        return [
            f"Model deployment model is {model!r} version {version!r}; pin properties.model.name and "
            ".version "
            f"(see policies/rules/azure/model_lifecycle.py)."
        ]
    result = model_lifecycle.status(model, version, on)
    if result.state is State.AVAILABLE:
        return []
    instead = (
        f"deploy {result.replacement.model} version {result.replacement.version}"
        if result.replacement is not None
        else "pick a version from the model lifecycle table"
    )
    entry = result.entry
    if result.state is State.UNKNOWN or entry is None:
        return [
            f"Model deployment {model} version {version} is not in the model lifecycle table "
            f"(checked {model_lifecycle.AS_OF}); {instead}, or add the version with its source."
        ]
    named = f" (Azure names {entry.replacement})" if entry.replacement else ""
    if result.state is State.RETIRED:
        return [f"Model deployment {entry.label} retired on {entry.retires_on}{named}; {instead}."]
    return [
        f"Model deployment {entry.label} is closed to new customers since {entry.deprecated_on} and "
        "retires on "
        f"{entry.retires_on}{named}; {instead}."
    ]


def _deployment_account(deployment: StackResource, accounts: Sequence[StackResource]) -> StackResource | None:
    for account in accounts:
        if depends_on(deployment, "accountName", account):
            return account
        name = peek(deployment.props, "accountName")
        if isinstance(name, str) and name and name == peek(account.props, "accountName"):
            return account
    return None


def check_deployments_serialised(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    accounts = of_type(resources, AI_ACCOUNT)
    by_account: dict[str, list[StackResource]] = {}
    for deployment in of_type(resources, DEPLOYMENT):
        account = _deployment_account(deployment, accounts)
        key = account.urn if account is not None else f"name:{peek(deployment.props, 'accountName')!r}"
        by_account.setdefault(key, []).append(deployment)
    problems: list[tuple[str, str]] = []
    for group in by_account.values():
        if len(group) < 2:
            continue
        urns = {d.urn for d in group}
        depends_on = {d.urn: {dep.urn for dep in _dependencies(d)} & urns for d in group}
        roots = [d for d in group if not depends_on[d.urn]]
        for extra in roots[1:]:
            problems.append(
                (
                    f"Model deployment '{extra.name}' and '{roots[0].name}' target the same AI "
                    "Services account "
                    f"and neither waits for the other; Azure runs one deployment operation per account at a "
                    f"time, so make '{extra.name}' depend on the deployment created before it.",
                    extra.urn,
                )
            )
    return problems


def _dependencies(resource: StackResource) -> list[Any]:
    return list(getattr(resource, "dependencies", None) or [])


_rule = rule_maker("AI", prefix="engram-cognitiveservices-", types=(AI_ACCOUNT,))


CUSTOM_SUBDOMAIN = _rule(
    1,
    "account-require-custom-subdomain",
    "AI Services accounts must set a custom subdomain.",
    "Microsoft Entra ID token auth, private endpoints and the VoiceLive endpoint "
    "(<subdomain>.cognitiveservices.azure.com) all require customSubDomainName; it cannot be added "
    "to an account later without recreating the endpoint callers use.",
    "Set properties.customSubDomainName to a globally unique name (the account name).",
    "https://learn.microsoft.com/azure/ai-services/cognitive-services-custom-subdomains",
)
ACCOUNT_NAME_RULE = _rule(
    2,
    "account-configure-valid-name",
    "AI Services account names must meet the Azure naming rules.",
    "Cognitive Services account names are 2-64 characters of letters, digits and hyphens, starting and "
    "ending with a letter or digit; ARM rejects anything else.",
    "Rename the account.",
    ""
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftcognitiveservices",
    severity=Severity.MEDIUM,
)
DEPLOYMENT_SKU = _rule(
    3,
    "deployment-configure-supported-sku",
    "Model deployments must use a deployment type the model is offered with and a positive capacity.",
    "Each model is offered with a fixed set of deployment types (realtime models: GlobalStandard only); "
    "another sku.name or a zero capacity fails the deployment.",
    "Set sku.name to a type the model supports (see the model table) and sku.capacity >= 1.",
    "https://learn.microsoft.com/azure/ai-foundry/openai/how-to/deployment-types",
    resource_types=(DEPLOYMENT,),
)
SERIALISED = _rule(
    4,
    "deployment-require-serialised-operations",
    "Model deployments on one AI Services account must be created one after another.",
    "An account accepts one deployment operation at a time; parallel creates fail with a conflict "
    "(RequestConflict / another operation in progress). Each later deployment must depend on the previous "
    "one (Pulumi dependsOn) so the engine serialises them.",
    "Chain the deployments with dependsOn on the previously created deployment.",
    "https://github.com/hashicorp/terraform-provider-azurerm/issues/22607",
    resource_types=("stack",),
)
MODEL_LIFECYCLE = _rule(
    5,
    "deployment-disallow-retired-model-version",
    "Model deployments must use a version that a new customer can still deploy.",
    "A retired version fails every call and cannot be deployed; a deprecated one is refused to a "
    "subscription "
    "that never deployed it (every fresh customer environment); a version missing from the dated table in "
    "policies/rules/azure/model_lifecycle.py has not been checked. The rule judges on the day it runs, "
    "so a stack that passed can start failing when a date passes: that is the early warning.",
    "Deploy the replacement the message names (model_lifecycle.current(family)), or add the version with its "
    "source and dates to the table.",
    model_lifecycle.SCHEDULE_URL,
    resource_types=(DEPLOYMENT,),
    severity=Severity.CRITICAL,
)

CATALOGUE = [
    CUSTOM_SUBDOMAIN.resource(check_custom_subdomain),
    ACCOUNT_NAME_RULE.resource(check_account_name),
    DEPLOYMENT_SKU.resource(check_deployment_sku),
    SERIALISED.stack(check_deployments_serialised),
    MODEL_LIFECYCLE.resource(check_model_lifecycle),
]
