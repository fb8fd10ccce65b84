"""DATABASE_URL normalisation: the SOP's plain forms become async SQLAlchemy URLs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url


class DatabaseURLError(ValueError):
    """DATABASE_URL cannot be used; the message says why without echoing credentials."""


def async_url(raw: str | None, data_dir: Path) -> URL:
    """Turn DATABASE_URL (or its absence) into an async driver URL.

    Accepts `postgresql://user@host/db` as the SOP writes it (asyncpg underneath; libpq's
    `sslmode` becomes asyncpg's `ssl`), `sqlite:///path`, or already-async URLs. Unset means a
    SQLite file in the data directory.
    """
    if not raw:
        return make_url(f"sqlite+aiosqlite:///{(data_dir / 'engram.db').resolve()}")
    try:
        url = make_url(raw)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in its text
        raise DatabaseURLError(
            "DATABASE_URL is not a valid URL (expected postgresql://user@host/db or sqlite:///path)"
        ) from exc
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        query = dict(url.query)
        sslmode = query.pop("sslmode", None)
        if sslmode is not None:
            query["ssl"] = sslmode
        return url.set(drivername="postgresql+asyncpg", query=query)
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    raise DatabaseURLError(f"DATABASE_URL backend {backend!r} is not supported; use postgresql or sqlite")
