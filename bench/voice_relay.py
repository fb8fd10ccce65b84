"""Voice relay benchmark: N concurrent sessions of 24 kHz PCM16 in 40 ms frames through the proxy.

Three processes, so none steals the others' event loop:
  upstream  the VoiceLive double (tests/doubles) in echo mode: each input_audio_buffer.append is
            answered at once with a response.audio.delta carrying the same audio;
  proxy     the Engram app under uvicorn (as `engram serve` runs it), pointed at the upstream;
  load      this process: N browser stand-ins, each sending one frame every 40 ms.

Each frame carries its send time; the upstream writes its receive and send times into the echoed
audio, so the load process gets, per frame, the transit client -> proxy -> upstream plus upstream ->
proxy -> client, excluding the upstream's own time. The same load is then run straight at the
upstream (no proxy) and the difference is the latency the relay adds. CPU and memory per session
are read from /proc for the proxy process only.

    .venv/bin/python bench/voice_relay.py                  # 10, 50, 200 sessions, 10 s each
    .venv/bin/python bench/voice_relay.py --sessions 200 --seconds 20

Fault mode (`--fault-after K`): every upstream session expires K seconds after it opened (the
`session_expired` error, then a 1001 close, as at VoiceLive's duration cap), so the relay renews each
one under a live browser. Reported per run: renewals seen by the clients, the gap the user hears (the
last answer audio before the loss -> the first audio after `session_renewed`) p50/p99/max, and the
sessions lost (closed by the relay before the run ended). Target: p99 gap <= 1 s, no session lost.

    .venv/bin/python bench/voice_relay.py --fault-after 3 --sessions 10 100 --seconds 10
    .venv/bin/python bench/voice_relay.py --record          # every session consents to recording,
                                                            # written to Azurite (make azurite)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: --record: every proxied session consents to recording before it streams.
RECORD = False
FRAME_S = 0.040
FRAME_BYTES = 1920  # 40 ms of 24 kHz mono PCM16
WARMUP_S = 2.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- roles run in child processes --------------------------------------------------------------------


def run_upstream(port_file: str, expire_after: float | None) -> None:
    from tests.doubles.voicelive_server import VoiceLiveDouble

    async def main() -> None:
        async with VoiceLiveDouble(echo_audio=True, expire_after_s=expire_after) as double:
            Path(port_file).write_text(str(double.port))  # noqa: ASYNC240 - once, before any load
            await asyncio.Event().wait()

    _run(main())


def run_proxy(port: int, upstream_port: int, data_dir: str, recording_store: str = "") -> None:
    import uvicorn

    from app.cli.serve import server_options
    from app.db.migrate import upgrade_sync
    from app.main import create_app
    from app.settings import load_settings

    settings = load_settings(
        _env_file=None,
        data_dir=Path(data_dir),
        azure_voicelive_endpoint=f"http://127.0.0.1:{upstream_port}",
        azure_voicelive_key="test-voicelive-key",
        voice_max_sessions=10_000,
        rate_limit_voice_per_minute=100_000,  # one anonymous caller opens every session
        log_level="WARNING",
        **(
            {"recording_mode": "consent", "recording_storage_connection_string": recording_store}
            if recording_store
            else {}
        ),
    )
    upgrade_sync(settings)
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", **server_options()
    )  # the same server options as `engram serve`


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


# --- the load --------------------------------------------------------------------------------------


@dataclass
class Faults:
    """What the clients saw of renewals: the audio gaps around each, and sessions the relay closed."""

    gaps_ms: list[float] = field(default_factory=list)
    renewals: int = 0
    lost: int = 0


async def one_session(
    url: str, direct: bool, seconds: float, samples: list[float], gate: Gate, faults: Faults
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    headers = {"api-key": "test-voicelive-key"} if direct else None
    protocols = None if direct else ["engram.v1"]
    # Offer permessage-deflate like a browser does (the proxy declines it); the direct run skips it.
    deflate = None if direct else "deflate"
    async with connect(url, subprotocols=protocols, additional_headers=headers, compression=deflate) as ws:  # type: ignore[arg-type]
        if not direct:
            first = orjson.loads(await ws.recv())
            assert first["type"] == "agent_switched", first
            if RECORD:
                await ws.send('{"type":"consent","recording":true}')
                answer = orjson.loads(await ws.recv())
                assert answer == {"type": "recording", "state": "on"}, answer
        await gate.arrive()
        # Only the first 12 bytes (the send time) change per frame: the rest is encoded once.
        tail = base64.b64encode(os.urandom(FRAME_BYTES - 12)).decode()
        head = bytearray(12)
        start = time.monotonic() + random.random() * FRAME_S  # noqa: S311 - spread the phases
        warm_until = start + WARMUP_S
        stop_at = start + WARMUP_S + seconds
        prefix = '{"type":"input_audio_buffer.append","audio":"' if direct else '{"type":"audio","data":"'
        key = "delta" if direct else "data"

        async def sender() -> None:
            n = 0
            while True:
                due = start + n * FRAME_S
                if due >= stop_at:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                struct.pack_into("<Q", head, 0, time.monotonic_ns())
                await ws.send(prefix + base64.b64encode(head).decode() + tail + '"}')
                n += 1

        async def receiver() -> None:
            last_audio = 0
            renewed = False
            async for message in ws:
                now = time.monotonic_ns()
                event = orjson.loads(message)
                if event.get("type") == "session_renewed":
                    faults.renewals += 1
                    renewed = True
                    continue
                data = event.get(key)
                if not data:
                    continue
                if renewed:  # the first answer audio after a renewal: the gap the user heard
                    faults.gaps_ms.append((now - last_audio) / 1e6)
                    renewed = False
                last_audio = now
                stamps = base64.b64decode(data[:40])
                sent = struct.unpack_from("<Q", stamps, 0)[0]
                received, replied = struct.unpack_from("<QQ", stamps, 12)
                if sent / 1e9 >= warm_until:
                    samples.append(((received - sent) + (now - replied)) / 1e6)

        send_task = asyncio.create_task(sender())
        recv_task = asyncio.create_task(receiver())
        try:
            await send_task
            await asyncio.sleep(0.5)  # let the last echoes arrive
            if recv_task.done():  # the relay closed the session before the run ended
                raise ConnectionClosed(None, None)
        except ConnectionClosed:
            faults.lost += 1
        finally:
            recv_task.cancel()


class Gate:
    """Every session opens first; streaming starts once all have (so N is really concurrent)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = 0
        self.open = asyncio.Event()

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived == self.n:
            self.open.set()
        await self.open.wait()


