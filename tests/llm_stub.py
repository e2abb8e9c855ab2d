"""A stand-in OpenAI-compatible chat endpoint on loopback, for driving the real client.

``POST /v1/chat/completions`` answers with the canned ``reply``, streamed as
server-sent events (``data: {...}`` chunks, then ``data: [DONE]``) when the
request asks for ``stream: true``, as one JSON body otherwise. A test can make
it wait before answering (``delay``) or between chunks (``chunk_delay``), or
fail with an HTTP ``status``. Every request body is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubLLM:
    """The stub server, running in a daemon thread on ``127.0.0.1`` and a free port."""

    def __init__(self, reply: str = "", *, chunk_chars: int = 4) -> None:
        self.reply = reply
        self.status = 200
        self.delay = 0.0  # seconds before the response starts
        self.chunk_delay = 0.0  # seconds between streamed chunks
        self.chunk_chars = chunk_chars
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()  # cuts sleeps short when the stub closes
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def set(self, reply: str | None = None, **options: float) -> StubLLM:
        """Change the canned reply and any of ``status``, ``delay``, ``chunk_delay``."""
        if reply is not None:
            self.reply = reply
        for name, value in options.items():
            if name not in {"status", "delay", "chunk_delay"}:
                raise TypeError(f"unknown stub option {name!r}")
            setattr(self, name, value)
        return self

    def prompt_text(self, index: int = -1) -> str:
        """All message contents of one request, joined (the last request by default)."""
        messages = self.requests[index].get("messages", [])
        return "\n".join(str(m.get("content", "")) for m in messages)

    def start(self) -> StubLLM:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StubLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pieces(self) -> list[str]:
        text, n = self.reply, max(1, self.chunk_chars)
        return [text[i : i + n] for i in range(0, len(text), n)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection; a stream ends at close

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # keep the test output clean

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._json(400, {"error": {"message": "bad JSON", "type": "invalid"}})
                    return
                stub.requests.append(request)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found", "type": "not_found"}})
                    return
                if stub.delay and stub._stop.wait(stub.delay):
                    return
                if stub.status != 200:
                    self._json(
                        stub.status,
                        {"error": {"message": "stub failure", "type": "server_error"}},
                    )
                    return
                base = {
                    "id": "chatcmpl-stub",
                    "created": int(time.time()),
                    "model": request.get("model", "stub"),
                }
                if not request.get("stream"):
                    self._json(
                        200,
                        {
                            **base,
                            "object": "chat.completion",
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": stub.reply},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": 1,
                                "completion_tokens": 1,
                                "total_tokens": 2,
                            },
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                deltas = [{"role": "assistant", "content": ""}]
                deltas += [{"content": piece} for piece in stub._pieces()]
                try:
                    for i, delta in enumerate(deltas):
                        if i > 1 and stub.chunk_delay and stub._stop.wait(stub.chunk_delay):
                            return
                        self._event(base, delta, None)
                    self._event(base, {}, "stop")
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _event(self, base: dict[str, Any], delta: dict[str, Any], finish: str | None):
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

        return Handler
