"""Checkov over the ARM exports of the stacks, judged against `policies/checkov-reasons.yaml`.

Checkov lives in its own virtualenv (`make checkov-venv` builds `.venv-checkov`: it pins many packages
the project's own dependencies would fight). It runs offline: `--skip-download` keeps it from fetching
guidelines or a Prisma Cloud policy set.

The reasons file lists every failure not fixed yet, each with its reason; `compare()` returns the
failures no entry explains and the entries that explain no failure, so the file stays honest and short.
`python -m policies.checkov_scan` (what `make checkov` runs) exports the stacks, runs Checkov and prints
both lists: exit 1 if either is non-empty.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

REPO_ROOT = Path(__file__).resolve().parent.parent
REASONS_FILE = Path(__file__).resolve().parent / "checkov-reasons.yaml"
CHECKOV_VENV = REPO_ROOT / ".venv-checkov"
ACTIONS = ("accept", "fix")


class CheckovError(Exception):
    """Checkov is missing, failed to run, or its output could not be read; says which."""


@dataclass(frozen=True, order=True)
class Failure:
    """One failed check: the stack (export file), Checkov's check id and resource (`Type.name`)."""

    stack: str
    check: str
    resource: str
    title: str = ""

    def __str__(self) -> str:
        return f"{self.stack}: {self.check} {self.resource}" + (f" ({self.title})" if self.title else "")


@dataclass(frozen=True)
class Reason:
    """One entry of the reasons file."""

    check: str
    resource: str  # an fnmatch pattern on Checkov's `Type.name`, or `*`
    stacks: tuple[str, ...]  # ("*",) for every stack
    action: str  # accept (deliberate) | fix (a change to components/ is due)
    reason: str

    def matches(self, failure: Failure) -> bool:
        return (
            failure.check == self.check
            and fnmatch.fnmatchcase(failure.resource, self.resource)
            and ("*" in self.stacks or failure.stack in self.stacks)
        )

    def __str__(self) -> str:
        stacks = ",".join(self.stacks)
        return f"{self.check} {self.resource} [{stacks}] ({self.action}): {self.reason}"


def find_checkov() -> str | None:
    """`$CHECKOV`, else `.venv-checkov/bin/checkov` in the checkout, else `checkov` on PATH."""
    explicit = os.environ.get("CHECKOV")
    if explicit:
        return explicit
    local = CHECKOV_VENV / "bin" / "checkov"
    if local.is_file():
        return str(local)
    return shutil.which("checkov")


def run_checkov(directory: Path, checkov: str | None = None) -> list[Failure]:
    """Checkov's ARM framework over every template in `directory`; the failed checks."""
    binary = checkov or find_checkov()
    if binary is None:
        raise CheckovError("checkov is not installed: `make checkov-venv` builds .venv-checkov")
    command = [binary, "--framework", "arm", "--skip-download", "--soft-fail", "--output", "json"]
    command += ["--directory", str(directory)]
    env = {**os.environ, "LOG_LEVEL": "ERROR", "BC_SKIP_MAPPING": "TRUE"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CheckovError(f"cannot run {binary}: {exc}") from None
    if done.returncode != 0:
        raise CheckovError(f"checkov exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise CheckovError(f"checkov's output is not JSON ({exc}): {done.stdout[:500]}") from None
    return parse_report(report)


def parse_report(report: Any) -> list[Failure]:
    """The failed checks of Checkov's `-o json` output (one report, a list of them, or an empty summary)."""
    reports = report if isinstance(report, list) else [report]
    failures: list[Failure] = []
    for one in reports:
        if not isinstance(one, dict):
            continue
        if one.get("check_type") not in (None, "arm"):
            continue
        if one.get("check_type") is None and "results" not in one:
            continue  # "nothing scanned" summary
        parsing_errors = one.get("summary", {}).get("parsing_errors", 0)
        if parsing_errors:
            raise CheckovError(f"checkov could not parse {parsing_errors} template(s)")
        for check in one.get("results", {}).get("failed_checks", []):
            stack = Path(check["file_path"]).stem
            failures.append(
                Failure(stack, check["check_id"], check["resource"], check.get("check_name") or "")
            )
    return sorted(set(failures))


def load_reasons(path: Path = REASONS_FILE) -> list[Reason]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: expected a list of entries")
    reasons = []
    for i, entry in enumerate(data):
        missing = {"check", "resource", "reason", "action"} - set(entry or {})
        if missing:
            raise ValueError(f"{path.name} entry {i + 1}: missing {', '.join(sorted(missing))}")
        if entry["action"] not in ACTIONS:
            raise ValueError(f"{path.name} entry {i + 1}: action must be one of {', '.join(ACTIONS)}")
        stacks = entry.get("stacks", "*")
        reasons.append(
            Reason(
                check=str(entry["check"]),
                resource=str(entry["resource"]),
                stacks=(stacks,) if isinstance(stacks, str) else tuple(str(s) for s in stacks),
                action=str(entry["action"]),
                reason=" ".join(str(entry["reason"]).split()),
            )
        )
    return reasons


def compare(failures: Iterable[Failure], reasons: Sequence[Reason]) -> tuple[list[Failure], list[Reason]]:
    """(failures no reason explains, reasons that explain no failure)."""
    unexplained: list[Failure] = []
    used: set[int] = set()
    for failure in failures:
        hits = [i for i, reason in enumerate(reasons) if reason.matches(failure)]
        if not hits:
            unexplained.append(failure)
        used.update(hits)
    stale = [reason for i, reason in enumerate(reasons) if i not in used]
    return unexplained, stale


def export_stacks(directory: Path, stacks: Sequence[str] | None = None) -> list[Path]:
    """Plan each stack offline and write its ARM template into `directory`."""
    from policies import arm_export
    from policies.plan import list_stacks, run_program

    names = list(stacks) if stacks else list_stacks()
    return [arm_export.write(run_program(name).resources, stack=name, directory=directory) for name in names]


def main(argv: Sequence[str] | None = None) -> int:
    """Export every stack, run Checkov, print what the reasons file does not cover and what is stale."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with tempfile.TemporaryDirectory(prefix="engram-arm-") as tmp:
            directory = Path(args[0]) if args else Path(tmp)
            export_stacks(directory)
            failures = run_checkov(directory)
    except CheckovError as exc:
        print(f"checkov: {exc}", file=sys.stderr)  # noqa: T201 - a command-line report
        return 2
    unexplained, stale = compare(failures, load_reasons())
    lines = [f"checkov: {len(failures)} failed checks over the exports"]
    lines += ["", "Failures not in policies/checkov-reasons.yaml (fix them, or add an entry with a reason):"]
    lines += [f"  {f}" for f in unexplained] or ["  none"]
    lines += ["", "Stale entries (they match no failure: delete them):"]
    lines += [f"  {r}" for r in stale] or ["  none"]
    print("\n".join(lines))  # noqa: T201 - a command-line report
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main())
