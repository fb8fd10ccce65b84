"""`engram secrets status` and `engram secrets rotate` from the command line.

`status` runs the real SDK against the Key Vault double, served from a thread of its own (the command
runs its own event loop); only the client factory is swapped, for one that trusts the double's
certificate and signs with a static token instead of DefaultAzureCredential. `rotate` also restarts
through the ARM double (in its thread) and verifies with the real `engram verify` checks.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from azure.keyvault.secrets.aio import SecretClient
from click.testing import Result
from typer.testing import CliRunner

from app.cli import cli
from app.cli import secrets as secrets_cli
from app.settings import get_settings
from tests.app.cli.conftest import served_in_thread
from tests.app.ops.test_rollback import APP, RG
from tests.app.ops.test_secrets import StaticCredential, ago
from tests.doubles.arm_server import SUBSCRIPTION, ArmDouble
from tests.doubles.keyvault_server import KeyVaultDouble


@pytest.fixture
def kv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyVaultDouble]:
    """The double on its own loop in a thread; `keyvault_client` points the real SDK at it."""
    with served_in_thread(KeyVaultDouble(tmp_path)) as double:

        @asynccontextmanager
        async def factory(vault_url: str) -> AsyncIterator[SecretClient]:
            async with SecretClient(
                vault_url,
                StaticCredential(),
                verify_challenge_resource=False,
                connection_verify=str(double.ca),
                retry_total=0,  # the unreachable-vault test need not sit through the SDK's retries
            ) as client:
                yield client

        monkeypatch.setattr(secrets_cli, "keyvault_client", factory)
        yield double


def engram(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["secrets", *args], input=input, env={"ENGRAM_KEY_VAULT_URL": ""})


def test_status_exits_1_when_a_secret_is_overdue(kv: KeyVaultDouble) -> None:
    kv.add("azure-ai-key", "a", created=ago(91))
    kv.add("database-url", "d", created=ago(30))
    result = engram("status", "--stack", "prod", "--vault-url", kv.url)
    assert result.exit_code == 1, result.output
    assert "overdue" in result.stdout and "needs rotation now: azure-ai-key" in result.stdout
    assert "postgresql" not in result.stdout and " a " not in result.stdout  # no values


def test_status_json_and_exit_0_when_all_within_schedule(kv: KeyVaultDouble) -> None:
    kv.add("azure-ai-key", "a", created=ago(1))
    kv.add("database-url", "d", created=ago(2))
    result = engram("status", "--stack", "prod", "--vault-url", kv.url, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["vault"] == kv.url
    assert {s["name"]: (s["state"], s["period_days"]) for s in body["secrets"]} == {
        "azure-ai-key": ("ok", 90),
        "database-url": ("ok", 180),
    }


def test_status_without_a_vault_url_exits_2() -> None:
    result = engram("status", "--stack", "nosuchstack")
    assert result.exit_code == 2
    assert "--vault-url" in result.output and "Traceback" not in result.output


def test_status_refuses_plain_http() -> None:
    result = engram("status", "--stack", "prod", "--vault-url", "http://127.0.0.1:1")
    assert result.exit_code == 2 and "https://" in result.output


def test_status_on_an_unreachable_vault_exits_2(kv: KeyVaultDouble) -> None:
    unreachable = kv.url.rsplit(":", 1)[0] + ":1"
    result = engram("status", "--stack", "prod", "--vault-url", unreachable)
    assert result.exit_code == 2
    assert "cannot reach the Key Vault" in result.output and "Traceback" not in result.output


def test_rotate_dry_run_prints_the_plan_and_changes_nothing(kv: KeyVaultDouble) -> None:
    kv.add("zep-api-key", "z", created=ago(91))
    result = engram("rotate", "zep-api-key", "--stack", "prod", "--dry-run")
    assert result.exit_code == 0, result.output
    text = result.stdout
    positions = [
        text.index(word) for word in ("new Key Vault version", "Restart", "engram verify", "Disable")
    ]
    assert positions == sorted(positions)
    assert "dry run: nothing was changed" in text
    assert "1. [you] Create the new key at Zep" in text and "2. [engram] Write the new value" in text
    assert len(kv.secrets["zep-api-key"]) == 1 and kv.requests == []


def test_rotate_dry_run_json(kv: KeyVaultDouble) -> None:
    result = engram("rotate", "encryption-key", "--stack", "prod", "--dry-run", "--json")
    plan = json.loads(result.stdout)["plan"]
    assert plan["mode"] == "generate" and plan["kind"] == "key"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rotate", "nope", "--stack", "prod"], "not a secret the stacks rotate"),
        (["rotate", "audit-pseudonym-key", "--stack", "prod", "--mode", "value"], "reaffirm or existing"),
        (["rotate", "azure-ai-key", "--stack", "prod"], "--value-stdin"),
    ],
)
def test_rotate_refusals_exit_2(args: list[str], message: str) -> None:
    result = engram(*args)
    assert result.exit_code == 2 and message in result.output


def test_rotate_with_empty_stdin_exits_2() -> None:
    result = engram("rotate", "azure-ai-key", "--stack", "prod", "--value-stdin", input="")
    assert result.exit_code == 2 and "empty" in result.output


def _rotate(kv: KeyVaultDouble, *args: str, input: str | None = None) -> Result:
    env = {"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION, "ENGRAM_RESOURCE_GROUP": RG, "ENGRAM_CONTAINER_APP": APP}
    return CliRunner().invoke(
        cli, ["secrets", "rotate", *args, "--stack", "prod", "--vault-url", kv.url], input=input, env=env
    )


def test_rotate_stops_when_verification_fails(kv: KeyVaultDouble, arm: ArmDouble) -> None:
    kv.add("zep-api-key", "old", created=ago(95))
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))  # bound, not listening: the real `engram verify` finds nothing
        api_base = f"http://127.0.0.1:{refusing.getsockname()[1]}"
        result = _rotate(kv, "zep-api-key", "--value-stdin", "--api-base", api_base, input="new-value\n")
    assert result.exit_code == 1, result.output
    assert "rotation stopped" in result.output and "old versions are left enabled" in result.output
    assert [(v.value, v.enabled) for v in kv.secrets["zep-api-key"]] == [("old", True), ("new-value", True)]
    assert any(r.path.endswith(f"{APP}--r3/restart") for r in arm.requests)
    assert "new-value" not in result.output  # the value is never echoed


def test_rotate_disables_the_old_version_after_a_passing_verification(
    kv: KeyVaultDouble, arm: ArmDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = kv.add("zep-api-key", "old", created=ago(95))
    checked: list[str | None] = []

    async def passing(api_base: str | None, token: str | None, fqdn: str | None) -> bool:
        checked.append(fqdn)  # the app's ingress, read from ARM, is what would be verified
        return True

    monkeypatch.setattr(secrets_cli, "_verify", passing)
    result = _rotate(kv, "zep-api-key", "--value-stdin", "--json", input="new-value")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["result"]["disabled"] == [old] and body["result"]["completed"] is True
    assert checked == [f"{APP}.example-env.eastus2.azurecontainerapps.io"]
    assert kv.current("zep-api-key").value == "new-value" and not kv.secrets["zep-api-key"][0].enabled


def test_reencrypt_without_a_database_exits_2_before_any_change(kv: KeyVaultDouble, arm: ArmDouble) -> None:
    kv.add("encryption-key", "k", created=ago(370))
    get_settings.cache_clear()  # settings from the (clean) environment: no DATABASE_URL
    try:
        result = _rotate(kv, "encryption-key", "--reencrypt")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "DATABASE_URL" in result.output
    assert kv.requests == [] and not any(r.path.endswith("/restart") for r in arm.requests)
