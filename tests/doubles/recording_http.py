"""A loopback HTTP server that records every request and answers canned JSON per path.

Stands in for an OTLP/HTTP collector (records the protobuf bodies) and for an OpenAI-compatible
gateway (answers a chat completion), so the real SDKs and exporters run unchanged in tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    url: str
    replies: dict[str, Any]
    requests: list[Recorded] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, path: str, timeout: float = 10.0) -> list[Recorded]:
        """Requests to `path`, waiting (on arrival, not on a clock) until at least one came."""
        with self.arrived:
            self.arrived.wait_for(lambda: any(r.path == path for r in self.requests), timeout=timeout)
            return [r for r in self.requests if r.path == path]


@contextmanager
def recording_server(replies: dict[str, Any] | None = None) -> Iterator[RecordingServer]:
    """Serve on 127.0.0.1:<free port>; unknown paths get `{}` (what an OTLP receiver answers)."""
    state = RecordingServer(url="", replies=dict(replies or {}))

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            with state.arrived:
                state.requests.append(
                    Recorded(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                state.arrived.notify_all()
            payload = json.dumps(state.replies.get(path, {})).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _handle  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def chat_completion(content: str = "hello") -> dict[str, Any]:
    """The smallest body the openai SDK accepts as a chat completion."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-5-chat",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
