"""`engram`: the single command line of the project.

Each area registers its commands in a module of this package; this file only composes them.
"""

from __future__ import annotations

import typer

from app.cli import access, audit, check, db, preview, retention, rollback, secrets, serve, tenant, verify

cli = typer.Typer(
    name="engram",
    help="Engram Platform: run the service, manage its database, preview and check the infrastructure.",
    no_args_is_help=True,
    add_completion=False,
)
serve.register(cli)
preview.register(cli)
check.register(cli)
verify.register(cli)
rollback.register(cli)
cli.add_typer(db.app, name="db")
cli.add_typer(audit.app, name="audit")
cli.add_typer(retention.app, name="retention")
cli.add_typer(tenant.app, name="tenant")
cli.add_typer(access.app, name="access")
cli.add_typer(secrets.app, name="secrets")


def main() -> None:
    cli()
