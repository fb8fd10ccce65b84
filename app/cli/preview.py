"""`engram preview --stack <name>`: the offline counterpart of `pulumi preview`.

Runs the real Pulumi program for the stack under mocks (`policies.plan`, the recorder `engram check`
also reads) and prints every
resource it would create, with its key settings. Needs the `infra` extra (Pulumi and the Azure SDKs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from policies.plan import OfflinePlan, PlannedResource

#: Inputs worth a glance per resource type (camelCase wire names, dotted paths).
KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    "azure-native:keyvault:Vault": (
        "properties.sku.name",
        "properties.publicNetworkAccess",
        "properties.softDeleteRetentionInDays",
        "properties.enablePurgeProtection",
    ),
    "azure-native:cognitiveservices:Account": ("kind", "properties.publicNetworkAccess"),
    "azure-native:cognitiveservices:Deployment": ("deploymentName", "sku.name", "sku.capacity"),
    "azure-native:apimanagement:ApiManagementService": ("sku.name", "sku.capacity", "publicNetworkAccess"),
    "azure-native:apimanagement:Api": ("path",),
    "azure-native:dbforpostgresql:Server": (
        "sku.tier",
        "sku.name",
        "highAvailability.mode",
        "backup.geoRedundantBackup",
        "backup.backupRetentionDays",
        "network.publicNetworkAccess",
    ),
    "azure-native:app:ManagedEnvironment": ("zoneRedundant", "vnetConfiguration.internal"),
    "azure-native:app:ContainerApp": (
        "template.containers.0.resources.cpu",
        "template.containers.0.resources.memory",
        "template.scale.minReplicas",
        "template.scale.maxReplicas",
    ),
    "azure-native:web:StaticSite": ("sku.name",),
    "azure-native:operationalinsights:Workspace": ("retentionInDays",),
    "azure-native:monitor:ScheduledQueryRule": ("severity", "windowSize"),
    "azure-native:monitor:DiagnosticSetting": ("logs.0.category",),
    "azure-native:network:PrivateEndpoint": ("privateLinkServiceConnections.0.groupIds.0",),
    "azure-native:authorization:RoleAssignment": ("principalType",),
    "azure-native:containerregistry:Registry": ("sku.name", "adminUserEnabled"),
}


def _value(node: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _label(path: str) -> str:
    """`template.containers.0.resources.cpu` -> `resources.cpu`: enough to read, short enough to fit."""
    kept = [p for p in path.split(".") if not p.isdigit() and p not in _NOISE]
    return ".".join(kept[-2:])


_NOISE = {"properties", "template", "containers", "privateLinkServiceConnections", "logs"}


def describe(resource: PlannedResource) -> str:
    parts = []
    for path in KEY_SETTINGS.get(resource.type, ()):
        value = _value(resource.inputs, path)
        if value is not None:
            parts.append(f"{_label(path)}={_number(value)}")
    if resource.type == "azure-native:authorization:RoleAssignment":
        parts.append("role=" + str(resource.inputs.get("roleDefinitionId", "")).rsplit("/", 1)[-1])
    if resource.protect:
        parts.append("protected")
    return ", ".join(parts)


def render(plan: OfflinePlan, console: Console) -> None:
    table = Table(title=f"engram preview: stack {plan.stack} (offline, under mocks)")
    table.add_column("Type")
    table.add_column("Name")
    table.add_column("Key settings")
    custom = sorted((r for r in plan.resources if r.custom), key=lambda r: (r.type, r.name))
    for resource in custom:
        table.add_row(resource.type, resource.name, describe(resource))
    console.print(table)
    console.print(f"{len(custom)} resources to create.")
    for key, value in sorted(plan.outputs.items()):
        console.print(f"  output {key}: {value}")
    if plan.filled_secrets:
        console.print("Secrets not set here were stood in for: " + ", ".join(plan.filled_secrets))


def register(cli: typer.Typer) -> None:
    @cli.command()
    def preview(
        stack: str = typer.Option(
            ..., "--stack", "-s", help="Stack name: staging, dev, test, uat, prod, ..."
        ),
        config_dir: Path | None = typer.Option(None, help="Directory holding Pulumi.<stack>.yaml."),
    ) -> None:
        """Show what `pulumi up` would create for a stack, offline (no Azure, no Pulumi CLI)."""
        try:
            from policies.plan import OfflineRunError, run_program
        except ImportError:
            typer.echo("engram preview needs the infra extra: pip install 'engram-platform[infra]'", err=True)
            raise typer.Exit(code=2) from None
        try:
            plan = run_program(stack, config_dir)
        except OfflineRunError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
        render(plan, Console(width=160))
