"""`engram rollback`: move traffic back to an earlier revision of a stack's API, then verify it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess  # nosec B404 - runs the pulumi CLI with fixed arguments
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from app.cli.verify import VerifyApiBase, VerifyToken, verify_or_exit
from app.ops.rollback import RollbackError, RollbackResult
from app.ops.verify import VerifyOptions

if TYPE_CHECKING:
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient


def _stack_outputs(stack: str) -> dict[str, object]:
    """`pulumi stack output --json` when the CLI is installed and logged in; {} otherwise."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return {}
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [pulumi, "stack", "output", "--stack", stack, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0:
        return {}
    try:
        outputs = json.loads(done.stdout)
    except ValueError:
        return {}
    return outputs if isinstance(outputs, dict) else {}


def resolve_target(stack: str, resource_group: str | None, app: str | None) -> tuple[str, str]:
    """Resource group and app name: flags, then ENGRAM_RESOURCE_GROUP / ENGRAM_CONTAINER_APP, then the
    stack's outputs (`resourceGroupName`, `containerAppName`)."""
    resource_group = resource_group or os.environ.get("ENGRAM_RESOURCE_GROUP") or None
    app = app or os.environ.get("ENGRAM_CONTAINER_APP") or None
    if not (resource_group and app):
        outputs = _stack_outputs(stack)
        resource_group = resource_group or str(outputs.get("resourceGroupName") or "") or None
        app = app or str(outputs.get("containerAppName") or "") or None
    if not (resource_group and app):
        raise RollbackError(
            f"cannot find the container app of stack {stack!r}: pass --resource-group and --app, set "
            "ENGRAM_RESOURCE_GROUP / ENGRAM_CONTAINER_APP, or log in to the Pulumi backend so the stack "
            "outputs resourceGroupName / containerAppName can be read"
        )
    return resource_group, app


@asynccontextmanager
async def arm_client(subscription: str) -> AsyncIterator[ContainerAppsAPIClient]:
    """The Container Apps management client, signed in with DefaultAzureCredential."""
    from azure.identity.aio import DefaultAzureCredential
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

    async with (
        DefaultAzureCredential() as credential,
        ContainerAppsAPIClient(credential, subscription) as client,
    ):
        yield client


async def _rollback(subscription: str, resource_group: str, app: str, revision: str | None) -> RollbackResult:
    from app.ops.rollback import rollback

    async with arm_client(subscription) as client:
        return await rollback(client, resource_group, app, revision)


# Where the stack's container app is, when its outputs do not say (`resolve_target`); rotate shares them.
ResourceGroup = Annotated[str | None, typer.Option("--resource-group", help="Overrides the stack's.")]
ContainerApp = Annotated[str | None, typer.Option("--app", help="Container app name; overrides the stack's.")]
Subscription = Annotated[
    str | None, typer.Option("--subscription", envvar="AZURE_SUBSCRIPTION_ID", help="Azure subscription id.")
]


def register(cli: typer.Typer) -> None:
    @cli.command()
    def rollback(
        stack: str = typer.Option(..., "--stack", help="Stack (environment) to roll back, e.g. prod."),
        revision: str | None = typer.Option(
            None, "--revision", help="Revision name or suffix; default the previous healthy one."
        ),
        resource_group: ResourceGroup = None,
        app: ContainerApp = None,
        subscription: Subscription = None,
        api_base: VerifyApiBase = None,
        token: VerifyToken = None,
        as_json: bool = typer.Option(False, "--json", help="Print the result and verification as JSON."),
    ) -> None:
        """Re-activate the previous healthy revision (100% traffic) and verify the API (Azure SDK)."""
        console = Console(stderr=as_json)
        try:
            if not subscription:
                raise RollbackError("set --subscription or AZURE_SUBSCRIPTION_ID")
            group, app_name = resolve_target(stack, resource_group, app)
            result = asyncio.run(_rollback(subscription, group, app_name, revision))
        except RollbackError as exc:
            typer.echo(f"rollback refused: {exc}", err=True)
            raise typer.Exit(code=2) from None
        console.print(
            f"[green]{result.app}: traffic moved from {result.previous} to {result.target}[/]"
            + (" (re-activated)" if result.activated else "")
        )
        if as_json:
            typer.echo(json.dumps({"rollback": asdict(result)}))
        target_url = api_base or result.app_url
        if target_url is None:
            typer.echo("the app has no ingress URL; verify it with engram verify --api-base ...", err=True)
            raise typer.Exit(code=1)
        verify_or_exit(VerifyOptions(api_base=target_url, token=token), as_json=as_json, console=console)
