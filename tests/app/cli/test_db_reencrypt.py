"""`engram db reencrypt` configured as an operator would (env vars), on SQLite and PostgreSQL: exit codes,
the counts it prints, ids but never content for rows no key decrypts, dry runs, a missing key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from app.cli import cli
from app.db.engine import create_engine, dispose
from app.db.migrate import upgrade
from app.security.crypto import FernetCipher
from app.settings import Settings, get_settings
from tests.app.security.test_reencrypt import FOREIGN, NEW, OLD, Seeded, raw_rows, seed


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def seeded(settings: Settings, *, foreign: bool) -> Seeded:
    async def _seed() -> Seeded:
        engine = create_engine(settings)
        try:
            await upgrade(engine)
            return await seed(engine, foreign=foreign)
        finally:
            await dispose(engine)

    return asyncio.run(_seed())


def rows(settings: Settings) -> dict[int, str]:
    async def _rows() -> dict[int, str]:
        engine = create_engine(settings)
        try:
            return await raw_rows(engine)
        finally:
            await dispose(engine)

    return asyncio.run(_rows())


def reencrypt(settings: Settings, *args: str, key: str | None = f"{NEW},{OLD}") -> Result:
    env: dict[str, Any] = {"DATA_DIR": str(settings.data_dir), "ENCRYPTION_KEY": key}
    if settings.database_url is not None:
        env["DATABASE_URL"] = settings.database_url.get_secret_value()
    get_settings.cache_clear()
    return CliRunner().invoke(cli, ["db", "reencrypt", *args], env=env)


def count(output: str, label: str) -> int:
    line = next(line for line in output.splitlines() if line.strip().startswith(label))
    return int(line.split()[-1])


def test_rewrites_old_and_plaintext_rows_then_has_nothing_left(database_settings: Settings) -> None:
    data = seeded(database_settings, foreign=False)

    first = reencrypt(database_settings, "--batch-size", "2")

    assert first.exit_code == 0, first.output
    assert [count(first.stdout, label) for label in ("scanned", "rewritten", "already current")] == [9, 6, 3]
    assert count(first.stdout, "undecryptable") == 0
    only_new = FernetCipher([NEW])
    assert {i: only_new.decrypt(s) for i, s in rows(database_settings).items()} == data.contents
    assert "AUDIT_PSEUDONYM_KEY is unset" in first.stderr  # two keys, pseudonyms keyed by both

    second = reencrypt(database_settings)
    assert second.exit_code == 0, second.output
    assert count(second.stdout, "rewritten") == 0 and count(second.stdout, "already current") == 9


def test_undecryptable_rows_exit_1_with_ids_only(database_settings: Settings) -> None:
    data = seeded(database_settings, foreign=True)
    foreign_ids = data.by_key["foreign"]

    result = reencrypt(database_settings)

    assert result.exit_code == 1, result.output
    assert count(result.stdout, "undecryptable") == 3 and count(result.stdout, "rewritten") == 6
    assert f"turn ids: {', '.join(map(str, foreign_ids))}" in result.stderr
    for said in data.contents.values():
        assert said not in result.output
        assert "555" not in result.output
    stored = rows(database_settings)
    assert all(FernetCipher([FOREIGN]).decrypt(stored[i]) == data.contents[i] for i in foreign_ids)
    others = [i for i in stored if i not in foreign_ids]
    assert all(FernetCipher([NEW]).decrypt(stored[i]) == data.contents[i] for i in others)


def test_dry_run_reports_and_writes_nothing(database_settings: Settings) -> None:
    seeded(database_settings, foreign=True)
    before = rows(database_settings)

    result = reencrypt(database_settings, "--dry-run")

    assert result.exit_code == 1, result.output  # the undecryptable rows still decide the exit code
    assert "dry run, nothing written" in result.stdout
    assert count(result.stdout, "to rewrite") == 6 and count(result.stdout, "already current") == 3
    assert rows(database_settings) == before


def test_unset_key_exits_2_and_changes_nothing(database_settings: Settings) -> None:
    seeded(database_settings, foreign=False)
    before = rows(database_settings)

    result = reencrypt(database_settings, key=None)

    assert result.exit_code == 2
    assert "ENCRYPTION_KEY is not set" in result.stderr
    assert "Traceback" not in result.output
    assert rows(database_settings) == before


def test_malformed_key_exits_2_without_echoing_it(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    bad = "not-a-fernet-key-0123456789"
    result = reencrypt(make_settings(tmp_path), key=f"{Fernet.generate_key().decode()},{bad}")

    assert result.exit_code == 2
    assert "comma-separated Fernet keys" in result.stderr
    assert bad not in result.output
