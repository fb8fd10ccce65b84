"""`engram tenant init`: the customer's stack passes the offline SOP gate and preview; bad input is refused
with a message naming the option; no secret ever reaches the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.ops.tenant import TenantInputError, TenantInputs, build_tenant_config, write_tenant_config

STACKS = Path(__file__).parents[3] / "stacks"
TENANT = "11111111-2222-3333-4444-555555555555"


def poc(**changes: object) -> TenantInputs:
    values: dict[str, object] = {
        "customer": "contoso",
        "tenant_id": TENANT,
        "publisher_email": "platform@contoso.com",
        "ui_hostnames": ("chat.contoso.com",),
    }
    values.update(changes)
    return TenantInputs(**values)  # type: ignore[arg-type]


def entra_existing_gateway(**changes: object) -> TenantInputs:
    return poc(
        customer="fabrikam",
        auth="entra",
        gateway="existing",
        gateway_url="https://ai.fabrikam.com/openai/v1",
        publisher_email=None,
        zep=True,
        oncall_emails=("oncall@fabrikam.com",),
        security_emails=("security@fabrikam.com",),
        **changes,
    )


@pytest.mark.parametrize(
    "inputs", [poc(), entra_existing_gateway()], ids=["poc-apim", "entra-existing-gateway"]
)
def test_generated_stack_passes_the_gate_and_the_preview(inputs: TenantInputs, tmp_path: Path) -> None:
    from policies import gate

    config = build_tenant_config(inputs, STACKS)
    path = write_tenant_config(config, tmp_path)
    report = gate.check_stack(inputs.customer, tmp_path)
    assert not report.mandatory, [(f.rule_id, f.target, f.message) for f in report.mandatory]
    assert report.resources > 10
    text = path.read_text()
    assert "secure" not in text and "offline-placeholder-secret" not in text


def test_preview_shows_the_customer_values(tmp_path: Path) -> None:
    write_tenant_config(build_tenant_config(poc(chat_deployment="gpt-chat-eu"), STACKS), tmp_path)
    result = CliRunner().invoke(
        cli, ["preview", "--stack", "contoso", "--config-dir", str(tmp_path)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "gpt-chat-eu" in result.output
    assert "output apiUrl: https://" in result.output


def test_answers_land_in_the_config() -> None:
    config = build_tenant_config(entra_existing_gateway(location="westeurope"), STACKS).document["config"]
    assert config["azure-native:location"] == "westeurope"
    assert config["engram:environment"]["allowedLocations"] == ["westeurope"]
    assert config["engram:auth"]["tenantId"] == TENANT
    assert config["engram:auth"]["identifierUri"] == "api://engram-fabrikam"
    assert config["engram:gateway"] == {
        "mode": "existing",
        "existingUrl": "https://ai.fabrikam.com/openai/v1",
    }
    assert config["engram:staticSite"]["customDomains"] == ["chat.contoso.com"]  # CORS + MSAL redirects
    assert config["engram:memory"] == {"zep": True}
    assert config["engram:observability"]["contacts"]["email"] == ["oncall@fabrikam.com"]


def test_secrets_are_commands_never_values() -> None:
    config = build_tenant_config(entra_existing_gateway(), STACKS)
    assert any("engram:zep-api-key" in c for c in config.secret_commands)
    assert all(c.startswith("pulumi config set --secret --stack fabrikam ") for c in config.secret_commands)
    with pytest.raises(TenantInputError, match="a secret never goes in the file"):
        build_tenant_config(poc(overrides={"azure-ai-key": "sk-live-123"}), STACKS)


def _keys(commands: list[str]) -> list[str]:
    return [c.split(" engram:", 1)[1].split(" ", 1)[0] for c in commands]


def test_an_audited_template_asks_for_its_own_pseudonym_key_with_a_way_to_make_one() -> None:
    config = build_tenant_config(entra_existing_gateway(), STACKS)  # the uat template: audit on
    assert _keys(config.secret_commands) == [
        "zep-api-key",
        "encryption-key",
        "audit-pseudonym-key",
        "postgres-admin-password",
    ]
    (pseudonym,) = [c for c in config.secret_commands if "engram:audit-pseudonym-key" in c]
    assert "secrets.token_urlsafe(32)" in pseudonym and "never rotate" in pseudonym
    (encryption,) = [c for c in config.secret_commands if "engram:encryption-key" in c]
    assert "Fernet.generate_key()" in encryption


def test_the_poc_template_needs_neither_key() -> None:
    config = build_tenant_config(poc(), STACKS)  # staging: no audit, not production
    assert _keys(config.secret_commands) == ["azure-ai-key"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer": "Contoso Ltd"}, "customer: 'Contoso Ltd' must be"),
        ({"customer": "prod"}, "one of the SOP stacks"),
        ({"tenant_id": None}, "--tenant-id: required"),
        ({"tenant_id": "<CUSTOMER_TENANT_ID>"}, "--tenant-id: .* still a placeholder"),
        ({"tenant_id": "contoso.onmicrosoft.com"}, "--tenant-id: .* is not a GUID"),
        ({"location": "East US 2"}, "--location: .* Azure region"),
        ({"ui_hostnames": ("https://chat.contoso.com",)}, "--ui-hostname: .* bare hostname"),
        ({"ui_hostnames": ("chat_contoso",)}, "--ui-hostname: .* not a valid hostname"),
        ({"publisher_email": None}, "--publisher-email: required"),
        ({"publisher_email": "not-an-email"}, "--publisher-email: .* not an email"),
        (
            {"gateway": "existing", "gateway_url": "http://ai.contoso.com/openai/v1"},
            "--gateway-url: .* https://",
        ),
        ({"gateway": "existing", "gateway_url": "https://ai.contoso.com/v1?key=abc"}, "no keys in URLs"),
        ({"gateway": "existing"}, "--gateway-url: required"),
        ({"voice": "Ava"}, "--voice: 'Ava' is not a voice name"),
        ({"chat_deployment": "gpt 5"}, "--chat-deployment"),
        ({"voicelive_auth": "key"}, r"disableLocalAuth: true.*use --voicelive-auth managed-identity"),
        ({"auth": "poc", "template": "uat"}, "only on the staging template"),
        ({"zep_url": "https://api.getzep.com"}, "--zep-url: only with --zep"),
    ],
)
def test_bad_answers_are_refused_with_the_option_named(changes: dict[str, object], message: str) -> None:
    with pytest.raises(TenantInputError, match=message):
        build_tenant_config(poc(**changes), STACKS)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(TenantInputError) as caught:
        build_tenant_config(poc(tenant_id="x", location="East US", publisher_email="nope"), STACKS)
    assert len(caught.value.problems) == 3


def test_template_placeholders_left_unfilled_are_named_with_their_keys() -> None:
    inputs = poc(
        auth="entra", template="prod", oncall_emails=("a@contoso.com",), security_emails=("s@contoso.com",)
    )
    with pytest.raises(TenantInputError) as caught:
        build_tenant_config(inputs, STACKS)
    text = str(caught.value)
    assert "engram:auth.conditionalAccess.includedGroupIds[0]: <CUSTOMER_ENGRAM_USERS_GROUP_ID>" in text
    assert "<IMAGE_TAG>" not in text  # the pipeline fills that one


def test_profile_errors_come_from_the_infrastructure_loader() -> None:
    with pytest.raises(TenantInputError, match="engram:hosting.minReplicas|minReplicas"):
        build_tenant_config(poc(overrides={"hosting.minReplicas": 5, "hosting.maxReplicas": 2}), STACKS)


def test_cli_writes_the_file_and_prints_secrets_and_ui_variables(tmp_path: Path) -> None:
    args = ["tenant", "init", "contoso", "--tenant-id", TENANT, "--publisher-email", "p@contoso.com"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path), "--no-input"])
    assert result.exit_code == 0, result.output
    document = yaml.safe_load((tmp_path / "Pulumi.contoso.yaml").read_text())
    assert document["config"]["engram:auth"]["tenantId"] == TENANT
    assert "pulumi config set --secret --stack contoso engram:azure-ai-key" in result.output
    assert "VITE_API_URL" in result.output and "VITE_WS_URL" in result.output
    again = CliRunner().invoke(cli, [*args, "--out", str(tmp_path), "--no-input"])
    assert again.exit_code == 2 and "--force" in again.output


def test_cli_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["tenant", "init", "contoso", "--tenant-id", "nope", "--out", str(tmp_path), "--no-input"]
    )
    assert result.exit_code == 2
    assert "--tenant-id" in result.output and "--publisher-email: required" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "Pulumi.contoso.yaml").exists()


def test_cli_refuses_a_voicelive_key_and_names_managed_identity(tmp_path: Path) -> None:
    args = ["tenant", "init", "contoso", "--tenant-id", TENANT, "--publisher-email", "p@contoso.com"]
    result = CliRunner().invoke(
        cli, [*args, "--voicelive-auth", "key", "--out", str(tmp_path), "--no-input"], terminal_width=200
    )
    assert result.exit_code == 2
    assert "disableLocalAuth: true" in result.output
    assert "use --voicelive-auth managed-identity" in result.output
    assert not (tmp_path / "Pulumi.contoso.yaml").exists()


def test_cli_prints_every_ui_build_variable_an_entra_stack_outputs(tmp_path: Path) -> None:
    """The customer's UI build reads the same stack outputs the deploy pipeline does (one list)."""
    from tests.components.conftest import plan_for

    args = ["tenant", "init", "contoso", "--tenant-id", TENANT, "--publisher-email", "p@contoso.com"]
    result = CliRunner().invoke(
        cli,
        [
            *args,
            "--auth",
            "entra",
            "--oncall-email",
            "o@contoso.com",
            "--security-email",
            "s@contoso.com",
            "--out",
            str(tmp_path),
            "--no-input",
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    printed = set(
        re.findall(r'export (VITE_\w+)="\$\(pulumi stack output --stack contoso (VITE_\w+)\)"', result.output)
    )
    assert all(a == b for a, b in printed)
    outputs = {name for name in plan_for("uat").outputs if name.startswith("VITE_")}
    assert {a for a, _ in printed} == outputs and len(outputs) == 6
    assert "staticSiteName" in result.output and "--deployment-token" in result.output


def test_custom_ui_hostnames_become_the_sites_custom_domains() -> None:
    inputs = poc(
        auth="entra",
        ui_hostnames=("Chat.Contoso.com.",),
        oncall_emails=("o@contoso.com",),
        security_emails=("s@contoso.com",),
    )
    config = build_tenant_config(inputs, STACKS).document["config"]
    assert config["engram:staticSite"]["customDomains"] == ["chat.contoso.com"]
    assert "extraCorsOrigins" not in config["engram:hosting"]
