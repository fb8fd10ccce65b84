"""`engram secrets status` and `engram secrets rotate`: SOP 8.3 rotation of a stack's Key Vault secrets.

Both sign in with the caller's `DefaultAzureCredential` (`az login`, the pipeline's OIDC identity). The
vault comes from `--vault-url`, ENGRAM_KEY_VAULT_URL or the stack's `keyVaultUri` output; the container
app (for the restart) from `--resource-group/--app`, the environment or the stack's outputs, as
`engram rollback` finds it. Exit status: 0 fine, 1 a secret needs action / the rotation stopped
(verification failed), 2 bad input, sign-in, permission or network problem.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from app.cli.rollback import ContainerApp, ResourceGroup, Subscription
from app.cli.verify import VerifyApiBase, VerifyToken
from app.ops.secrets import (
    MODES,
    AppTarget,
    RotationPlan,
    RotationResult,
    SecretsError,
    SecretStatus,
    State,
    rotate,
    rotation_plan,
    secrets_status,
)

if TYPE_CHECKING:
    from azure.keyvault.secrets.aio import SecretClient

app = typer.Typer(help="Key Vault secret rotation (SOP 8.3).", no_args_is_help=True)

_STYLE = {
    State.OK: "green",
    State.DUE_SOON: "yellow",
    State.OVERDUE: "bold red",
    State.EXPIRED: "bold red",
    State.DISABLED: "bold red",
    State.UNSCHEDULED: "dim",
}


def resolve_vault_url(stack: str, vault_url: str | None) -> str:
    """--vault-url, then ENGRAM_KEY_VAULT_URL, then the stack's `keyVaultUri` output; https only."""
    from app.cli.rollback import _stack_outputs

    url = vault_url or os.environ.get("ENGRAM_KEY_VAULT_URL") or None
    if url is None:
        url = str(_stack_outputs(stack).get("keyVaultUri") or "") or None
    if url is None:
        raise SecretsError(
            f"cannot find the Key Vault of stack {stack!r}: pass --vault-url, set ENGRAM_KEY_VAULT_URL, or "
            "log in to the Pulumi backend so the stack output keyVaultUri can be read"
        )
    if not url.startswith("https://"):
        raise SecretsError(f"the vault URL must start with https:// (got {url[:60]!r})")
    return url


@asynccontextmanager
async def keyvault_client(vault_url: str) -> AsyncIterator[SecretClient]:
    """The secrets client, signed in with DefaultAzureCredential (tests replace this factory)."""
    from azure.identity.aio import DefaultAzureCredential
    from azure.keyvault.secrets.aio import SecretClient

    async with DefaultAzureCredential() as credential, SecretClient(vault_url, credential) as client:
        yield client


