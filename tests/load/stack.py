"""`make load`: the k6 load tests (scripts/load-tests) against a local `engram serve` wired to the doubles.

Starts the OpenAI and VoiceLive doubles (VoiceLive answers each second of audio by itself, see
`VoiceLiveDouble.auto_turn_frames`) and `engram serve` on free loopback ports, runs k6 on each script with
`API_BASE` pointing there, prints k6's summary, stops everything and exits non-zero when any k6 run
failed (a crossed threshold is k6's exit code 99). The per-user rate limits are raised for the run: every
virtual user is the same development identity, and the limits are not what is measured here.

    python -m tests.load.stack --vus 10 --duration 20s scripts/load-tests/chat-load.js ...
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.voicelive_server import VoiceLiveDouble
from tests.e2e.harness import VOICELIVE_KEY, Doubles, LoopThread, start_engram

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "load-tests"
FRAMES_PER_TURN = 25  # one second of 40 ms frames, as scripts/load-tests/voice-ws-stress.js sends a turn
#: Limits raised for a load run on one identity (the defaults are 30 chats and 6 voice starts a minute).
LOAD_SETTINGS = {
    "RATE_LIMIT_CHAT_PER_MINUTE": "1000000",
    "RATE_LIMIT_VOICE_PER_MINUTE": "1000000",
    "VOICE_MAX_SESSIONS": "1000",
}


def k6_binary() -> str | None:
    """`K6` from the environment, else the k6 next to this Python (the dev extra installs it), else PATH."""
    if os.environ.get("K6"):
        return os.environ["K6"]
    beside = Path(sys.executable).parent / "k6"
    return str(beside) if beside.is_file() else shutil.which("k6")


@contextmanager
def local_stack(workdir: Path) -> Iterator[str]:
    """The doubles and `engram serve` on loopback; yields the service's base URL."""
    loop = LoopThread()
    openai = OpenAIDouble()
    voicelive = VoiceLiveDouble(api_key=VOICELIVE_KEY, auto_turn_frames=FRAMES_PER_TURN)
    loop.run(openai.__aenter__())
    loop.run(voicelive.__aenter__())
    try:
        proc, base = start_engram(workdir, Doubles(loop, openai, voicelive), **LOAD_SETTINGS)
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        loop.run(voicelive.__aexit__(None, None, None))
        loop.run(openai.__aexit__(None, None, None))
        loop.stop()


def run_k6(k6: str, script: Path, base: str, vus: int, duration: str, summary: Path | None = None) -> int:
    command = [k6, "run", "--quiet", "--no-usage-report", "-e", f"API_BASE={base}"]
    command += ["-e", f"VUS={vus}", "-e", f"DURATION={duration}"]
    if summary is not None:
        command += ["--summary-export", str(summary)]
    return subprocess.run([*command, str(script)], check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vus", type=int, default=10)
    parser.add_argument("--duration", default="20s")
    parser.add_argument("scripts", nargs="*", type=Path)
    args = parser.parse_args(argv)
    k6 = k6_binary()
    if k6 is None:
        print("k6 not found: `make test` installs it into .venv (the dev extra), or set K6", file=sys.stderr)
        return 2
    scripts = args.scripts or [SCRIPTS / "chat-load.js", SCRIPTS / "voice-ws-stress.js"]
    failed = []
    with tempfile.TemporaryDirectory(prefix="engram-load-") as tmp, local_stack(Path(tmp)) as base:
        for script in scripts:
            print(f"== k6 {script.name}: {args.vus} VUs for {args.duration} against {base}", flush=True)
            if run_k6(k6, script, base, args.vus, args.duration) != 0:
                failed.append(script.name)
    if failed:
        print(f"load: thresholds failed or k6 errored in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
