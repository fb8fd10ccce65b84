"""Time `engram check --all`: the offline gate per stack and in total (target: < 15 s for all five).

Run: `.venv/bin/python bench/gate.py [--busy N] [--runs R]` (prints figures; asserts nothing). The first
stack also pays for importing Pulumi and the providers, so the total is also shown from a cold process,
R times, with its CPU time. `--busy N` keeps N busy-looping processes running during the cold runs, to
reproduce a loaded machine (CI runners and a developer laptop running the test suite); print `uptime`
alongside the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from policies.gate import check_stack
from policies.plan import list_stacks

REPO = Path(__file__).resolve().parent.parent


def _cold(runs: int) -> None:
    engram = str(Path(sys.executable).with_name("engram"))
    for _ in range(runs):
        before = os.times()
        started = time.perf_counter()
        result = subprocess.run([engram, "check", "--all"], cwd=REPO, capture_output=True)  # noqa: S603
        wall = time.perf_counter() - started
        after = os.times()
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        print(f"`engram check --all` (cold, exit {result.returncode}) {wall:6.2f}s wall {cpu:6.2f}s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes during the cold runs")
    parser.add_argument("--runs", type=int, default=1, help="cold runs")
    options = parser.parse_args()

    started = time.perf_counter()
    for stack in list_stacks():
        report = check_stack(stack)
        print(
            f"{stack:8s} {report.seconds:6.2f}s  {report.resources:3d} resources  "
            f"{len(report.mandatory)} mandatory  {len(report.undecided)} undecided"
        )
    print(f"in-process total {time.perf_counter() - started:6.2f}s")

    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603
        for _ in range(options.busy)
    ]
    try:
        if hogs:
            print(f"with {len(hogs)} busy-looping processes:")
        _cold(options.runs)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


if __name__ == "__main__":
    main()