def _azure_failure(exc: Exception) -> str:
    """A message for an SDK failure that names the fix and never echoes the SDK text (it may hold URLs)."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    if isinstance(exc, ClientAuthenticationError):
        return "cannot sign in to Azure: run az login (or set the pipeline's Azure identity)"
    if isinstance(exc, ServiceRequestError):
        return (
            "cannot reach the Key Vault: a vault closed to the public (prod) is reachable only from its "
            "network (the hub, a jump host or the pipeline's private agent)"
        )
    if isinstance(exc, HttpResponseError) and exc.status_code == 403:
        return (
            "Key Vault refused (HTTP 403): status needs Key Vault Reader (or Secrets User) on the vault, "
            "rotate needs Key Vault Secrets Officer"
        )
    if isinstance(exc, HttpResponseError):
        return f"Key Vault answered HTTP {exc.status_code}"
    return type(exc).__name__


def _run_azure(coro: object) -> object:
    from azure.core.exceptions import AzureError

    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except SecretsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    except AzureError as exc:
        typer.echo(_azure_failure(exc), err=True)
        raise typer.Exit(code=2) from None


def render_status(statuses: list[SecretStatus], console: Console, vault_url: str) -> None:
    table = Table(title=f"Key Vault secrets of {vault_url} (SOP 8.3)")
    for column in ("secret", "kind", "state", "age (days)", "created", "expires", "SOP deadline"):
        table.add_column(column, no_wrap=True)

    def day(at: object) -> str:
        return at.strftime("%Y-%m-%d") if at is not None else "-"  # type: ignore[attr-defined]

    for s in statuses:
        table.add_row(
            s.name,
            s.kind or "-",
            f"[{_STYLE[s.state]}]{s.state.value}[/]",
            "-" if s.age_days is None else str(s.age_days),
            day(s.created),
            day(s.expires),
            day(s.sop_deadline),
        )
    console.print(table)
    failing = [s.name for s in statuses if s.needs_action]
    if failing:
        console.print(f"[bold red]needs rotation now:[/] {', '.join(failing)} (engram secrets rotate NAME)")
    else:
        console.print("[green]every secret is within its SOP 8.3 period[/]")


@app.command()
def status(
    stack: str = typer.Option(..., "--stack", help="Stack (environment), e.g. prod."),
    vault_url: str | None = typer.Option(None, "--vault-url", help="Overrides the stack's keyVaultUri."),
    as_json: bool = typer.Option(False, "--json", help="Print the statuses as JSON."),
) -> None:
    """Each secret's age, expiry and SOP deadline; exit 1 when any is overdue, expired or disabled."""
    try:
        url = resolve_vault_url(stack, vault_url)
    except SecretsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None

    async def _status() -> list[SecretStatus]:
        async with keyvault_client(url) as client:
            return await secrets_status(client)

    statuses: list[SecretStatus] = _run_azure(_status())  # type: ignore[assignment]
    if as_json:
        typer.echo(json.dumps({"vault": url, "secrets": [s.as_dict() for s in statuses]}, indent=2))
    else:
        render_status(statuses, Console(width=140), url)
    if any(s.needs_action for s in statuses):
        raise typer.Exit(code=1)


def render_plan(plan: RotationPlan, console: Console) -> None:
    console.print(f"[bold]Rotation of {plan.secret}[/] ({plan.kind}, mode {plan.mode}):")
    for number, step in enumerate(plan.steps, 1):
        who = "you" if step.kind == "manual" else "engram"
        console.print(f"  {number}. [{who}] {step.text}", highlight=False, markup=False)


async def _verify(api_base: str | None, token: str | None, fqdn: str | None) -> bool:
    from app.cli.verify import render_report
    from app.ops.verify import VerifyOptions, run_verify

    base = api_base or (f"https://{fqdn}" if fqdn else None)
    if base is None:
        typer.echo("the app has no ingress URL to verify: pass --api-base", err=True)
        return False
    report = await run_verify(VerifyOptions(api_base=base, token=token))
    render_report(report, Console(stderr=True))
    return report.passed


async def _reencrypt(new_value: str) -> dict[str, int]:
    """`engram db reencrypt` under the new value, on this machine's DATABASE_URL (the service's database)."""
    from app.audit.trail import AuditTrail, pseudonym_key
    from app.db.engine import create_engine, dispose, session_factory
    from app.security.crypto import FernetCipher
    from app.security.reencrypt import reencrypt_turns
    from app.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        raise SecretsError(f"cannot re-encrypt: {exc}") from None
    if settings.database_url is None:
        raise SecretsError(
            "the new key is in place, but --reencrypt needs DATABASE_URL (the service's database, reachable "
            "from here): run `engram db reencrypt` there"
        )
    from sqlalchemy.exc import SQLAlchemyError

    from app.db.url import DatabaseURLError

    try:
        engine = create_engine(settings)
        try:
            trail = AuditTrail(session_factory(engine), pseudonym_key(settings))
            outcome = await reencrypt_turns(engine, FernetCipher.from_setting(new_value), trail=trail)
        finally:
            await dispose(engine)
    except (DatabaseURLError, SQLAlchemyError, OSError) as exc:  # the class only: no host or content
        raise SecretsError(
            f"the new key is in place, but the re-encryption failed ({type(exc).__name__}): run `engram db "
            "reencrypt` with the service's DATABASE_URL and ENCRYPTION_KEY; batches already written are kept"
        ) from None
    return {
        "scanned": outcome.scanned,
        "rewritten": outcome.rewritten,
        "current": outcome.current,
        "undecryptable": len(outcome.undecryptable),
        "changed": outcome.changed,
    }


