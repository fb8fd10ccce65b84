"""`engram serve`: migrate, check the SOP guard, run uvicorn."""

from __future__ import annotations

import logging

import typer

from app.observability.logging import configure_logging
from app.settings import SettingsError, SOPViolation, enforce_sop, get_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082  # the SOP's local port
#: How long an idle keep-alive connection stays open. Container Apps' ingress (Envoy) pools connections
#: to each replica and may reuse an idle one for up to an hour; with uvicorn's default of 5 s the app
#: closes connections the proxy is about to reuse, and that race surfaces as sporadic 502s.
DEFAULT_KEEP_ALIVE_SECONDS = 300


def server_options(keep_alive_s: int = DEFAULT_KEEP_ALIVE_SECONDS) -> dict[str, float | bool]:
    """uvicorn settings of `engram serve` (the benchmarks run the app with the same ones).

    Browsers offer permessage-deflate on every websocket; on the voice relay it would deflate and
    inflate each 40 ms audio frame (about a fifth more proxy CPU and 50 KB more memory per session in
    bench/voice_relay.py) to save a little bandwidth on base64 audio, so the server declines it.
    """
    return {
        "timeout_keep_alive": keep_alive_s,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "ws_per_message_deflate": False,
    }


def register(cli: typer.Typer) -> None:
    @cli.command()
    def serve(
        host: str = typer.Option(DEFAULT_HOST, help="Interface to bind."),
        port: int = typer.Option(DEFAULT_PORT, help="Port to listen on."),
        proxy_headers: bool = typer.Option(False, help="Trust X-Forwarded-* (behind the ACA proxy)."),
        keep_alive: int = typer.Option(
            DEFAULT_KEEP_ALIVE_SECONDS, min=1, help="Seconds an idle keep-alive connection stays open."
        ),
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
            **server_options(keep_alive),  # type: ignore[arg-type]
        )
