"""`engram serve`: migrate, check the SOP guard, run uvicorn."""

from __future__ import annotations

import logging

import typer

from app.observability.logging import configure_logging
from app.settings import SettingsError, SOPViolation, enforce_sop, get_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082  # the SOP's local port


def register(cli: typer.Typer) -> None:
    @cli.command()
    def serve(
        host: str = typer.Option(DEFAULT_HOST, help="Interface to bind."),
        port: int = typer.Option(DEFAULT_PORT, help="Port to listen on."),
        proxy_headers: bool = typer.Option(False, help="Trust X-Forwarded-* (behind the ACA proxy)."),
    ) -> None:
        """Run the Engram API (migrates the database first)."""
        import uvicorn

        from app.db.migrate import upgrade_sync
        from app.main import create_app

        try:
            settings = enforce_sop(get_settings())
        except (SettingsError, SOPViolation) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=2) from None
        configure_logging(settings)
        upgrade_sync(settings)
        logging.getLogger("engram").info("engram configured", extra={"configuration": settings.describe()})
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            proxy_headers=proxy_headers,
            forwarded_allow_ips="*" if proxy_headers else None,
            log_config=None,  # our JSON logging owns the root logger
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
        )