async def _rotate(
    plan: RotationPlan,
    vault_url: str,
    subscription: str,
    target: AppTarget,
    value: str | None,
    api_base: str | None,
    token: str | None,
) -> RotationResult:
    from app.cli.rollback import arm_client

    reencrypt = _reencrypt if any(step.kind == "reencrypt" for step in plan.steps) else None

    async with keyvault_client(vault_url) as secrets, arm_client(subscription) as apps:
        app_model = await apps.container_apps.get(target.resource_group, target.app)
        configuration = app_model.properties.configuration if app_model.properties else None
        ingress = configuration.ingress if configuration else None
        fqdn = ingress.fqdn if ingress else None
        return await rotate(
            plan,
            secrets=secrets,
            apps=apps,
            target=target,
            verify=lambda: _verify(api_base, token, fqdn),
            value=value,
            reencrypt=reencrypt,
        )


@app.command(name="rotate")
def rotate_command(
    secret: str = typer.Argument(..., help=f"The vault secret: {', '.join(MODES)}."),
    stack: str = typer.Option(..., "--stack", help="Stack (environment), e.g. prod."),
    mode: str | None = typer.Option(
        None, "--mode", help="value | existing | generate | drop-old-keys | reaffirm; default per secret."
    ),
    value_stdin: bool = typer.Option(False, "--value-stdin", help="Read the new value from standard input."),
    reencrypt: bool = typer.Option(
        False,
        "--reencrypt",
        help="encryption-key: re-encrypt stored transcripts in the same run (needs DATABASE_URL here).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    vault_url: str | None = typer.Option(None, "--vault-url", help="Overrides the stack's keyVaultUri."),
    resource_group: ResourceGroup = None,
    app_name: ContainerApp = None,
    subscription: Subscription = None,
    api_base: VerifyApiBase = None,
    token: VerifyToken = None,
    as_json: bool = typer.Option(False, "--json", help="Print the plan and result as JSON."),
) -> None:
    """Rotate one secret in the safe order: new version, restart, verify, disable the old versions."""
    from app.cli.rollback import resolve_target
    from app.ops.rollback import RollbackError

    console = Console(stderr=as_json, width=140)
    try:
        plan = rotation_plan(secret, mode, stack=stack, reencrypt=reencrypt)  # type: ignore[arg-type]
    except SecretsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    if reencrypt and not dry_run:
        from app.settings import SettingsError, get_settings

        try:
            database_url = get_settings().database_url
        except SettingsError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=2) from None
        if database_url is None:
            typer.echo(
                "--reencrypt needs DATABASE_URL (the service's database, reachable from here)", err=True
            )
            raise typer.Exit(code=2)
    if dry_run:
        if as_json:
            typer.echo(json.dumps({"plan": plan.as_dict(), "dry_run": True}, indent=2))
        else:
            render_plan(plan, console)
            console.print("dry run: nothing was changed")
        return
    value: str | None = None
    if plan.mode == "value":
        if not value_stdin:
            typer.echo(
                f"{secret} needs its new value: pipe it in with --value-stdin (never as an argument)",
                err=True,
            )
            raise typer.Exit(code=2)
        value = sys.stdin.read().rstrip("\r\n")
        if not value:
            typer.echo("standard input was empty: no new value", err=True)
            raise typer.Exit(code=2)
    try:
        url = resolve_vault_url(stack, vault_url)
        if not subscription:
            raise SecretsError("set --subscription or AZURE_SUBSCRIPTION_ID")
        group, name = resolve_target(stack, resource_group, app_name)
    except (SecretsError, RollbackError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    render_plan(plan, console)
    result: RotationResult = _run_azure(  # type: ignore[assignment]
        _rotate(plan, url, subscription, AppTarget(group, name), value, api_base, token)
    )
    if as_json:
        typer.echo(json.dumps({"plan": plan.as_dict(), "result": result.as_dict()}, indent=2))
    else:
        console.print(
            f"new version {result.new_version}; restarted {', '.join(result.restarted) or 'no revision'}; "
            f"verified {result.verified}; disabled {len(result.disabled)} old version(s)"
        )
    if not result.completed:
        typer.echo(f"rotation stopped: {result.stopped}", err=True)
        raise typer.Exit(code=1)
    manual = [s.text for s in plan.steps if s.kind == "manual"]
    if manual and not as_json:
        console.print(
            "[yellow]Still yours to do (see the plan):[/] " + " | ".join(manual[-2:]), highlight=False
        )
