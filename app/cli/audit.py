"""`engram audit head` and `engram audit verify`: anchor the audit chain's head, and check the chain.

The chain alone cannot show a deleted tail (see `app/audit/trail.py`): `head` prints the newest
record's `SEQ:HASH` to store outside the database, and `verify --expect-head SEQ:HASH` fails when that
record is gone or differs. Exit status: 0 fine, 1 broken chain / unmet anchor / empty trail for
`head`, 2 bad input or configuration, database unreachable or not migrated.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

from app.settings import SettingsError, get_settings

if TYPE_CHECKING:
    from app.audit.trail import AuditHead, AuditTrail

app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)

T = TypeVar("T")


def _on_trail(operation: Callable[[AuditTrail], Awaitable[T]]) -> T:
    """Run `operation` on the configured database's trail; configuration and database errors exit 2."""
    from sqlalchemy.exc import DBAPIError

    from app.audit.trail import AuditTrail, pseudonym_key
    from app.db.engine import create_engine, session_factory
    from app.db.url import DatabaseURLError

    async def _run() -> T:
        settings = get_settings()
        engine = create_engine(settings)
        try:
            return await operation(AuditTrail(session_factory(engine), pseudonym_key(settings)))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_run())
    except (SettingsError, DatabaseURLError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    except (DBAPIError, OSError) as exc:  # the class only: driver messages may carry host names
        typer.echo(
            f"cannot read the audit trail ({type(exc).__name__}): is the database reachable and migrated "
            "(`engram db upgrade`)?",
            err=True,
        )
        raise typer.Exit(code=2) from None


@app.command()
def head(
    as_json: bool = typer.Option(False, "--json", help="Print seq, hash, at and anchor as JSON."),
) -> None:
    """Print the newest record (seq, hash, time) to store outside the database as an anchor."""

    async def _head(trail: AuditTrail) -> AuditHead | None:
        return await trail.head()

    current = _on_trail(_head)
    if current is None:
        typer.echo("the audit trail is empty: no head to anchor yet", err=True)
        raise typer.Exit(code=1)
    at = current.at.isoformat(timespec="microseconds")
    if as_json:
        typer.echo(json.dumps({"seq": current.seq, "hash": current.hash, "at": at, "anchor": current.anchor}))
        return
    # Plain echo, not rich: a 64-hex hash must never be wrapped.
    typer.echo(f"audit head: record {current.seq} at {at}\nhash: {current.hash}\nanchor: {current.anchor}")


@app.command()
def verify(
    expect_head: list[str] | None = typer.Option(
        None,
        "--expect-head",
        metavar="SEQ:HASH",
        help="A head stored earlier (`engram audit head`, the `audit_head` log line); record SEQ must "
        "still exist with HASH. Repeatable.",
    ),
) -> None:
    """Check every record's hash and link, and each anchor; exit 1 naming the first broken record."""
    from app.audit.trail import Anchor, VerifyResult

    anchors: list[Anchor] = []
    for text in expect_head or []:
        try:
            anchors.append(Anchor.parse(text))
        except ValueError as exc:
            typer.echo(f"--expect-head: {exc}", err=True)
            raise typer.Exit(code=2) from None

    async def _verify(trail: AuditTrail) -> VerifyResult:
        return await trail.verify(anchors)

    result = _on_trail(_verify)
    if result.ok:
        matched = f"; {result.anchors_matched} anchored head(s) present" if result.anchors_matched else ""
        Console().print(f"audit chain intact: {result.records} records{matched}")
        return
    if result.anchor is not None:
        typer.echo(f"audit anchor {result.anchor} not met: {result.reason}", err=True)
    else:
        typer.echo(
            f"audit chain broken at record {result.first_broken}: {result.reason} "
            f"({result.records} records before it verified)",
            err=True,
        )
    raise typer.Exit(code=1)
