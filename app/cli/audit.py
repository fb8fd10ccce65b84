"""`engram audit verify`: recompute the audit hash chain and name the first broken record."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from app.settings import SettingsError, get_settings

app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


@app.command()
def verify() -> None:
    """Check every record's hash and link; exit 1 naming the first broken record."""
    from app.audit.trail import AuditTrail, VerifyResult, pseudonym_key
    from app.db.engine import create_engine, session_factory
    from app.db.url import DatabaseURLError

    async def _run() -> VerifyResult:
        settings = get_settings()
        engine = create_engine(settings)
        try:
            return await AuditTrail(session_factory(engine), pseudonym_key(settings)).verify()
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(_run())
    except (SettingsError, DatabaseURLError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    if result.ok:
        Console().print(f"audit chain intact: {result.records} records")
        return
    typer.echo(
        f"audit chain broken at record {result.first_broken}: {result.reason} "
        f"({result.records} records before it verified)",
        err=True,
    )
    raise typer.Exit(code=1)
