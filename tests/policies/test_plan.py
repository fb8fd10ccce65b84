"""The plan recorder: repeatable in one process, faithful properties and options, clear failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi.output import Unknown

from policies.plan import (
    OFFLINE_SECRET,
    OfflineRunError,
    PlannedResource,
    list_stacks,
    read_stack_config,
    run_program,
)
from tests.components.conftest import plan_for


def test_lists_the_five_stacks() -> None:
    assert list_stacks() == ["dev", "prod", "staging", "test", "uat"]


def test_runs_stacks_in_a_row_without_leaking_resources() -> None:
    first = run_program("dev")
    prod = run_program("prod")
    again = run_program("dev")
    assert sorted((r.type, r.name) for r in first.resources) == sorted(
        (r.type, r.name) for r in again.resources
    )
    assert all(r.urn.startswith("urn:pulumi:dev::engram::") for r in again.resources)
    # Role assignment names are deterministic GUIDs: the same on every run, distinct per assignment.
    names = {
        a.name: a.inputs["roleAssignmentName"]
        for a in prod.of_type("azure-native:authorization:RoleAssignment")
    }
    earlier = plan_for("prod").of_type("azure-native:authorization:RoleAssignment")
    assert names == {a.name: a.inputs["roleAssignmentName"] for a in earlier}
    assert len(set(names.values())) == len(names)


def test_records_parents_protect_and_secrets_filled() -> None:
    plan = plan_for("prod")
    vault = plan.one("azure-native:keyvault:Vault")
    assert vault.protect and vault.custom
    assert vault.parent is not None and vault.parent.endswith("engram:security:KeyVault::engram-prod-sec")
    component = plan.one("engram:security:KeyVault")
    assert not component.custom
    assert "engram:azure-ai-key" in plan.filled_secrets
    assert plan.config["engram:environment"]["sopLevel"] == 5


def test_supplied_secrets_and_overrides_are_used() -> None:
    plan = run_program(
        "staging",
        secrets={"engram:azure-ai-key": "caller-key"},
        config_overrides={"engram:observability": {"retentionDays": 45}},
    )
    assert "engram:azure-ai-key" not in plan.filled_secrets
    subscription = plan.one("azure-native:apimanagement:Subscription")
    assert subscription.inputs["primaryKey"] == "caller-key"
    assert plan.one("azure-native:operationalinsights:Workspace").inputs["retentionInDays"] == 45
    assert OFFLINE_SECRET != "caller-key"


def test_a_bad_config_fails_with_the_profile_error() -> None:
    with pytest.raises(OfflineRunError, match=r"engram:hosting\.cpu"):
        run_program("prod", config_overrides={"engram:hosting": {"cpu": "lots", "image": {"tag": "1"}}})


def test_missing_stack_file(tmp_path: Path) -> None:
    with pytest.raises(OfflineRunError, match="no stack configuration for 'qa'"):
        run_program("qa", tmp_path)


def test_customer_config_dir_and_encrypted_values(tmp_path: Path) -> None:
    source = (Path(__file__).parents[2] / "stacks" / "Pulumi.staging.yaml").read_text()
    (tmp_path / "Pulumi.acme.yaml").write_text(
        source.replace("sopLevel: 1", "sopLevel: 1") + "  engram:azure-ai-key:\n    secure: v1:abc\n"
    )
    assert "engram:azure-ai-key" not in read_stack_config("acme", tmp_path)
    plan = run_program("acme", tmp_path)
    assert plan.one("azure-native:resources:ResourceGroup").inputs["tags"]["environment"] == "acme"


def test_inputs_read_the_wire_properties_as_plain_data() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cret"}
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    resource = PlannedResource(
        urn="urn:pulumi:dev::engram::t::n",
        type="t",
        name="n",
        properties={"password": secret, "ids": [unknown, "x"], "nested": {"count": 2.0}},
    )
    inputs = resource.inputs
    assert inputs["password"] == "s3cret"
    assert isinstance(inputs["ids"][0], Unknown) and inputs["ids"][1] == "x"
    assert inputs["nested"] == {"count": 2.0}
    assert resource.properties["password"] == secret  # the wire form is kept as the engine sent it