async def load(urls: list[str], direct: bool, seconds: float, faults: Faults | None = None) -> list[float]:
    samples: list[float] = []
    gate = Gate(len(urls))
    faults = faults if faults is not None else Faults()
    await asyncio.gather(*(one_session(u, direct, seconds, samples, gate, faults) for u in urls))
    return samples


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def measure(
    n: int,
    seconds: float,
    proxy_pid: int,
    upstream_pid: int,
    proxy_port: int,
    upstream_port: int,
    fault: bool,
) -> dict[str, float]:
    direct: list[float] = []
    if not fault:  # a direct session would just end at the fault: the baseline needs none
        direct = await load(
            [f"ws://127.0.0.1:{upstream_port}/voice-live/realtime?api-version=b&model=b"] * n, True, seconds
        )
    rss0 = proc_rss_mb(proxy_pid)
    cpu0 = proc_cpu_s(proxy_pid)
    up0 = proc_cpu_s(upstream_pid)
    me0 = proc_cpu_s(os.getpid())
    t0 = time.monotonic()
    urls = [f"ws://127.0.0.1:{proxy_port}/api/v1/voice/voicelive/bench-{n}-{i}" for i in range(n)]
    faults = Faults()
    relayed = await load(urls, False, seconds, faults)
    elapsed = time.monotonic() - t0
    cpu = proc_cpu_s(proxy_pid) - cpu0
    up = proc_cpu_s(upstream_pid) - up0
    me = proc_cpu_s(os.getpid()) - me0
    rss = proc_rss_mb(proxy_pid)
    return {
        "sessions": n,
        "frames": len(relayed),
        "direct_frames": len(direct),
        "upstream_cpu_pct": 100 * up / elapsed,
        "load_cpu_pct": 100 * me / elapsed,
        "expected": n * seconds / FRAME_S,
        "direct_p50": pct(direct, 0.5),
        "direct_p99": pct(direct, 0.99),
        "proxy_p50": pct(relayed, 0.5),
        "proxy_p99": pct(relayed, 0.99),
        "cpu_pct_per_session": 100 * cpu / elapsed / n,
        "cpu_pct_total": 100 * cpu / elapsed,
        "rss_mb": rss,
        "rss_delta_kb_per_session": max(0.0, rss - rss0) * 1024 / n,
        "renewals": faults.renewals,
        "gaps": len(faults.gaps_ms),
        "gap_p50": pct(faults.gaps_ms, 0.5),
        "gap_p99": pct(faults.gaps_ms, 0.99),
        "gap_max": max(faults.gaps_ms, default=float("nan")),
        "lost": faults.lost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="*", default=[10, 50, 200])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--role", choices=["load", "upstream", "proxy"], default="load")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream-port", type=int, default=0)
    parser.add_argument("--port-file", default="")
    parser.add_argument("--data-dir", default="")
    parser.add_argument(
        "--fault-after",
        type=float,
        default=None,
        help="every upstream session expires after this many seconds",
    )
    parser.add_argument("--record", action="store_true", help="every session records (Azurite store)")
    parser.add_argument("--recording-store", default="", help=argparse.SUPPRESS)  # proxy role
    args = parser.parse_args()
    if args.role == "upstream":
        run_upstream(args.port_file, args.fault_after)
        return
    if args.role == "proxy":
        run_proxy(args.port, args.upstream_port, args.data_dir, args.recording_store)
        return
    if args.record:
        from tests.azurite.server import AzuriteMissing, azurite

        global RECORD
        RECORD = True
        try:
            with azurite() as store:
                _bench(args, store.connection_string)
        except AzuriteMissing as exc:
            raise SystemExit(str(exc)) from None
        return
    _bench(args, "")


