"""The API image recipe: what can be checked without a Docker engine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "app" / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+?)$", DOCKERFILE, re.M)]


def test_multi_stage_slim_non_root() -> None:
    assert instructions("FROM") == ["python:3.11-slim AS build", "python:3.11-slim AS run"]
    users = instructions("USER")
    assert users and not users[-1].startswith(("0", "root"))
    assert "HEALTHCHECK" in DOCKERFILE and "/health" in DOCKERFILE
    assert instructions("EXPOSE") == ["8080"]


def test_base_install_only() -> None:
    runs = " ".join(instructions("RUN"))
    assert "pip install ." in runs
    assert "[" not in runs.split("pip install .", 1)[1].split("&&")[0], "no extras in the image"
    assert "requirements" not in runs


def test_the_entry_command_is_a_real_command() -> None:
    command = json.loads(instructions("CMD")[0])
    assert command[:2] == ["engram", "serve"]
    result = CliRunner().invoke(cli, [*command[1:2], "--help"])
    assert result.exit_code == 0
    for flag in command[2:]:
        if flag.startswith("--"):
            assert flag in result.output
    assert command[command.index("--port") + 1] == "8080"


def test_the_cli_imports_without_pulumi() -> None:
    """The image has no Pulumi and no `components/`: importing the CLI (and the app) must need neither."""
    code = "import sys, app.cli, app.main; sys.exit('pulumi' in sys.modules or 'components' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_dockerignore_keeps_secrets_and_venvs_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*")] == "*"  # allow-list: everything excluded by default
    assert "!app/" in lines and "**/.env" in lines
    assert not any(line.startswith("!") and ("venv" in line or "tests" in line) for line in lines)
