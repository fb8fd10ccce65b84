"""Engram -> a real LiteLLM proxy -> the OpenAI double: issue 20 as a new user meets it.

LiteLLM serves its OpenAI-compatible API at `/v1` and takes its master key as `Authorization: Bearer`;
Engram is configured the way README says (`AZURE_AI_ENDPOINT=http://<host>:<port>/v1`,
`AZURE_AI_KEY_HEADER=authorization`). Checked: a reply, a streamed reply, both read back through the
memory API, the upstream call LiteLLM made; and the failures a user gets wrong (the old `/openai/v1`
suffix, an unknown model, a wrong key), each naming the path and the setting, never the key.

LiteLLM is heavy (its proxy extra pulls in ~750 MB), so it lives in its own virtualenv, `.venv-litellm`,
which `make test` builds once from PyPI (`make litellm-venv`, version pinned in the Makefile);
ENGRAM_LITELLM may name another `litellm` executable. Without it the tests skip with the reason
locally and fail under CI, so a green CI run always ran them. The proxy runs offline: the bundled
model-cost map, no telemetry, no database.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.app.chat.helpers import running, sse_events
from tests.conftest import make_settings
from tests.doubles.openai_server import OpenAIDouble
from tests.e2e.harness import LoopThread, free_port

pytestmark = pytest.mark.litellm

ROOT = Path(__file__).resolve().parents[3]
UPSTREAM_KEY = "sk-upstream-5e1b"
MODEL = "gpt-test"
#: LiteLLM imports a lot before it listens (about 12 s on two cores).
STARTUP_TIMEOUT_S = 120.0


def litellm_executable() -> Path | None:
    configured = os.environ.get("ENGRAM_LITELLM")
    path = Path(configured) if configured else ROOT / ".venv-litellm" / "bin" / "litellm"
    return path if path.is_file() and os.access(path, os.X_OK) else None


@dataclass
class Chain:
    upstream: OpenAIDouble
    url: str  # LiteLLM's base, e.g. http://127.0.0.1:<port>
    master_key: str


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    executable = litellm_executable()
    if executable is None:
        reason = "LiteLLM is not installed: `make litellm-venv` builds .venv-litellm (or set ENGRAM_LITELLM)"
        if os.environ.get("CI"):
            pytest.fail(f"prerequisite missing in CI: {reason}")
        pytest.skip(reason)
    loop = LoopThread()
    upstream = OpenAIDouble("/v1", key=UPSTREAM_KEY, key_header="authorization")
    loop.run(upstream.__aenter__())
    directory = tmp_path_factory.mktemp("litellm")
    config = directory / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {upstream.base_url}\n"
        f"      api_key: {UPSTREAM_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    port, master_key = free_port(), f"sk-master-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOG": "ERROR",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch the cost map from the internet
        "DISABLE_SCHEMA_UPDATE": "true",
    }
    env.pop("DATABASE_URL", None)
    log_path = directory / "litellm.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
            [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_live(url, process, log_path)
        yield Chain(upstream=upstream, url=url, master_key=master_key)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        loop.run(upstream.__aexit__())
        loop.stop()


def _wait_until_live(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"LiteLLM exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            httpx.get(f"{url}/health/liveliness", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail(f"LiteLLM did not listen within {STARTUP_TIMEOUT_S:g} s:\n{log_path.read_text()[-2000:]}")


def through_litellm(tmp_path: Path, chain: Chain, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "azure_ai_endpoint": f"{chain.url}/v1",
        "azure_ai_key": chain.master_key,
        "azure_ai_key_header": "authorization",
        "azure_ai_deployment": MODEL,
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


async def test_chat_and_stream_through_litellm_land_in_memory(tmp_path: Path, chain: Chain) -> None:
    seen = len(chain.upstream.requests)
    async with running(through_litellm(tmp_path, chain)) as (_, client):
        reply = await client.post(
            "/api/v1/chat", json={"content": "What is a user story?", "session_id": "ll-1"}
        )
        streamed = await client.post(
            "/api/v1/chat/stream", json={"content": "Plan it", "agent_id": "marcus", "session_id": "ll-1"}
        )
        episode = await client.get("/api/v1/memory/episodes/ll-1")
    assert reply.status_code == 200, reply.text
    assert reply.json()["content"].endswith("to: What is a user story?")
    assert streamed.status_code == 200, streamed.text
    events = sse_events(streamed.text)
    deltas = "".join(data["content"] for name, data in events if name == "delta")
    assert events[-1][0] == "done" and events[-1][1]["content"] == deltas
    assert deltas.endswith("to: Plan it") and len([e for e in events if e[0] == "delta"]) > 1
    assert episode.status_code == 200
    turns = [(t["role"], t["metadata"]["agent_id"], t["content"]) for t in episode.json()["transcript"]]
    assert turns == [
        ("user", "elena", "What is a user story?"),
        ("assistant", "elena", reply.json()["content"]),
        ("user", "marcus", "Plan it"),
        ("assistant", "marcus", deltas),
    ]
    calls = chain.upstream.requests[seen:]
    assert [c.body["model"] for c in calls] == [MODEL, MODEL]
    assert all(c.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}" for c in calls)
    assert calls[1].body.get("stream") is True
    assert calls[1].messages[-1] == {"role": "user", "content": "Plan it"}


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        # issue 20: the path LiteLLM does not serve, as the old completion rule built it
        (
            {"azure_ai_endpoint": "{url}/v1/openai/v1"},
            ["POST /v1/openai/v1/chat/completions", "AZURE_AI_ENDPOINT"],
        ),
        ({"azure_ai_deployment": "no-such-model"}, ["'no-such-model'", "AZURE_AI_DEPLOYMENT"]),
        (
            {"azure_ai_key": "sk-wrong-key-0000"},
            ["refused the call (upstream 400", "AZURE_AI_KEY_HEADER", "Authorization: Bearer"],
        ),
    ],
    ids=["old-openai-v1-suffix", "unknown-model", "wrong-key"],
)
async def test_litellm_failures_name_the_path_and_the_setting(
    tmp_path: Path, chain: Chain, overrides: dict[str, str], names: list[str]
) -> None:
    values = {k: v.format(url=chain.url) for k, v in overrides.items()}
    async with running(through_litellm(tmp_path, chain, **values)) as (_, client):
        response = await client.post("/api/v1/chat", json={"content": "hi"})
        streamed = await client.post("/api/v1/chat/stream", json={"content": "hi"})
    for answer in (response, streamed):
        assert answer.status_code == 502, answer.text
        detail = answer.json()["detail"]
        assert all(name in detail for name in names), detail
        assert "/chat/completions" in detail
        assert chain.master_key not in answer.text and "sk-wrong-key-0000" not in answer.text
