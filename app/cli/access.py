"""`engram access review`: the monthly access review an admin signs (SOP 6.7), as a table or JSON.

Exit status: 0 the review was made (and recorded in the audit trail), 2 bad input, configuration or
database problem. Dormant privileged identities do not fail the command: removing them is the
reviewer's decision, taken in Entra.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from app.cli.audit import _on_trail
from app.security.access_review import (
    AccessReview,
    Assignment,
    ReviewError,
    parse_assignments,
    parse_period,
    run_review,
    stack_app_roles,
)

if TYPE_CHECKING:
    from app.audit.trail import AuditTrail

app = typer.Typer(help="Access reviews (SOP 6.7).", no_args_is_help=True)


def _default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return ""


def render_review(review: AccessReview, console: Console) -> None:
    at = review.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    since = review.since.strftime("%Y-%m-%d %H:%M UTC")
    table = Table(title=f"Access review {at} (activity since {since})", show_lines=False)
    for column in ("identity (pseudonym)", "tenant", "roles", "first activity", "last activity"):
        table.add_column(column, no_wrap=True)
    table.add_column("in period", justify="right")
    table.add_column("flag")
    for i in review.identities:
        flag = "[bold red]DORMANT privileged[/]" if i.dormant else ""
        table.add_row(
            i.user_ref[:16],
            i.tenant_id or "-",
            ", ".join(i.roles) or "-",
            i.first_activity.strftime("%Y-%m-%d"),
            i.last_activity.strftime("%Y-%m-%d"),
            str(i.records_in_period),
            flag,
        )
    console.print(table)
    counts = review.counts
    console.print(
        f"{counts['identities']} identities, {counts['admins']} admins, {counts['privileged']} privileged, "
        f"[{'bold red' if counts['dormant_privileged'] else 'green'}]{counts['dormant_privileged']} dormant "
        "privileged[/], "
        f"{counts['active_in_period']} active in the period"
    )
    roles = Table(title="App roles to compare with the assignments in Entra")
    for column in ("app role", "appRoleId", "service role", "description"):
        roles.add_column(column)
    for role in review.app_roles:
        roles.add_row(role.value, role.id or "?", role.service_role or "-", role.description)
    console.print(roles)
    if review.assignments is None:
        console.print(
            "List the assignments (the deployer, signed in with az login), save the JSON and pass it"
        )
        console.print("back with --assignments FILE to match them against the activity above:")
        console.print(review.az_command, soft_wrap=True, markup=False, highlight=False)
    else:
        matched = Table(title="App role assignments in Entra against the activity")
        for column in ("principal id", "type", "app role", "identity (pseudonym)", "state", "last activity"):
            matched.add_column(column, no_wrap=True)
        for m in review.assignments:
            style = {"never-used": "bold red", "dormant": "yellow", "group": "cyan"}.get(m.state, "green")
            matched.add_row(
                m.principal_id,
                m.principal_type,
                m.app_role,
                (m.user_ref or "-")[:16],
                f"[{style}]{m.state}[/]",
                m.last_activity.strftime("%Y-%m-%d") if m.last_activity else "-",
            )
        console.print(matched)
    for note in review.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"reviewer (pseudonym): {review.reviewer_ref[:16]}; recorded in the audit trail.")
    console.print("Signed: ______________________  Date: __________")


@app.command()
def review(
    since: str = typer.Option("30d", "--since", help="Look-back of the review: 30d, 4w, 720h."),
    reviewer: str | None = typer.Option(
        None,  # resolved below: the login name when not given
        "--reviewer",
        envvar="ENGRAM_REVIEWER",
        help="Who runs the review (stored in the audit trail as a pseudonym); default the login name.",
        show_default=False,
    ),
    stack: str | None = typer.Option(
        None, "--stack", help="Read the app registration's client id from this stack's outputs."
    ),
    client_id: str | None = typer.Option(
        None, "--client-id", help="The API app registration's client id (the stack's apiClientId)."
    ),
    assignments_file: Path | None = typer.Option(
        None,
        "--assignments",
        exists=True,
        dir_okay=False,
        help="The Graph answer listing the app role assignments (the az rest command the review prints).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the review as JSON."),
) -> None:
    """Every identity in the audit trail with its roles and activity; dormant privileged ones flagged."""
    from app.cli.rollback import _stack_outputs

    try:
        period = parse_period(since)
    except ReviewError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    who = reviewer if reviewer is not None else _default_reviewer()
    if not who.strip():
        raise typer.BadParameter("name who runs the review", param_hint="--reviewer")
    if client_id is None and stack is not None:
        client_id = str(_stack_outputs(stack).get("apiClientId") or "") or None
        if client_id is None:
            typer.echo(
                f"stack {stack!r} outputs no apiClientId (Pulumi not logged in, or the stack has no app "
                "registration); the Graph command shows a placeholder",
                err=True,
            )

    assignments: list[Assignment] | None = None
    if assignments_file is not None:
        try:
            document = json.loads(assignments_file.read_text(encoding="utf-8"))
            assignments = parse_assignments(document, stack_app_roles()[0])
        except (ValueError, OSError, ReviewError) as exc:
            message = str(exc) if isinstance(exc, ReviewError) else f"not JSON ({type(exc).__name__})"
            raise typer.BadParameter(message, param_hint="--assignments") from None

    async def _review(trail: AuditTrail) -> AccessReview:
        return await run_review(
            trail, reviewer=who, period=period, client_id=client_id, assignments=assignments
        )

    result = _on_trail(_review)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        render_review(result, Console(width=160))
