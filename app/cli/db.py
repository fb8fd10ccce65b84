"""`engram db ...`: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from app.settings import SettingsError, get_settings

app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (idempotent)."""
    from app.db.migrate import current_sync, upgrade_sync
    from app.db.url import DatabaseURLError

    try:
        settings = get_settings()
        upgrade_sync(settings, revision)
    except (SettingsError, DatabaseURLError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    Console().print(f"database at revision [bold]{current_sync(settings)}[/bold]")
