"""`engram verify`: post-deploy validation of a running API (SOP 1.1), as a table or JSON for CI."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.ops.verify import (
    DEFAULT_AGENT,
    DEFAULT_CHAT_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    CheckStatus,
    VerifyInputError,
    VerifyOptions,
    VerifyReport,
    normalise_api_base,
    run_verify,
)

_STYLE = {CheckStatus.PASS: "green", CheckStatus.FAIL: "bold red", CheckStatus.SKIP: "yellow"}


def render_report(report: VerifyReport, console: Console) -> None:
    """The pass/fail table, with the troubleshooting hint under each failure."""
    table = Table(title=f"engram verify {report.api_base} (session {report.session_id})", show_lines=True)
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail / what to do", overflow="fold")
    for check in report.checks:
        text = (
            check.detail
            if not check.hint
            else f"{check.detail}\n[dim]hint ({check.hint_id}):[/] {check.hint}"
        )
        table.add_row(check.name, f"[{_STYLE[check.status]}]{check.status.value.upper()}[/]", text)
    console.print(table)
    verdict = "[green]all checks passed[/]" if report.passed else "[bold red]verification failed[/]"
    console.print(verdict)


def verify_or_exit(options: VerifyOptions, *, as_json: bool, console: Console | None = None) -> VerifyReport:
    """Run the checks, print them, and raise `typer.Exit(1)` unless every check passed."""
    console = console or Console()
    report = asyncio.run(run_verify(options))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        render_report(report, console)
    if not report.passed:
        raise typer.Exit(code=1)
    return report


#: The bearer token the verification sends (`engram verify`, and after a rollback or rotation).
VerifyToken = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="ENGRAM_VERIFY_TOKEN",
        help="Bearer token (or ENGRAM_VERIFY_TOKEN).",
        show_default=False,
    ),
]
#: Where a rollback or rotation verifies the API afterwards.
VerifyApiBase = Annotated[
    str | None, typer.Option("--api-base", help="URL to verify afterwards; default the app's ingress URL.")
]


def register(cli: typer.Typer) -> None:
    @cli.command()
    def verify(
        api_base: str = typer.Option(..., "--api-base", help="The API's base URL, e.g. https://<API_HOST>."),
        token: VerifyToken = None,
        agent: str = typer.Option(DEFAULT_AGENT, "--agent", help="Agent to chat with and open voice for."),
        origin: str | None = typer.Option(
            None, "--origin", help="Origin header for the websocket (the UI's URL)."
        ),
        timeout: float = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", min=1, help="Seconds per check."),
        chat_timeout: float = typer.Option(
            DEFAULT_CHAT_TIMEOUT_S, "--chat-timeout", min=1, help="Seconds for the chat turn."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (for CI)."),
    ) -> None:
        """Check a deployed API (health, chat, voice, memory read-back); exit 0 only if all pass."""
        try:
            normalise_api_base(api_base)
        except VerifyInputError as exc:
            raise typer.BadParameter(str(exc), param_hint="--api-base") from None
        options = VerifyOptions(
            api_base=api_base,
            token=token,
            agent=agent,
            origin=origin,
            timeout_s=timeout,
            chat_timeout_s=chat_timeout,
        )
        verify_or_exit(options, as_json=as_json)
