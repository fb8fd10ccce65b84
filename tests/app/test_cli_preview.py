"""`engram preview --stack <name>` prints the offline plan as a table."""

from __future__ import annotations

from typer.testing import CliRunner

from app.cli import cli


def test_preview_prod_lists_resources_and_key_settings() -> None:
    result = CliRunner().invoke(cli, ["preview", "--stack", "prod"], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "engram preview: stack prod" in out
    assert "azure-native:keyvault:Vault" in out and "sku.name=premium" in out
    assert "highAvailability.mode=ZoneRedundant" in out
    assert "scale.maxReplicas=10" in out
    assert "protected" in out
    assert "output gatewayUrl: https://" in out
    assert "offline-placeholder-secret" not in out


def test_preview_unknown_stack_fails_with_a_message() -> None:
    result = CliRunner().invoke(cli, ["preview", "--stack", "qa"])
    assert result.exit_code == 1
    assert "no stack configuration for 'qa'" in result.output
