"""`engram retention purge`: delete episodes older than DATA_RETENTION_DAYS and, when Zep is
configured, ask Zep to delete their threads; delete voice recordings older than
RECORDING_RETENTION_DAYS when a recordings store is configured (idempotent)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from app.settings import SettingsError, get_settings

app = typer.Typer(help="Data retention.", no_args_is_help=True)


@app.command()
def purge(
    days: int | None = typer.Option(None, min=1, help="Override DATA_RETENTION_DAYS for this run."),
    recording_days: int | None = typer.Option(
        None, min=1, help="Override RECORDING_RETENTION_DAYS for this run (recordings store configured)."
    ),
) -> None:
    """Purge episodes idle longer than the retention period; records the run in the audit trail."""
    from app.audit.trail import AuditTrail, pseudonym_key
    from app.db.engine import create_engine, session_factory
    from app.db.url import DatabaseURLError
    from app.memory.runtime import MemoryRuntime
    from app.recordings.store import BlobRecordingStore
    from app.security.crypto import cipher_from_settings
    from app.security.privacy import PurgeResult, purge_expired
    from app.security.recordings import RecordingPurge, purge_recordings

    try:
        settings = get_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    retention = days or settings.data_retention_days
    if retention is None:
        typer.echo("DATA_RETENTION_DAYS is not set (or pass --days N); nothing purged", err=True)
        raise typer.Exit(code=2)
    recording_days = recording_days or settings.recording_retention_days

    async def _run() -> tuple[PurgeResult, RecordingPurge | None]:
        engine = create_engine(settings)
        recordings = BlobRecordingStore.from_settings(settings)
        try:
            sessions = session_factory(engine)
            memory = MemoryRuntime.build(settings, sessions, cipher_from_settings(settings))
            try:
                trail = AuditTrail(sessions, pseudonym_key(settings))
                purged = await purge_expired(memory.store, trail, retention, zep=memory.mirror)
                if recordings is None or recording_days is None:
                    return purged, None
                return purged, await purge_recordings(recordings, trail, recording_days)
            finally:
                await memory.aclose()
        finally:
            if recordings is not None:
                await recordings.aclose()
            await engine.dispose()

    try:
        result, recorded = asyncio.run(_run())
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
    if recorded is not None:
        console.print(f"recordings: deleted {recorded.blobs} blobs older than {recording_days} days")
