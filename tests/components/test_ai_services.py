"""AiServices: the account and its model deployments per stack."""

from __future__ import annotations

from policies.plan import OfflinePlan, read_stack_config, run_program
from policies.rules.azure import model_lifecycle


def test_ai_services_account_and_deployments(plan: OfflinePlan) -> None:
    account = plan.one("azure-native:cognitiveservices:Account")
    assert account.inputs["kind"] == "AIServices"
    assert account.inputs["identity"]["type"] == "SystemAssigned"
    assert account.inputs["properties"]["customSubDomainName"].endswith(f"engram-{plan.stack}")
    deployments = {
        d.inputs["deploymentName"]: d for d in plan.of_type("azure-native:cognitiveservices:Deployment")
    }
    assert set(deployments) == {"chat", "realtime"}
    if plan.stack == "prod":
        assert deployments["chat"].inputs["sku"]["capacity"] == 100
    # The versions come from the dated lifecycle table, deployable on its date.
    for name, family in (("chat", "chat"), ("realtime", "realtime")):
        model = deployments[name].inputs["properties"]["model"]
        pick = model_lifecycle.current(family)
        assert (model["name"], model["version"]) == (pick.model, pick.version)
        assert model_lifecycle.status(pick.model, pick.version).state is model_lifecycle.State.AVAILABLE


def test_a_pinned_model_version_is_used_as_given_and_judged_by_the_pack() -> None:
    ai = dict(read_stack_config("uat")["engram:ai"])
    ai["chat"] = {**ai["chat"], "model": "gpt-5-chat", "version": "2025-10-03"}
    plan = run_program("uat", config_overrides={"engram:ai": ai})
    chat = plan.one("azure-native:cognitiveservices:Deployment", "chat")
    assert chat.inputs["properties"]["model"]["version"] == "2025-10-03"