def _bench(args: argparse.Namespace, recording_store: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "upstream.port"
        me = [sys.executable, __file__]
        fault = ["--fault-after", str(args.fault_after)] if args.fault_after else []
        upstream = subprocess.Popen([*me, "--role", "upstream", "--port-file", str(port_file), *fault])
        proxy: subprocess.Popen[bytes] | None = None
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            upstream_port = int(port_file.read_text())
            proxy_port = free_port()
            proxy = subprocess.Popen(
                [
                    *me,
                    "--role",
                    "proxy",
                    "--port",
                    str(proxy_port),
                    "--upstream-port",
                    str(upstream_port),
                    "--data-dir",
                    tmp,
                    "--recording-store",
                    recording_store,
                ]
            )
            _wait_port(proxy_port)
            print(
                f"recording={'on (Azurite)' if recording_store else 'off'} "
                f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} frame=40ms/24kHz PCM16, "
                f"{args.seconds:g}s per run after {WARMUP_S:g}s warm-up; "
                "latency = transit both ways, upstream time excluded"
            )
            print(
                f"{'sessions':>8} {'frames':>8} {'direct p50/p99 ms':>18} {'proxy p50/p99 ms':>17} "
                f"{'added p50/p99 ms':>17} {'proxy CPU %/sess':>16} {'total CPU %':>11} {'RSS MB':>7} "
                f"{'KB/sess':>8}"
            )
            if args.fault_after:
                print(
                    f"fault mode: every upstream session expires {args.fault_after:g}s after it opens; "
                    "gap = last answer audio before the loss -> first audio after session_renewed"
                )
                print(
                    f"{'sessions':>8} {'renewals':>8} {'gap p50 ms':>10} {'gap p99 ms':>10} "
                    f"{'gap max ms':>10} {'lost':>5} {'proxy p50/p99 ms':>17} {'total CPU %':>11}"
                )
            for n in args.sessions:
                r = _run_load(
                    measure(
                        n,
                        args.seconds,
                        proxy.pid,
                        upstream.pid,
                        proxy_port,
                        upstream_port,
                        bool(args.fault_after),
                    )
                )
                if args.fault_after:
                    print(
                        f"{n:>8} {int(r['renewals']):>8} {r['gap_p50']:>10.1f} {r['gap_p99']:>10.1f} "
                        f"{r['gap_max']:>10.1f} {int(r['lost']):>5} "
                        f"{r['proxy_p50']:>8.2f}/{r['proxy_p99']:<8.2f} {r['cpu_pct_total']:>11.1f}",
                        flush=True,
                    )
                    continue
                print(
                    f"{n:>8} {int(r['frames']):>8} {r['direct_p50']:>8.2f}/{r['direct_p99']:<9.2f} "
                    f"{r['proxy_p50']:>8.2f}/{r['proxy_p99']:<8.2f} "
                    f"{r['proxy_p50'] - r['direct_p50']:>8.2f}/{r['proxy_p99'] - r['direct_p99']:<8.2f} "
                    f"{r['cpu_pct_per_session']:>16.3f} {r['cpu_pct_total']:>11.1f} {r['rss_mb']:>7.1f} "
                    f"{r['rss_delta_kb_per_session']:>8.1f}",
                    flush=True,
                )
                print(
                    f"         (direct run: {int(r['direct_frames'])} frames; during the proxy run "
                    f"the upstream used {r['upstream_cpu_pct']:.0f}% CPU, "
                    f"the load generator {r['load_cpu_pct']:.0f}%)"
                )
                if r["frames"] < 0.95 * r["expected"]:
                    print(f"         warning: {int(r['frames'])} of {int(r['expected'])} frames came back")
        finally:
            for child in (proxy, upstream):
                if child is not None:
                    child.terminate()
                    child.wait(10)


def _run_load(coro: object) -> dict[str, float]:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type,no-any-return]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the proxy did not listen on {port}")


if __name__ == "__main__":
    main()
