"""What does Engram add on top of the gateway? Prints added latency p50/p95/p99 and requests/s.

One local OpenAI-compatible upstream (tests/doubles/openai_server.py), in this process with the
load generator. Requests go straight to it with the `openai` SDK, and through `POST /api/v1/chat`
of an Engram served by uvicorn in its own process on loopback (as `engram serve` runs it: SQL memory,
context engine, turn writes, every middleware), sequentially and at concurrency 32. The paths take
turns in rounds, so a load change on the machine hits them alike. Target: added p50 <= 5 ms sequential.

Run: `.venv/bin/python bench/chat_overhead.py [--requests 300] [--audit]
[--database-url postgresql://127.0.0.1:5432/postgres] [--litellm /path/to/venv/bin/litellm]`.
With `--database-url` (a server URL), a throwaway database is created for the run and dropped after.
With `--litellm`, a LiteLLM proxy in front of the same upstream is measured in the same rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.doubles.openai_server import OpenAIDouble  # noqa: E402

ENGRAM_PORT = 18082
LITELLM_PORT = 18083
ROUNDS = 4


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(
    call: Callable[[int], Awaitable[None]], n: int, concurrency: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with slots:
            t0 = time.perf_counter()
            await call(i)
            latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, time.perf_counter() - start


def serve(
    upstream: str, data_dir: str, database_url: str | None, audit: bool, metering: bool = False
) -> None:
    """The Engram side (child process): migrate, then uvicorn as `engram serve` runs it."""
    import uvicorn

    from app.cli.serve import server_options
    from app.db.migrate import upgrade_sync
    from app.main import create_app
    from app.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=Path(data_dir),
        database_url=database_url,
        azure_ai_endpoint=upstream,
        azure_ai_key="bench",
        log_level="WARNING",
        audit_log_enabled=audit,
        usage_metering_enabled=metering,  # app/usage: per-day token rows, stored in the background
        rate_limit_chat_per_minute=1_000_000,  # the limiter still runs; the bench must not trip it
    )
    upgrade_sync(settings)
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=ENGRAM_PORT, log_level="warning", **server_options()
    )


async def wait_for(url: str, child: asyncio.subprocess.Process, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if child.returncode is not None:
                raise RuntimeError(f"{url}: the server exited with {child.returncode}")
            try:
                await client.get(url, timeout=1)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout_s} s")


@asynccontextmanager
async def child(argv: list[str], ready_url: str, env: dict[str, str] | None = None) -> AsyncIterator[None]:
    process = await asyncio.create_subprocess_exec(*argv, env={**os.environ, **(env or {})}, cwd=ROOT)
    try:
        await wait_for(ready_url, process)
        yield
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@asynccontextmanager
async def throwaway_database(server_url: str | None) -> AsyncIterator[str | None]:
    """A fresh PostgreSQL database on `server_url` for the run, dropped afterwards."""
    if server_url is None:
        yield None
        return
    import asyncpg  # type: ignore[import-untyped]

    name = f"engram_bench_{uuid.uuid4().hex[:8]}"
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def litellm_config(upstream: str, directory: Path) -> Path:
    path = directory / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: gpt-5-chat\n"
        "    litellm_params:\n"
        "      model: openai/gpt-5-chat\n"
        f"      api_base: {upstream}\n"
        "      api_key: bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    return path


async def main(
    n: int, audit: bool, database_url: str | None, litellm: str | None, metering: bool = False
) -> None:
    async with OpenAIDouble() as upstream, AsyncExitStack() as stack:
        data = Path(tempfile.mkdtemp(prefix="engram-bench-"))
        database = await stack.enter_async_context(throwaway_database(database_url))
        argv = [sys.executable, __file__, "--serve", upstream.base_url, str(data)]
        argv += ["--database-url", database] if database else []
        argv += ["--audit"] if audit else []
        argv += ["--metering"] if metering else []
        await stack.enter_async_context(child(argv, f"http://127.0.0.1:{ENGRAM_PORT}/health"))
        paths: dict[str, Callable[[int], Awaitable[None]]] = {}
        direct = AsyncOpenAI(api_key="bench", base_url=upstream.base_url, max_retries=0)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        engram = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ENGRAM_PORT}", limits=limits, timeout=60)
        sessions = [f"bench-{i}" for i in range(32)]

        async def straight(i: int) -> None:
            await direct.chat.completions.create(
                model="gpt-5-chat", messages=[{"role": "user", "content": f"question {i}"}]
            )

        async def through(i: int) -> None:
            response = await engram.post(
                "/api/v1/chat", json={"content": f"question {i}", "session_id": sessions[i % 32]}
            )
            response.raise_for_status()

        paths["direct"], paths["engram"] = straight, through
        if litellm:
            key = f"sk-bench-{uuid.uuid4().hex}"  # LiteLLM refuses to start without a master key
            env = {"LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true", "LITELLM_MASTER_KEY": key}
            cmd = [
                litellm,
                "--config",
                str(litellm_config(upstream.base_url, data)),
                "--port",
                str(LITELLM_PORT),
            ]
            await stack.enter_async_context(
                child(cmd, f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", env)
            )
            proxy = AsyncOpenAI(api_key=key, base_url=f"http://127.0.0.1:{LITELLM_PORT}", max_retries=0)

            async def via_litellm(i: int) -> None:
                await proxy.chat.completions.create(
                    model="gpt-5-chat", messages=[{"role": "user", "content": f"question {i}"}]
                )

            paths["litellm"] = via_litellm

        for call in paths.values():  # warm-up every path
            await measure(call, 20, 1)
        backend = "postgresql" if database else "sqlite"
        print(f"backend: {backend}  audit: {'on' if audit else 'off'}  cores: {os.cpu_count()}")
        print(f"load average before: {os.getloadavg()}")
        print(f"{'mode':<14}{'path':<10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}")
        for label, concurrency, count in (("sequential", 1, n), ("concurrency32", 32, n * 2)):
            latencies: dict[str, list[float]] = {name: [] for name in paths}
            elapsed = dict.fromkeys(paths, 0.0)
            for _ in range(ROUNDS):  # interleaved, so a load change hits every path alike
                for name, call in paths.items():
                    lat, seconds = await measure(call, count // ROUNDS, concurrency)
                    latencies[name] += lat
                    elapsed[name] += seconds
            for name, lat in latencies.items():
                figures = f"{pct(lat, 50):>9.2f}{pct(lat, 95):>9.2f}{pct(lat, 99):>9.2f}"
                print(f"{label:<14}{name:<10}{figures}{len(lat) / elapsed[name]:>9.1f}")
            base = latencies["direct"]
            for name in [p for p in paths if p != "direct"]:
                ours = latencies[name]
                print(
                    f"{label:<14}{'+' + name:<10}{pct(ours, 50) - pct(base, 50):>9.2f}"
                    f"{pct(ours, 95) - pct(base, 95):>9.2f}{pct(ours, 99) - pct(base, 99):>9.2f}"
                    f"   (mean added {statistics.mean(ours) - statistics.mean(base):.2f} ms)"
                )
        print(f"load average after: {os.getloadavg()}")
        await engram.aclose()
        await direct.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--requests", type=int, default=300, help="sequential requests (x2 at concurrency 32)"
    )
    parser.add_argument("--audit", action="store_true", help="turn the audit trail on (as production)")
    parser.add_argument("--metering", action="store_true", help="turn usage metering on (as production)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL; a throwaway database is used")
    parser.add_argument("--litellm", help="a `litellm` executable (throwaway venv) to measure too")
    parser.add_argument("--serve", nargs=2, metavar=("UPSTREAM", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], args.database_url, args.audit, args.metering)
    else:
        asyncio.run(main(args.requests, args.audit, args.database_url, args.litellm, args.metering))
