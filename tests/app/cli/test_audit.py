"""`engram audit head` and `engram audit verify --expect-head` on SQLite and PostgreSQL.

The case that matters: the newest records deleted with the append-only guard lifted. Plain `verify`
still passes (the shortened chain is valid); the anchor taken earlier catches it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from app.audit.trail import AuditRecord, AuditTrail
from app.cli import cli
from app.db.engine import create_engine, session_factory
from app.db.migrate import upgrade
from app.settings import Settings, get_settings
from tests.app.audit.helpers import KEY, http_event, tamper
from tests.conftest import make_settings


@dataclass(frozen=True)
class Chain:
    settings: Settings
    records: list[AuditRecord]

    @property
    def anchor(self) -> str:
        """The head as an operator stored it before anything was deleted."""
        return f"{self.records[-1].seq}:{self.records[-1].hash}"

    def audit(self, *args: str) -> Result:
        """`engram audit ...` against this database, configured as an operator would: env vars."""
        env = {"DATA_DIR": str(self.settings.data_dir)}
        if self.settings.database_url is not None:
            env["DATABASE_URL"] = self.settings.database_url.get_secret_value()
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, ["audit", *args], env=env)
        finally:
            get_settings.cache_clear()

    def tamper(self, statement: str) -> None:
        async def _go() -> None:
            engine = create_engine(self.settings)
            try:
                await tamper(engine, statement)
            finally:
                await engine.dispose()

        asyncio.run(_go())


def _chain(settings: Settings, length: int) -> Chain:
    async def _build() -> list[AuditRecord]:
        engine = create_engine(settings)
        try:
            await upgrade(engine)
            trail = AuditTrail(session_factory(engine), KEY)
            return [await trail.append(http_event(n)) for n in range(length)]
        finally:
            await engine.dispose()

    return Chain(settings, asyncio.run(_build()))


@pytest.fixture
def chain(database_settings: Settings) -> Chain:
    return _chain(database_settings, 5)


def test_head_prints_the_last_record(chain: Chain) -> None:
    last = chain.records[-1]
    result = chain.audit("head")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"audit head: record 5 at {last.at.isoformat(timespec='microseconds')}",
        f"hash: {last.hash}",
        f"anchor: 5:{last.hash}",
    ]


def test_head_json_is_the_last_record(chain: Chain) -> None:
    last = chain.records[-1]
    result = chain.audit("head", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "seq": 5,
        "hash": last.hash,
        "at": last.at.isoformat(timespec="microseconds"),
        "anchor": chain.anchor,
    }


def test_verify_with_the_current_anchor_passes(chain: Chain) -> None:
    result = chain.audit("verify", "--expect-head", chain.anchor)
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 5 records; 1 anchored head(s) present" in result.stdout


def test_deleted_tail_passes_plain_verify_but_fails_the_old_anchor(chain: Chain) -> None:
    stored = chain.audit("head", "--json")
    anchor = json.loads(stored.stdout)["anchor"]
    chain.tamper("DELETE FROM audit_log WHERE seq > 3")

    plain = chain.audit("verify")
    assert plain.exit_code == 0, plain.output  # the gap: a shortened chain is a valid chain
    assert "audit chain intact: 3 records" in plain.stdout

    anchored = chain.audit("verify", "--expect-head", anchor)
    assert anchored.exit_code == 1
    assert anchored.stderr.strip() == (
        f"audit anchor {anchor} not met: record 5 is missing (the chain ends at record 3): "
        "records from 4 on were deleted, or the anchor comes from another database"
    )
    assert chain.audit("head").stdout.startswith("audit head: record 3 ")


def test_wrong_hash_fails_naming_both_hashes(chain: Chain) -> None:
    wrong = "0" * 64
    result = chain.audit("verify", "--expect-head", f"5:{wrong}")
    assert result.exit_code == 1
    assert f"record 5 has hash {chain.records[-1].hash}, the anchor says {wrong}" in result.stderr


def test_repeated_anchors_are_each_checked(chain: Chain) -> None:
    older = f"2:{chain.records[1].hash}"
    assert chain.audit("verify", "--expect-head", older, "--expect-head", chain.anchor).exit_code == 0
    result = chain.audit("verify", "--expect-head", older, "--expect-head", f"9:{'c' * 64}")
    assert result.exit_code == 1
    assert "record 9 is missing (the chain ends at record 5)" in result.stderr


def test_broken_chain_is_reported_as_before(chain: Chain) -> None:
    chain.tamper("UPDATE audit_log SET status = 299 WHERE seq = 2")
    result = chain.audit("verify", "--expect-head", chain.anchor)
    assert result.exit_code == 1
    assert "audit chain broken at record 2: the record's content does not match its hash" in result.stderr


@pytest.mark.parametrize("value", ["5", "five:abc", f"0:{'a' * 64}", f"5:{'a' * 63}", f"5:{'z' * 64}", ""])
def test_malformed_anchor_is_a_usage_error(tmp_path: Path, value: str) -> None:
    result = Chain(make_settings(tmp_path), []).audit("verify", "--expect-head", value)
    assert result.exit_code == 2
    assert result.stderr.startswith("--expect-head: expected SEQ:HASH (a record number >= 1, a colon")
    assert "Traceback" not in result.output


def test_head_of_an_empty_trail_exits_1(tmp_path: Path) -> None:
    result = _chain(make_settings(tmp_path), 0).audit("head")
    assert result.exit_code == 1
    assert result.stderr.strip() == "the audit trail is empty: no head to anchor yet"


def test_unmigrated_database_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    for command in (("head",), ("verify",)):
        result = Chain(settings, []).audit(*command)
        assert result.exit_code == 2, result.output
        assert "cannot read the audit trail (OperationalError)" in result.stderr
        assert "engram db upgrade" in result.stderr
