"""`engram db ...`: schema migrations and re-encryption of stored transcripts."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from app.settings import SettingsError, get_settings

app = typer.Typer(help="Database schema management and re-encryption.", no_args_is_help=True)


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


@app.command()
def reencrypt(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would change; write nothing."),
    batch_size: int = typer.Option(500, min=1, help="Rows per batch (one short transaction each)."),
) -> None:
    """Re-encrypt stored transcripts under the newest ENCRYPTION_KEY (idempotent, resumable).

    Exit 0 when every row is under the newest key, 1 when some rows no key decrypts (their ids
    are listed; they are left as they are), 2 on a configuration or database problem.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from app.audit.trail import AuditTrail, pseudonym_key
    from app.db.engine import create_engine, dispose, session_factory
    from app.db.url import DatabaseURLError
    from app.security.crypto import FernetCipher
    from app.security.reencrypt import ReencryptResult, reencrypt_turns

    try:
        settings = get_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    if settings.encryption_key is None:
        typer.echo(
            "ENCRYPTION_KEY is not set: there is no key to re-encrypt under. Set it to the Fernet keys the "
            "service uses, newest first (e.g. ENCRYPTION_KEY=<new key>,<old key>); nothing was changed",
            err=True,
        )
        raise typer.Exit(code=2)
    try:
        cipher = FernetCipher.from_setting(settings.encryption_key.get_secret_value())
    except (ValueError, TypeError):  # the message of a bad key is not echoed: it may hold key material
        typer.echo("ENCRYPTION_KEY must be one or more comma-separated Fernet keys, newest first", err=True)
        raise typer.Exit(code=2) from None

    async def _run() -> ReencryptResult:
        engine = create_engine(settings)
        try:
            trail = AuditTrail(session_factory(engine), pseudonym_key(settings))
            return await reencrypt_turns(engine, cipher, dry_run=dry_run, batch_size=batch_size, trail=trail)
        finally:
            await dispose(engine)

    try:
        result = asyncio.run(_run())
    except DatabaseURLError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    except SQLAlchemyError as exc:  # class name only: statement parameters would hold stored content
        typer.echo(
            f"database error ({type(exc).__name__}): is the database reachable and migrated "
            "(`engram db upgrade`)? Batches already written are kept; run again to resume",
            err=True,
        )
        raise typer.Exit(code=2) from None
    console = Console(highlight=False)
    console.print(f"turns.content{' (dry run, nothing written)' if dry_run else ''}")
    console.print(f"  scanned          {result.scanned}")
    console.print(f"  {'to rewrite' if dry_run else 'rewritten':<17}{result.rewritten}")
    console.print(f"  already current  {result.current}")
    console.print(f"  undecryptable    {len(result.undecryptable)}")
    if result.changed:
        console.print(
            f"  changed meanwhile {result.changed} (deleted or rewritten by the service: left alone)"
        )
    if settings.audit_pseudonym_key is None and "," in settings.encryption_key.get_secret_value():
        typer.echo(_PSEUDONYM_NOTE, err=True)
    if not result.ok:
        ids = ", ".join(str(i) for i in result.undecryptable)
        typer.echo(
            f"{len(result.undecryptable)} turns cannot be decrypted with any ENCRYPTION_KEY and were left as "
            f"they are (turn ids: {ids}). Append the key they were written under to ENCRYPTION_KEY and run "
            "again; drop no key until then",
            err=True,
        )
        raise typer.Exit(code=1)


_PSEUDONYM_NOTE = (
    "note: AUDIT_PSEUDONYM_KEY is unset, so audit pseudonyms and erasure markers are keyed by the whole "
    "ENCRYPTION_KEY value and changed when a key was added to it; see 'Rotate the transcript encryption key' "
    "in docs/runbook.md"
)
