"""Optional arguments for raw HTTP calls of the named API endpoints (``/ask``).

Gradio's ``POST /gradio_api/call/ask`` wants a value for every parameter: a
body of ``{"data": ["question"]}`` fails with "needed: 3, got: 1" although
``history`` and ``source`` have defaults in Python. :class:`ApiDefaults` is an
ASGI middleware that appends the missing trailing defaults to such a body
before Gradio sees it; bodies that already match, or that lack a required
argument, pass unchanged (Gradio then answers as it always did).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from rag.http_limits import ASGIApp, Message, Receive, Scope, Send

_CALL_PATH = re.compile(r"^/gradio_api/(?:call|run|api)/([^/]+)/?$")


def signature_defaults(fn: Callable[..., Any]) -> tuple[int, tuple[Any, ...]]:
    """(number of required parameters, defaults of the optional ones) of ``fn``, ``self`` aside."""
    params = [
        p for p in inspect.signature(fn).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = sum(1 for p in params if p.default is p.empty)
    defaults = tuple(p.default for p in params[required:] if p.default is not p.empty)
    return required, defaults


def padded(body: bytes, required: int, defaults: tuple[Any, ...]) -> bytes | None:
    """``body`` with its ``data`` list completed by ``defaults``; None when it needs no change."""
    try:
        request = json.loads(body)
    except ValueError:
        return None  # not JSON: Gradio refuses it itself
    data = request.get("data") if isinstance(request, dict) else None
    if not isinstance(data, list) or not required <= len(data) < required + len(defaults):
        return None
    request["data"] = data + list(defaults[len(data) - required:])
    return json.dumps(request, ensure_ascii=False).encode()


class ApiDefaults:
    """Fill in the optional arguments of ``endpoints`` (API name → its Python function)."""

    def __init__(self, app: ASGIApp, endpoints: Mapping[str, Callable[..., Any]]) -> None:
        self.app = app
        self.endpoints = {name: signature_defaults(fn) for name, fn in endpoints.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _CALL_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if not match or scope.get("method") != "POST" or match[1] not in self.endpoints:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []  # the body is small: BodyLimit, in front, caps it
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)  # a disconnect
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        new_body = padded(body, *self.endpoints[match[1]])
        if new_body is not None:
            body = new_body
            kept = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then the client's own (a disconnect)."""
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else await then()

    return receive
