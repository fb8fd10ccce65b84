"""`engram retention purge`: delete episodes older than DATA_RETENTION_DAYS and, when Zep is
configured, ask Zep to delete their threads (idempotent)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from app.settings import SettingsError, get_settings

app = typer.Typer(help="Data retention.", no_args_is_help=True)


@app.command()
def purge(
    days: int | None = typer.Option(None, min=1, help="Override DATA_RETENTION_DAYS for this run."),
) -> None:
    """Purge episodes idle longer than the retention period; records the run in the audit trail."""
    from app.audit.trail import AuditTrail, pseudonym_key
    from app.db.engine import create_engine, session_factory
    from app.db.url import DatabaseURLError
    from app.memory.runtime import MemoryRuntime
    from app.security.crypto import cipher_from_settings
    from app.security.privacy import PurgeResult, purge_expired

    try:
        settings = get_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    retention = days or settings.data_retention_days
    if retention is None:
        typer.echo("DATA_RETENTION_DAYS is not set (or pass --days N); nothing purged", err=True)
        raise typer.Exit(code=2)

    async def _run() -> PurgeResult:
        engine = create_engine(settings)
        try:
            sessions = session_factory(engine)
            memory = MemoryRuntime.build(settings, sessions, cipher_from_settings(settings))
            try:
                trail = AuditTrail(sessions, pseudonym_key(settings))
                return await purge_expired(memory.store, trail, retention, zep=memory.mirror)
            finally:
                await memory.aclose()
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(_run())
    except DatabaseURLError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    console = Console()
    console.print(f"purged {result.episodes} episodes idle for more than {retention} days")
    if result.zep != "not_configured":
        failed = (
            f", {result.zep_threads_failed} failed (see memory_degraded)" if result.zep_threads_failed else ""
        )
        console.print(f"Zep: {result.zep_threads_requested} thread deletions requested{failed}")
