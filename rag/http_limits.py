"""Limits at the door of the web app: request-body size, upload size, temp files, FastAPI's schema.

Gradio reads a request's whole body before it checks the login or the
question's length, so six 100 MB "questions" once grew the server by 5 GB.
:class:`BodyLimit` is an ASGI middleware in front of every route (and so of the
login check): a declared ``Content-Length`` over the limit is refused with 413
before a byte of the body is read, and a streamed body is counted and cut off
at the limit. :func:`launch_limits` gathers all of it as ``launch()`` arguments.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_REQUEST_BYTES = 1 << 20  # questions and API calls: a question is ≤ 500 characters
MULTIPART_ALLOWANCE = 1 << 16  # an upload's form headers around the file itself
UPLOAD_CACHE = (1800, 3600)  # Gradio's temp files: every 30 min, delete those over an hour old


def max_request_bytes(env: MutableMapping[str, str] | None = None) -> int:
    """``RAG_MAX_REQUEST_BYTES`` (default 1 MiB); a bad value raises with a one-line message."""
    raw = ((os.environ if env is None else env).get("RAG_MAX_REQUEST_BYTES") or "").strip()
    if not raw:
        return DEFAULT_MAX_REQUEST_BYTES
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"RAG_MAX_REQUEST_BYTES={raw!r} must be a positive number of bytes")
    return int(raw)


def launch_limits(max_upload_bytes: int, max_body_bytes: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch()``: upload cap, body cap, login throttle.

    FastAPI's own ``/openapi.json`` is turned off: it answered without a login
    (Gradio's ``/gradio_api/openapi.json`` needs one).
    """
    from starlette.middleware import Middleware

    from rag.login_throttle import LoginThrottle

    body = max_request_bytes() if max_body_bytes is None else max_body_bytes
    upload = max_upload_bytes + MULTIPART_ALLOWANCE
    return {
        "max_file_size": max_upload_bytes,
        "app_kwargs": {
            "openapi_url": None,
            "middleware": [
                Middleware(BodyLimit, max_bytes=body, upload_bytes=upload),  # outermost
                Middleware(LoginThrottle),
            ],
        },
    }


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (``upload_bytes`` for Gradio's upload route)."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    def limit_for(self, path: str) -> int:
        return self.upload_bytes if path.rstrip("/").endswith("/upload") else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await respond_json(send, 400, "Content-Length is not a number.")
                return
            if int(declared) > limit:
                await _refuse(send, limit)
                return
        received = 0
        refused = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(send, limit)
                    return {"type": "http.disconnect"}  # the app stops reading here
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # we have answered already; whatever the app says after is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise  # a real error; a cut-off body's aftermath is not


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


async def _refuse(send: Send, limit: int) -> None:
    """413, and the connection closed: the rest of the body is never read, not even to discard."""
    await respond_json(
        send,
        413,
        f"Request body too large: the limit is {limit:,} bytes "
        "(RAG_MAX_REQUEST_BYTES for API calls; uploads: the file size limit).",
        [(b"connection", b"close")],
    )


async def respond_json(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete JSON response ``{"detail": …}``, as FastAPI words its errors."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
