"""`engram tenant auth-context`: the prod MFA proof made through Microsoft Graph (a loopback Graph double)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.cli import tenant as tenant_cli
from app.ops.auth_context import AuthContextError, AuthContextPlan, ensure_auth_context, plan_from_stack
from tests.doubles.graph_server import serve_graph

USERS = "5b0c8a52-7a49-4c3b-9a53-5e0f0c1d2e3f"
BREAK_GLASS = "6c1d9b63-8b5a-4d4c-8b64-6f1a1d2e3f40"
TOKEN = "graph-token-for-tests"


def plan(**changes: object) -> AuthContextPlan:
    values: dict[str, object] = {
        "context_id": "c1",
        "included_group_ids": (USERS,),
        "excluded_group_ids": (BREAK_GLASS,),
    }
    values.update(changes)
    return AuthContextPlan(**values)  # type: ignore[arg-type]


async def test_creates_the_context_and_a_policy_targeting_it_not_the_app() -> None:
    async with serve_graph(TOKEN) as graph:
        result = await ensure_auth_context(plan(), token=TOKEN, base_url=graph.url)
    assert result.policy_created and result.context_id == "c1"
    assert graph.contexts["c1"]["isAvailable"] is True
    policy = graph.policies[result.policy_id]
    assert policy["state"] == "enabled"
    assert policy["conditions"]["applications"] == {"includeAuthenticationContextClassReferences": ["c1"]}
    assert policy["conditions"]["users"] == {"includeGroups": [USERS], "excludeGroups": [BREAK_GLASS]}
    assert policy["grantControls"] == {"operator": "OR", "builtInControls": ["mfa"]}


async def test_running_it_again_updates_the_same_policy() -> None:
    async with serve_graph(TOKEN) as graph:
        first = await ensure_auth_context(plan(), token=TOKEN, base_url=graph.url)
        second = await ensure_auth_context(plan(state="disabled"), token=TOKEN, base_url=graph.url)
    assert not second.policy_created and second.policy_id == first.policy_id
    assert len(graph.policies) == 1 and graph.policies[first.policy_id]["state"] == "disabled"


async def test_a_refused_sign_in_says_which_role_is_needed() -> None:
    async with serve_graph(TOKEN) as graph:
        with pytest.raises(AuthContextError, match="Conditional Access Administrator") as error:
            await ensure_auth_context(plan(), token="someone-else", base_url=graph.url)
    assert "someone-else" not in str(error.value) and "401 InvalidAuthenticationToken" in str(error.value)
    assert graph.contexts == {} and graph.policies == {}


@pytest.mark.parametrize(
    ("changes", "fix"),
    [
        ({"context_id": "c0"}, "c1..c99"),
        ({"included_group_ids": ()}, "at least one group"),
        ({"included_group_ids": ("<CUSTOMER_ENGRAM_USERS_GROUP_ID>",)}, "object id"),
    ],
)
async def test_unusable_inputs_are_refused_before_any_call(changes: dict[str, object], fix: str) -> None:
    async with serve_graph(TOKEN) as graph:
        with pytest.raises(AuthContextError, match=fix):
            await ensure_auth_context(plan(**changes), token=TOKEN, base_url=graph.url)
    assert graph.requests == []


def test_the_plan_comes_from_the_stacks_auth_section() -> None:
    config = {
        "engram:auth": {
            "mfaAuthContextId": "c7",
            "conditionalAccess": {"includedGroupIds": [USERS], "excludedGroupIds": [BREAK_GLASS]},
        }
    }
    found = plan_from_stack(config)
    assert (found.context_id, found.included_group_ids, found.excluded_group_ids) == (
        "c7",
        (USERS,),
        (BREAK_GLASS,),
    )


def _stack_file(tmp_path: Path, group: str = USERS) -> Path:
    (tmp_path / "Pulumi.contoso.yaml").write_text(
        "config:\n  engram:auth:\n    mfaAuthContextId: c1\n    conditionalAccess:\n"
        f"      enabled: true\n      includedGroupIds: ['{group}']\n"
    )
    return tmp_path


def test_cli_creates_both_through_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tenant_cli, "graph_token", lambda: TOKEN)

    async def run() -> tuple[str, int, int]:
        async with serve_graph(TOKEN) as graph:
            args = [
                "tenant",
                "auth-context",
                "--stack",
                "contoso",
                "--config-dir",
                str(_stack_file(tmp_path)),
            ]
            result = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--graph-url", graph.url])
            return result.output, result.exit_code, len(graph.policies)

    output, code, policies = asyncio.run(run())
    assert code == 0, output
    assert "authentication context c1 ready; Conditional Access policy created" in output and policies == 1


def test_cli_refuses_the_repository_placeholders(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["tenant", "auth-context", "--stack", "prod"]
    )  # stacks/Pulumi.prod.yaml holds <CUSTOMER_...> group ids
    assert result.exit_code == 2 and "object id" in result.output


def test_cli_dry_run_prints_the_requests(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "tenant",
            "auth-context",
            "--stack",
            "contoso",
            "--config-dir",
            str(_stack_file(tmp_path)),
            "--dry-run",
        ],
    )
    assert result.exit_code == 0
    assert "authenticationContextClassReferences/c1" in result.output
    assert '"includeAuthenticationContextClassReferences"' in result.output
