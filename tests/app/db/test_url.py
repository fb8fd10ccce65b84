"""DATABASE_URL forms the SOP uses become async driver URLs; bad ones get a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db.url import DatabaseURLError, async_url


def test_unset_means_sqlite_in_data_dir(tmp_path: Path) -> None:
    url = async_url(None, tmp_path)
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == str((tmp_path / "engram.db").resolve())


def test_sop_postgres_form_is_accepted_as_given(tmp_path: Path) -> None:
    url = async_url("postgresql://engram@db.example.invalid/engram", tmp_path)
    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.host, url.database) == ("engram", "db.example.invalid", "engram")


def test_libpq_sslmode_becomes_asyncpg_ssl(tmp_path: Path) -> None:
    url = async_url("postgresql://engram@db.example.invalid/engram?sslmode=require", tmp_path)
    assert dict(url.query) == {"ssl": "require"}


def test_unsupported_backend_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatabaseURLError, match="mysql"):
        async_url("mysql://u:pw@h/db", tmp_path)


def test_garbage_url_error_does_not_echo_it(tmp_path: Path) -> None:
    with pytest.raises(DatabaseURLError) as info:
        async_url("::not a url with p4ssw0rd::", tmp_path)
    assert "p4ssw0rd" not in str(info.value)
