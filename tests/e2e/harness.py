"""The e2e rig: the wire doubles on a background event loop, `engram serve` as a real process, and
Debian's headless Chromium driven by Playwright (its driver only: it never downloads a browser).

Every wait is on a condition with a bound, never a fixed sleep, so a broken behaviour fails the test.
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.voicelive_server import VoiceLiveDouble
from tests.processes import START_TIMEOUT_S, engram_env, spawn_engram
from tests.processes import free_port as free_port  # re-exported: the e2e and LiteLLM tests take it here

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "app" / "web"
WEB_DIST = WEB / "dist"
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("ENGRAM_E2E_CHROMIUM", "/usr/bin/chromium")
VOICELIVE_KEY = "test-voicelive-key"
#: Against a deployed stack (the e2e-tests workflow on dispatch): the UI's URL, and a bearer token of the
#: test tier's service principal. The AI services behind it are real, so tests that script or inspect
#: the doubles skip there with that reason; the rest run unchanged.
DEPLOYED_BASE_URL = os.environ.get("E2E_BASE_URL", "").rstrip("/")
DEPLOYED_TOKEN = os.environ.get("E2E_TOKEN", "")
#: The deployed API's URL when it is not the UI's (Static Web Apps in front, Container Apps behind).
DEPLOYED_API_URL = os.environ.get("E2E_API_URL", "").rstrip("/")
DOUBLE_ONLY = (
    "double-only: against a deployed stack (E2E_BASE_URL) the OpenAI gateway and VoiceLive are real, "
    "so their answers cannot be scripted nor what they receive inspected"
)

#: The flags the e2e browser runs with: headless, no sandbox (containers), nothing phoning home,
#: and a fake microphone fed from a WAV file the test writes.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


class LoopThread:
    """An asyncio loop on a daemon thread, so synchronous browser tests can drive the async doubles."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="e2e-doubles", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@dataclass
class Doubles:
    loop: LoopThread
    openai: OpenAIDouble
    voicelive: VoiceLiveDouble


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll `condition()` until true (bounded); for state outside the page, e.g. the episode API."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_engram(
    workdir: Path, doubles: Doubles, port: int | None = None, **settings: str
) -> tuple[subprocess.Popen[str], str]:
    """`engram serve` against the doubles (plus `settings` as env); returns the process and its URL."""
    served = spawn_engram(workdir, engram_env(doubles.openai, doubles.voicelive, **settings), port)
    try:
        served.wait_healthy()
    except RuntimeError:
        served.stop()
        raise
    return served.proc, served.base


def static_ui(out: Path, port: int, **vite_env: str) -> subprocess.Popen[bytes]:
    """Build the UI into `out` with `vite_env` (VITE_* build settings) and serve it statically on
    127.0.0.1:`port` (a plain file server, as Static Web Apps serves the build); the caller stops it."""
    subprocess.run(
        ["npx", "vite", "build", "--outDir", str(out), "--emptyOutDir", "--logLevel", "error"],
        cwd=WEB,
        env={**os.environ, **vite_env},
        check=True,
        timeout=180,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_http(url: str, proc: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"{what} did not start")


def write_tone_wav(path: Path, freq: float = 440.0, rate: int = 48_000, seconds: float = 2.0) -> Path:
    """A mono 16-bit WAV tone for Chromium's fake microphone (it loops the file)."""
    frames = bytearray()
    for i in range(int(rate * seconds)):
        frames += struct.pack("<h", int(0.4 * 32767 * math.sin(2 * math.pi * freq * i / rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


def tone_pcm24k(freq: float, seconds: float, amplitude: float = 0.3) -> bytes:
    """PCM16 24 kHz mono: what VoiceLive sends as answer audio."""
    scale, step = amplitude * 32767, 2 * math.pi * freq / 24_000
    return b"".join(struct.pack("<h", int(scale * math.sin(step * i))) for i in range(int(24_000 * seconds)))


def dominant_rate(pcm: bytes, rate: int = 24_000) -> float:
    """Zero crossings per second / 2: the frequency of a clean tone."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2])
    crossings = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / (len(samples) / rate) / 2
