"""AZ-AI-*: AI Services accounts and model deployments, including the model lifecycle rule."""

from __future__ import annotations

from datetime import date

import pytest

from policies.plan import PlannedResource
from policies.rules.azure import ai_services as rules
from tests.policies.builders import (
    AI_ACCOUNT,
    MODEL_DEPLOYMENT,
    ai_account,
    messages,
    model_deployment,
    resource,
    run_resource,
    run_stack,
    urn,
)

SUBDOMAIN, NAME, SKU, SERIAL, LIFECYCLE = rules.CATALOGUE


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "check_date", lambda: date(2026, 12, 1))


def test_compliant_account_and_deployment_pass() -> None:
    assert run_resource(SUBDOMAIN, AI_ACCOUNT, ai_account()) == []
    assert run_resource(NAME, AI_ACCOUNT, ai_account()) == []
    assert run_resource(SKU, MODEL_DEPLOYMENT, model_deployment()) == []
    assert run_resource(LIFECYCLE, MODEL_DEPLOYMENT, model_deployment()) == []
    assert run_resource(LIFECYCLE, MODEL_DEPLOYMENT, model_deployment("gpt-realtime-1.5", "2026-02-23")) == []


def test_missing_custom_subdomain_is_refused() -> None:
    props = ai_account()
    del props["properties"]["customSubDomainName"]
    assert messages(run_resource(SUBDOMAIN, AI_ACCOUNT, props)) == [
        "AI Services account customSubDomainName is None; set properties.customSubDomainName "
        "(globally unique, "
        "usually the account name): Entra ID auth, private endpoints and VoiceLive need it."
    ]


def test_invalid_account_name_is_refused() -> None:
    props = ai_account()
    props["accountName"] = "-ais"
    assert messages(run_resource(NAME, AI_ACCOUNT, props)) == [
        "AI Services accountName '-ais' is not 2-64 letters, digits and hyphens starting and ending with a "
        "letter or digit; rename the account."
    ]


def test_realtime_model_on_standard_sku_is_refused() -> None:
    props = model_deployment("gpt-realtime-1.5", "2026-02-23")
    props["sku"]["name"] = "Standard"
    assert messages(run_resource(SKU, MODEL_DEPLOYMENT, props)) == [
        "Model deployment sku.name is 'Standard' but gpt-realtime-1.5 2026-02-23 is offered as "
        "['GlobalStandard']; set sku.name to one of those."
    ]


def test_zero_capacity_is_refused() -> None:
    props = model_deployment()
    props["sku"]["capacity"] = 0.0
    assert messages(run_resource(SKU, MODEL_DEPLOYMENT, props)) == [
        "Model deployment sku.capacity is 0.0; set it to at least 1 (thousands of tokens per minute)."
    ]


def test_retired_model_is_refused_naming_the_replacement() -> None:
    props = model_deployment("gpt-5-chat", "2025-10-03")
    assert messages(run_resource(LIFECYCLE, MODEL_DEPLOYMENT, props)) == [
        "Model deployment gpt-5-chat 2025-10-03 retired on 2026-05-13 (Azure names gpt-chat-latest); "
        "deploy gpt-5.6-sol version 2026-07-09."
    ]


def test_deprecated_model_is_refused_for_new_deployments() -> None:
    props = model_deployment("gpt-realtime", "2025-08-28")
    assert messages(run_resource(LIFECYCLE, MODEL_DEPLOYMENT, props)) == [
        "Model deployment gpt-realtime 2025-08-28 is closed to new customers since 2026-08-28 and retires on "
        "2027-03-02; deploy gpt-realtime-1.5 version 2026-02-23."
    ]


def test_unknown_model_version_is_refused() -> None:
    props = model_deployment("gpt-5.6-sol", "2099-01-01")
    assert messages(run_resource(LIFECYCLE, MODEL_DEPLOYMENT, props)) == [
        "Model deployment gpt-5.6-sol version 2099-01-01 is not in the model lifecycle table (checked "
        "2026-12-01); deploy gpt-5.6-sol version 2026-07-09, or add the version with its source."
    ]


def test_check_date_is_injectable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "check_date", lambda: date(2026, 1, 15))
    assert run_resource(LIFECYCLE, MODEL_DEPLOYMENT, model_deployment("gpt-5-chat", "2025-10-03")) == []


def _deployment(name: str, account: PlannedResource, after: PlannedResource | None = None) -> PlannedResource:
    return PlannedResource(
        urn=urn(MODEL_DEPLOYMENT, name),
        type=MODEL_DEPLOYMENT,
        name=name,
        properties=model_deployment(),
        dependencies=(account.urn,) + ((after.urn,) if after else ()),
        property_dependencies={"accountName": (account.urn,)},
    )


def test_serialised_deployments_pass_and_parallel_ones_fail() -> None:
    account = resource(AI_ACCOUNT, ai_account(), name="ais")
    chat = _deployment("chat", account)
    chained = [account, chat, _deployment("realtime", account, after=chat)]
    assert run_stack(SERIAL, chained) == []
    parallel = [account, chat, _deployment("realtime", account)]
    assert messages(run_stack(SERIAL, parallel)) == [
        "Model deployment 'realtime' and 'chat' target the same AI Services account and neither "
        "waits for the "
        "other; Azure runs one deployment operation per account at a time, so make 'realtime' depend on the "
        "deployment created before it."
    ]
