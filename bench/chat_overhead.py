"""What does Engram add on top of the gateway? Prints added latency p50/p95/p99 and requests/s.

One local OpenAI-compatible upstream (tests/doubles/openai_server.py), in this process with the
load generator. Requests go straight to it with the `openai` SDK, and through `POST /api/v1/chat`
of an Engram served by uvicorn in its own process on loopback (as `engram serve` runs it: SQL memory,
context engine, turn writes, every middleware), sequentially and at concurrency 32. The paths take
turns in rounds, so a load change on the machine hits them alike. Target: added p50 <= 5 ms sequential.

Run: `.venv/bin/python bench/chat_overhead.py [--requests 300] [--production | --audit --encryption
--entra --metering --redis-url redis://127.0.0.1:6379/0] [--database-url postgresql://127.0.0.1:5432/postgres]
[--litellm /path/to/venv/bin/litellm] [--profile DIR]`.
With `--database-url` (a server URL), a throwaway database is created for the run and dropped after.
With `--litellm`, a LiteLLM proxy in front of the same upstream is measured in the same rounds.

`--production` is the production configuration: PostgreSQL (a throwaway database on
`--database-url`, default the local server), the audit trail, transcript encryption, Entra JWT
validation (RS256 tokens checked against a local JWKS, tests/doubles/jwks.py, in production mode so
MFA is demanded too) and the Redis limiter (`--redis-url`, default the local Redis, a key prefix of
the run's own) and usage metering (app/usage; off unless asked, so figures stay comparable). Each part
is one entry of `FEATURES` and a name in `PRODUCTION`. `--profile DIR` samples the Engram process
with py-spy (collapsed stacks in DIR/engram.txt).
Targets: added p50 <= 5 ms sequential, >= 150 req/s at concurrency 32.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from openai import APIError, AsyncOpenAI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.doubles.openai_server import OpenAIDouble  # noqa: E402

ENGRAM_PORT = 18082
LITELLM_PORT = 18083
ROUNDS = 4
FAILURES: dict[str, int] = {}  # failed requests by error class (any path), printed at the end
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
#: The Entra tenant and API of the bench's tokens (made up; only the local JWKS knows the key).
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
KID = "bench-kid"


def _encryption() -> dict[str, object]:
    from cryptography.fernet import Fernet

    return {"encryption_key": Fernet.generate_key().decode()}


#: Each part of the production configuration as settings for the Engram process. `redis` and
#: `entra` are filled in by `main` (the run's Redis prefix, the JWKS URL); `postgres` is the
#: throwaway database. A new part is one entry here and a name in PRODUCTION.
FEATURES: dict[str, Callable[[], dict[str, object]]] = {
    "audit": lambda: {"audit_log_enabled": True},
    "encryption": _encryption,
    "entra": lambda: {
        "environment": "production",  # Entra validation with the MFA demand, HSTS, no /docs
        "auth_required": True,
        "azure_tenant_id": TENANT,
        "azure_ad_client_id": CLIENT,
        "data_retention_days": 90,
    },
    "redis": lambda: {},
    "metering": lambda: {
        "usage_metering_enabled": True
    },  # app/usage: per-day rows, written in the background
}
PRODUCTION = ("postgres", "audit", "encryption", "entra", "redis", "metering")


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
            try:
                await call(i)
            except (httpx.HTTPError, APIError) as exc:  # counted and shown, not a crashed run
                FAILURES[type(exc).__name__] = FAILURES.get(type(exc).__name__, 0) + 1
                return
            latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, time.perf_counter() - start


def serve(upstream: str, data_dir: str, database_url: str | None, overrides: str) -> None:
    """The Engram side (child process): migrate, then uvicorn as `engram serve` runs it."""
    import uvicorn

    from app.cli.serve import server_options
    from app.db.migrate import upgrade_sync
    from app.main import create_app
    from app.security import entra
    from app.settings import Settings

    extra = json.loads(overrides)
    jwks_url = extra.pop("jwks_url", None)
    if jwks_url:  # the tenant's keys come from the bench's local JWKS
        entra.jwks_url_for = lambda tenant: jwks_url  # type: ignore[assignment]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=Path(data_dir),
        database_url=database_url,
        azure_ai_endpoint=upstream,
        azure_ai_key="bench",
        log_level="WARNING",
        rate_limit_chat_per_minute=1_000_000,  # the limiter still runs; the bench must not trip it
        **({"usage_metering_enabled": False} | extra),  # metering only when asked (comparable figures)
    )
    upgrade_sync(settings)
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=ENGRAM_PORT, log_level="warning", **server_options()
    )


def bench_token() -> tuple[str, dict[str, object]]:
    """(a bearer token, the JWK that verifies it): RS256, the claims a production user token carries."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "aud": CLIENT,
        "tid": TENANT,
        "oid": "00000000-0000-0000-0000-0000000be4c4",
        "iat": now,
        "nbf": now,
        "exp": now + 3 * 3600,
        "roles": ["engram.user"],
        "acrs": ["c1"],  # MFA by the Conditional Access authentication context
        "ver": "2.0",
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": KID, "use": "sig", "alg": "RS256"}
    return token, jwk


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
async def child(
    argv: list[str], ready_url: str, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(*argv, env={**os.environ, **(env or {})}, cwd=ROOT)
    try:
        await wait_for(ready_url, process)
        yield process
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
    n: int,
    features: list[str],
    database_url: str | None,
    redis_url: str,
    litellm: str | None,
    profile: str | None,
) -> None:
    from tests.doubles.jwks import serve_jwks

    async with OpenAIDouble() as upstream, AsyncExitStack() as stack:
        data = Path(tempfile.mkdtemp(prefix="engram-bench-"))
        database = await stack.enter_async_context(throwaway_database(database_url))
        overrides: dict[str, object] = {}
        for feature in features:
            overrides.update(FEATURES[feature]())
        headers: dict[str, str] = {}
        if "entra" in features:
            token, jwk = bench_token()
            jwks = await stack.enter_async_context(serve_jwks([jwk]))
            overrides["jwks_url"] = jwks.url
            headers["Authorization"] = f"Bearer {token}"
        redis_prefix = f"engram-bench-{uuid.uuid4().hex[:8]}"
        if "redis" in features:
            overrides.update(redis_url=redis_url, redis_key_prefix=redis_prefix)
        argv = [sys.executable, __file__, "--serve", upstream.base_url, str(data), json.dumps(overrides)]
        argv += ["--database-url", database] if database else []
        server = await stack.enter_async_context(child(argv, f"http://127.0.0.1:{ENGRAM_PORT}/health"))
        paths: dict[str, Callable[[int], Awaitable[None]]] = {}
        direct = AsyncOpenAI(api_key="bench", base_url=upstream.base_url, max_retries=0)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        engram = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{ENGRAM_PORT}", limits=limits, timeout=60, headers=headers
        )
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
        servers = {"engram": server.pid}  # whose CPU time each path's requests cost
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
            proxy_process = await stack.enter_async_context(
                child(cmd, f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", env)
            )
            servers["litellm"] = proxy_process.pid
            proxy = AsyncOpenAI(api_key=key, base_url=f"http://127.0.0.1:{LITELLM_PORT}", max_retries=0)

            async def via_litellm(i: int) -> None:
                await proxy.chat.completions.create(
                    model="gpt-5-chat", messages=[{"role": "user", "content": f"question {i}"}]
                )

            paths["litellm"] = via_litellm

        for call in paths.values():  # warm-up every path
            await measure(call, 20, 1)
        spy = await start_profiler(profile, server.pid) if profile else None
        backend = "postgresql" if database else "sqlite"
        print(f"backend: {backend}  features: {', '.join(features) or 'none'}  cores: {os.cpu_count()}")
        print(f"load average before: {os.getloadavg()}")
        print(
            f"{'mode':<14}{'path':<10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}{'cpu ms/req':>12}"
        )
        for label, concurrency, count in (("sequential", 1, n), ("concurrency32", 32, n * 2)):
            latencies: dict[str, list[float]] = {name: [] for name in paths}
            elapsed = dict.fromkeys(paths, 0.0)
            cpu = dict.fromkeys(paths, 0.0)
            for _ in range(ROUNDS):  # interleaved, so a load change hits every path alike
                for name, call in paths.items():
                    before = cpu_seconds(servers[name]) if name in servers else 0.0
                    lat, seconds = await measure(call, count // ROUNDS, concurrency)
                    cpu[name] += (cpu_seconds(servers[name]) - before) if name in servers else 0.0
                    latencies[name] += lat
                    elapsed[name] += seconds
            for name, lat in latencies.items():
                figures = f"{pct(lat, 50):>9.2f}{pct(lat, 95):>9.2f}{pct(lat, 99):>9.2f}"
                per_request = f"{1000 * cpu[name] / len(lat):>12.2f}" if name in servers else ""
                print(f"{label:<14}{name:<10}{figures}{len(lat) / elapsed[name]:>9.1f}{per_request}")
            base = latencies["direct"]
            for name in [p for p in paths if p != "direct"]:
                ours = latencies[name]
                print(
                    f"{label:<14}{'+' + name:<10}{pct(ours, 50) - pct(base, 50):>9.2f}"
                    f"{pct(ours, 95) - pct(base, 95):>9.2f}{pct(ours, 99) - pct(base, 99):>9.2f}"
                    f"   (mean added {statistics.mean(ours) - statistics.mean(base):.2f} ms)"
                )
        print(f"load average after: {os.getloadavg()}")
        print(f"failed requests: {FAILURES or 'none'}")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await spy.wait()
            print(f"profile of the Engram process (py-spy, collapsed stacks): {profile}/engram.txt")
        health = (await engram.get("/health")).json()
        print(f"engram /health: {health['status']}  limiter: {health.get('limiter')}")
        await engram.aclose()
        await direct.close()
        if "redis" in features:
            await _drop_prefix(redis_url, redis_prefix)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants so far (Linux /proc).

    The proxy's own CPU per request does not depend on what else the machine runs, unlike latency
    and throughput on a shared two-core machine: 1000 / (cpu ms per request) is the request rate one
    process could reach on one free core.
    """
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, total = {pid}, 0.0
    grew = True
    while grew:
        grew = False
        for child_pid, (parent, _) in stats.items():
            if parent in tree and child_pid not in tree:
                tree.add(child_pid)
                grew = True
    for member in tree:
        total += stats.get(member, (0, 0.0))[1]
    return total


async def start_profiler(directory: str, pid: int) -> asyncio.subprocess.Process:
    """py-spy sampling the Engram process (collapsed stacks, idle frames left out) until SIGINT."""
    os.makedirs(directory, exist_ok=True)
    py_spy = Path(sys.executable).parent / "py-spy"
    return await asyncio.create_subprocess_exec(
        str(py_spy), "record", "--format", "raw", "--rate", "200", "--nonblocking",
        "-o", str(Path(directory) / "engram.txt"), "--pid", str(pid),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _drop_prefix(url: str, prefix: str) -> None:
    """Delete the run's keys (only its own prefix: the Redis may be shared)."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=f"{{{prefix}}}*", count=500):
            await client.delete(key)
    finally:
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--requests", type=int, default=300, help="sequential requests (x2 at concurrency 32)"
    )
    parser.add_argument("--audit", action="store_true", help="turn the audit trail on (as production)")
    parser.add_argument("--encryption", action="store_true", help="encrypt transcripts (ENCRYPTION_KEY)")
    parser.add_argument("--entra", action="store_true", help="Entra JWT validation against a local JWKS")
    parser.add_argument("--metering", action="store_true", help="usage metering on (as production)")
    parser.add_argument("--redis-url", help=f"the Redis limiter on this Redis (production: {LOCAL_REDIS})")
    parser.add_argument("--production", action="store_true", help="all of: " + ", ".join(PRODUCTION))
    parser.add_argument("--database-url", help="a PostgreSQL server URL; a throwaway database is used")
    parser.add_argument("--litellm", help="a `litellm` executable (throwaway venv) to measure too")
    parser.add_argument("--profile", help="sample the Engram process with py-spy into this directory")
    parser.add_argument(
        "--serve", nargs=3, metavar=("UPSTREAM", "DATA_DIR", "SETTINGS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], args.database_url, args.serve[2])
    else:
        chosen = [f for f in ("audit", "encryption", "entra", "metering") if getattr(args, f)]
        chosen += ["redis"] if args.redis_url else []
        database_url = args.database_url
        if args.production:
            chosen = [f for f in PRODUCTION if f != "postgres"]
            database_url = database_url or LOCAL_POSTGRES
        asyncio.run(
            main(
                args.requests, chosen, database_url, args.redis_url or LOCAL_REDIS, args.litellm, args.profile
            )
        )
