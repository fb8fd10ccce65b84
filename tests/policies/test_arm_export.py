"""The ARM export of a planned stack (`policies.arm_export`), and Checkov over the five exports.

Unit tests build `PlannedResource`s by hand; the rest plan the five real stacks once (module fixture),
check the export is faithful (types, names, API versions, body placement, no secret, no mock id), and
run Checkov over the templates against `policies/checkov-reasons.yaml`. Without Checkov the scan test
skips locally and fails under CI (CI=true): `make test` builds `.venv-checkov` first.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from policies import arm_export, checkov_scan
from policies.arm_export import ARM_TYPES, SECRET_SIG, SECRET_SIG_KEY, api_version, to_template
from policies.plan import OFFLINE_SECRET, PlannedResource, run_program

STACKS = ["dev", "staging", "test", "uat", "prod"]
SUB = "00000000-0000-0000-0000-000000000000"
TAGS = {"environment": "prod"}


def _secret(value: str) -> dict[str, str]:
    return {SECRET_SIG_KEY: SECRET_SIG, "value": value}


def _mock_id(token: str, name: str) -> str:
    return f"/subscriptions/{SUB}/mock/{token.replace(':', '/')}/{name}"


def _res(token: str, name: str, properties: Mapping[str, Any], deps: tuple[str, ...] = ()) -> PlannedResource:
    return PlannedResource(
        urn=f"urn:pulumi:prod::engram::{token}::{name}",
        type=token,
        name=name,
        properties=properties,
        dependencies=deps,
    )


def _by_type(template: Mapping[str, Any], arm_type: str) -> list[dict[str, Any]]:
    return [r for r in template["resources"] if r["type"] == arm_type]


def _one(template: Mapping[str, Any], arm_type: str) -> dict[str, Any]:
    found = _by_type(template, arm_type)
    assert len(found) == 1, f"{arm_type}: {len(found)}"
    return found[0]


VAULT = "azure-native:keyvault:Vault"
SECRET = "azure-native:keyvault:Secret"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
APP = "azure-native:app:ContainerApp"
APIM = "azure-native:apimanagement:ApiManagementService"


@pytest.fixture(scope="module")
def synthetic() -> dict[str, Any]:
    vault = _res(
        VAULT,
        "kv",
        {
            "vaultName": "engram-prod-kv",
            "resourceGroupName": "rg",
            "location": "eastus2",
            "tags": TAGS,
            "properties": {"enablePurgeProtection": True, "softDeleteRetentionInDays": 90.0},
        },
    )
    secret = _res(
        SECRET,
        "kv-secret",
        {
            "vaultName": "engram-prod-kv",
            "secretName": "database-url",
            "resourceGroupName": "rg",
            "properties": {"value": _secret("postgresql://admin:hunter2-hunter2@db/engram")},
        },
        deps=(vault.urn,),
    )
    plain_secret = _res(
        SECRET,
        "kv-plain",
        {"vaultName": "engram-prod-kv", "secretName": "plain", "properties": {"value": "not-wrapped-value"}},
    )
    vnet = _res(VNET, "vnet", {"resourceGroupName": "rg", "location": "eastus2", "addressSpace": {}})
    subnet = _res(
        SUBNET,
        "snet-apps",
        {
            "virtualNetworkName": "vnet",
            "subnetName": "apps",
            "resourceGroupName": "rg",
            "addressPrefix": "10.0.0.0/23",
        },
        deps=(vnet.urn,),
    )
    app = _res(
        APP,
        "api",
        {
            "resourceGroupName": "rg",
            "location": "eastus2",
            "tags": TAGS,
            "identity": {"type": "UserAssigned"},
            "managedEnvironmentId": _mock_id("azure-native:app:ManagedEnvironment", "cae"),
            "configuration": {
                "ingress": {"external": False},
                "secrets": [{"name": "s", "value": _secret("xyz")}],
            },
            "template": {
                "containers": [{"name": "api", "env": [{"name": "KEY", "value": _secret("abc-def-ghi")}]}]
            },
        },
    )
    apim = _res(
        APIM,
        "apim",
        {
            "serviceName": "engram-prod-gw-apim",
            "resourceGroupName": "rg",
            "location": "eastus2",
            "sku": {"name": "Premium", "capacity": 1.0},
            "identity": {"type": "SystemAssigned"},
            "publicNetworkAccess": "Disabled",
            "publisherEmail": "ops@example.com",
        },
    )
    diag = _res(
        "azure-native:monitor:DiagnosticSetting",
        "kv-audit",
        {"name": "audit", "resourceUri": _mock_id(VAULT, "engram-prod-kv"), "logs": []},
    )
    rg = _res("azure-native:resources:ResourceGroup", "rg", {"location": "eastus2"})
    app_reg = _res("azuread:index/application:Application", "entra-app", {"displayName": "x"})
    unknown = _res("azure-native:batch:BatchAccount", "batch", {"location": "eastus2"})
    records = [rg, vault, secret, plain_secret, vnet, subnet, app, apim, diag, app_reg, unknown]
    template = to_template(records, stack="prod")
    json.dumps(template)  # serialisable
    return template


def test_template_header(synthetic: dict[str, Any]) -> None:
    assert synthetic["$schema"].endswith("/2019-04-01/deploymentTemplate.json#")
    assert synthetic["contentVersion"] == "1.0.0.0"
    assert synthetic["metadata"]["stack"] == "prod"


def test_key_vault_keeps_its_properties_input(synthetic: dict[str, Any]) -> None:
    vault = _one(synthetic, "Microsoft.KeyVault/vaults")
    assert vault["name"] == "engram-prod-kv"
    assert vault["apiVersion"] == api_version(VAULT)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", vault["apiVersion"])
    assert vault["location"] == "eastus2" and vault["tags"] == TAGS
    assert vault["properties"] == {"enablePurgeProtection": True, "softDeleteRetentionInDays": 90}
    assert "vaultName" not in vault and "resourceGroupName" not in vault


def test_container_app_body_moves_under_properties(synthetic: dict[str, Any]) -> None:
    app = _one(synthetic, "Microsoft.App/containerApps")
    assert app["name"] == "api"  # autonamed: the logical name
    assert app["apiVersion"] == api_version(APP)
    assert app["identity"] == {"type": "UserAssigned"} and app["location"] == "eastus2"
    assert set(app["properties"]) == {"managedEnvironmentId", "configuration", "template"}
    assert (
        app["properties"]["managedEnvironmentId"]
        == "[resourceId('Microsoft.App/managedEnvironments', 'cae')]"
    )


def test_apim_sku_and_identity_stay_top_level(synthetic: dict[str, Any]) -> None:
    apim = _one(synthetic, "Microsoft.ApiManagement/service")
    assert apim["name"] == "engram-prod-gw-apim"
    assert apim["sku"] == {"name": "Premium", "capacity": 1}
    assert apim["identity"] == {"type": "SystemAssigned"}
    assert apim["properties"] == {"publicNetworkAccess": "Disabled", "publisherEmail": "ops@example.com"}


def test_subnet_is_a_child_of_its_vnet(synthetic: dict[str, Any]) -> None:
    subnet = _one(synthetic, "Microsoft.Network/virtualNetworks/subnets")
    assert subnet["name"] == "vnet/apps"
    assert subnet["apiVersion"] == api_version(SUBNET)
    assert subnet["properties"] == {"addressPrefix": "10.0.0.0/23"}
    assert subnet["dependsOn"] == ["[resourceId('Microsoft.Network/virtualNetworks', 'vnet')]"]


def test_extension_resource_gets_a_scope(synthetic: dict[str, Any]) -> None:
    diag = _one(synthetic, "Microsoft.Insights/diagnosticSettings")
    assert diag["name"] == "audit"
    assert diag["scope"] == "[resourceId('Microsoft.KeyVault/vaults', 'engram-prod-kv')]"
    assert "resourceUri" not in diag.get("properties", {})


def test_secrets_become_securestring_parameters(synthetic: dict[str, Any]) -> None:
    text = json.dumps(synthetic)
    for value in ("hunter2-hunter2", "xyz", "abc-def-ghi", "not-wrapped-value", SECRET_SIG_KEY):
        assert value not in text
    secrets = {r["name"]: r for r in _by_type(synthetic, "Microsoft.KeyVault/vaults/secrets")}
    assert set(secrets) == {"engram-prod-kv/database-url", "engram-prod-kv/plain"}
    for secret in secrets.values():
        reference = secret["properties"]["value"]
        name = re.fullmatch(r"\[parameters\('(.+)'\)\]", reference)
        assert name, reference
        assert synthetic["parameters"][name.group(1)]["type"] == "securestring"
        assert "defaultValue" not in synthetic["parameters"][name.group(1)]
    params = arm_export.parameters_file(synthetic, "prod.json")
    assert params["metadata"]["template"] == "./prod.json"
    assert {v["value"] for v in params["parameters"].values()} == {arm_export.SECRET_PLACEHOLDER}


def test_non_arm_and_unmapped_resources_are_listed_as_skipped(synthetic: dict[str, Any]) -> None:
    skipped = {s["type"]: s["reason"] for s in synthetic["metadata"]["skipped"]}
    assert set(skipped) == {
        "azure-native:resources:ResourceGroup",
        "azuread:index/application:Application",
        "azure-native:batch:BatchAccount",
    }
    assert "no ARM mapping" in skipped["azure-native:batch:BatchAccount"]
    assert not [r for r in synthetic["resources"] if "azuread" in r["comments"]]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("token", sorted(ARM_TYPES))
def test_mapping_agrees_with_the_sdk(token: str) -> None:
    """Each mapped token exists in the installed SDK, takes the name inputs we read, has an API version,
    and its ARM type has one name segment per name input."""
    _, module, name = token.split(":")
    cls = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), name)
    parameters = inspect.signature(cls._internal_init).parameters
    arm = ARM_TYPES[token]
    for key in (*arm.names, *arm.drop, *([arm.scope] if arm.scope else [])):
        assert _snake(key) in parameters, f"{token} takes no {key!r}"
    assert api_version(token) is not None
    assert len(arm.type.split("/")) - 1 == len(arm.names) + len(arm.literals)


# ---- the five real stacks ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("arm")
    templates = {}
    for stack in STACKS:
        path = arm_export.write(run_program(stack).resources, stack=stack, directory=directory)
        templates[stack] = json.loads(path.read_text(encoding="utf-8"))
    return directory, templates


def test_every_planned_azure_resource_is_exported(exports: tuple[Path, dict[str, Any]]) -> None:
    _, templates = exports
    for stack, template in templates.items():
        reasons = {s["type"]: s["reason"] for s in template["metadata"]["skipped"]}
        unmapped = {
            t: r for t, r in reasons.items() if t.startswith("azure-native:") and t not in arm_export.NOT_ARM
        }
        assert unmapped == {}, f"{stack}: add these to policies/arm_export.py ARM_TYPES: {unmapped}"
        assert template["resources"], stack


def test_no_secret_placeholder_or_mock_id_leaks(exports: tuple[Path, dict[str, Any]]) -> None:
    directory, _ = exports
    files = sorted(directory.glob("*.json"))
    assert len(files) == 2 * len(STACKS)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert OFFLINE_SECRET not in text, path.name
        assert SECRET_SIG_KEY not in text, path.name
        assert "/mock/" not in text, path.name


def test_prod_export_is_faithful(exports: tuple[Path, dict[str, Any]]) -> None:
    template = exports[1]["prod"]
    plan = {r["comments"].split(" ")[1]: r for r in template["resources"]}
    vault = _one(template, "Microsoft.KeyVault/vaults")
    assert vault["apiVersion"] == api_version(VAULT)
    assert vault["properties"]["enablePurgeProtection"] is True
    assert vault["properties"]["publicNetworkAccess"] == "Disabled"
    for secret in _by_type(template, "Microsoft.KeyVault/vaults/secrets"):
        assert secret["name"].startswith(vault["name"] + "/")
        assert secret["properties"]["value"].startswith("[parameters(")
    server = _one(template, "Microsoft.DBforPostgreSQL/flexibleServers")
    assert server["sku"]["tier"] == "GeneralPurpose"
    assert server["properties"]["administratorLoginPassword"].startswith("[parameters(")
    assert server["properties"]["network"] == {"publicNetworkAccess": "Disabled"}
    app = _one(template, "Microsoft.App/containerApps")
    assert {"configuration", "template", "managedEnvironmentId"} <= set(app["properties"])
    assert app["properties"]["managedEnvironmentId"].startswith(
        "[resourceId('Microsoft.App/managedEnvironments'"
    )
    apim = _one(template, "Microsoft.ApiManagement/service")
    assert apim["sku"]["name"] == "Premium" and "identity" in apim
    assert apim["properties"]["virtualNetworkType"] == "Internal"
    assert apim["properties"]["virtualNetworkConfiguration"]["subnetResourceId"].startswith(
        "[resourceId('Microsoft.Network/virtualNetworks/subnets'"
    )
    secret = _by_type(template, "Microsoft.KeyVault/vaults/secrets")[0]
    assert isinstance(secret["properties"]["attributes"]["exp"], int | float)  # ARM's name, not `expires`
    subnets = {s["name"] for s in _by_type(template, "Microsoft.Network/virtualNetworks/subnets")}
    vnet = _one(template, "Microsoft.Network/virtualNetworks")["name"]
    assert subnets and all(name.startswith(vnet + "/") for name in subnets)
    workspace = _one(template, "Microsoft.OperationalInsights/workspaces")
    assert "sku" in workspace["properties"] and "sku" not in workspace
    assert plan, "comments name each resource's Pulumi type and logical name"
    groups = _by_type(template, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups")
    endpoints = {e["name"] for e in _by_type(template, "Microsoft.Network/privateEndpoints")}
    assert groups and all(g["name"].split("/")[0] in endpoints for g in groups)


def test_checkov_failures_are_fixed_or_have_a_reason(exports: tuple[Path, dict[str, Any]]) -> None:
    if checkov_scan.find_checkov() is None:
        reason = "checkov is not installed (`make checkov-venv` builds .venv-checkov)"
        if os.environ.get("CI"):
            pytest.fail(f"prerequisite missing in CI: {reason}")
        pytest.skip(reason)
    directory, _ = exports
    failures = checkov_scan.run_checkov(directory)
    unexplained, stale = checkov_scan.compare(failures, checkov_scan.load_reasons())
    message = ["`make checkov` shows this too."]
    if unexplained:
        message += ["Checkov failures not in policies/checkov-reasons.yaml (fix, or add with a reason):"]
        message += [f"  {f}" for f in unexplained]
    if stale:
        message += ["Entries in policies/checkov-reasons.yaml that match no failure (delete them):"]
        message += [f"  {r}" for r in stale]
    assert not unexplained and not stale, "\n".join(message)


# ---- the reasons file's bookkeeping (no Checkov needed) ------------------------------------------


def _report(*failed: tuple[str, str, str]) -> dict[str, Any]:
    checks = [
        {"check_id": check, "resource": resource, "file_path": f"/{stack}.json", "check_name": "t"}
        for stack, check, resource in failed
    ]
    return {"check_type": "arm", "summary": {"parsing_errors": 0}, "results": {"failed_checks": checks}}


def test_compare_reports_unexplained_failures_and_stale_reasons() -> None:
    failures = checkov_scan.parse_report(
        [
            _report(
                ("prod", "CKV_AZURE_41", "Microsoft.KeyVault/vaults/secrets.kv/a"),
                ("dev", "CKV_AZURE_189", "Microsoft.KeyVault/vaults.kv"),
                ("prod", "CKV_AZURE_189", "Microsoft.KeyVault/vaults.kv"),
            )
        ]
    )
    reasons = [
        checkov_scan.Reason("CKV_AZURE_41", "Microsoft.KeyVault/vaults/secrets.*", ("*",), "fix", "expiry"),
        checkov_scan.Reason("CKV_AZURE_189", "*", ("dev", "uat"), "accept", "public below level 5"),
        checkov_scan.Reason("CKV_AZURE_999", "*", ("*",), "accept", "gone"),
    ]
    unexplained, stale = checkov_scan.compare(failures, reasons)
    assert [(f.stack, f.check) for f in unexplained] == [("prod", "CKV_AZURE_189")]
    assert [r.check for r in stale] == ["CKV_AZURE_999"]


def test_parse_report_refuses_unparsed_templates() -> None:
    broken = {"check_type": "arm", "summary": {"parsing_errors": 1}, "results": {"failed_checks": []}}
    with pytest.raises(checkov_scan.CheckovError, match="could not parse"):
        checkov_scan.parse_report(broken)


def test_the_reasons_file_is_well_formed() -> None:
    reasons = checkov_scan.load_reasons()
    assert reasons and all(r.reason and r.action in checkov_scan.ACTIONS for r in reasons)
    stacks = {s for r in reasons for s in r.stacks}
    assert stacks <= {"*", *STACKS}


def test_event_subscription_destination_has_arms_nested_shape() -> None:
    """ARM keeps a destination's settings under `destination.properties`; the SDK flattens them."""
    template = to_template(run_program("prod").resources, stack="prod")
    subscriptions = [r for r in template["resources"] if r["type"].endswith("/eventSubscriptions")]
    assert subscriptions
    for subscription in subscriptions:
        destination = subscription["properties"]["destination"]
        assert set(destination) == {"endpointType", "properties"}
        assert destination["endpointType"] == "MonitorAlert"
        assert destination["properties"]["severity"] in ("Sev1", "Sev2")
        assert destination["properties"]["actionGroups"]
