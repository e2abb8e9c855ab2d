"""Slow down password guessing: after 5 failed logins from one address, exponential back-off.

Gradio's ``auth`` callable is not told who is asking, so this is an ASGI
middleware on ``POST /login``: it watches each attempt's answer (200 = logged
in, 400 = wrong credentials) and, once an address has failed ``free_failures``
times in a row, refuses its further attempts with 429 and ``Retry-After`` for
1 s, then 2, 4, … up to 60 s after each further failure. A success clears the
count. One attempt at a time per address, so parallel guesses are no shortcut.

The address is the TCP peer's, or the one a trusted proxy forwards (uvicorn
honours ``X-Forwarded-For`` from ``FORWARDED_ALLOW_IPS``, by default the loopback).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from rag.http_limits import ASGIApp, Message, Receive, Scope, Send, respond_json

log = logging.getLogger(__name__)

MAX_TRACKED = 10_000  # addresses remembered at most; the oldest quiet ones are forgotten
FORGET_AFTER_S = 3600.0  # a quiet address starts afresh after an hour


@dataclass
class _Client:
    failures: int = 0
    blocked_until: float = 0.0
    last_seen: float = 0.0
    in_flight: bool = False


class LoginThrottle:
    """ASGI middleware: back-off on ``POST …/login`` per client address."""

    def __init__(
        self,
        app: ASGIApp,
        free_failures: int = 5,
        first_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.free_failures = free_failures
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.clock = clock
        self._clients: dict[str, _Client] = {}

    def delay_after(self, failures: int) -> float:
        """Seconds an address must wait after ``failures`` failures in a row."""
        if failures < self.free_failures:
            return 0.0
        return min(self.first_delay_s * 2 ** (failures - self.free_failures), self.max_delay_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_login(scope):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        now = self.clock()
        client = self._client(address, now)
        if client.in_flight or now < client.blocked_until:
            wait = max(1, math.ceil(client.blocked_until - now))
            await respond_json(
                send,
                429,
                f"Too many failed logins; try again in {wait} s.",
                [(b"retry-after", str(wait).encode())],
            )
            return
        status = 0

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        client.in_flight = True
        try:
            await self.app(scope, receive, watched_send)
        finally:
            client.in_flight = False
            client.last_seen = self.clock()
            if status == 200:
                client.failures, client.blocked_until = 0, 0.0
            elif status in (400, 401):
                client.failures += 1
                client.blocked_until = client.last_seen + self.delay_after(client.failures)
                if client.failures >= self.free_failures:
                    log.warning("%d failed logins in a row from %s", client.failures, address)

    def _client(self, address: str, now: float) -> _Client:
        client = self._clients.get(address)
        if client is not None and not client.in_flight and now - client.last_seen > FORGET_AFTER_S:
            client = None  # quiet for long enough: a fresh start
        if client is None:
            if len(self._clients) >= MAX_TRACKED:
                self._forget_oldest(now)
            client = self._clients[address] = _Client(last_seen=now)
        return client

    def _forget_oldest(self, now: float) -> None:
        """Drop addresses that are not blocked, oldest first, down to 90 % of the cap."""
        idle = sorted(
            (c.last_seen, a)
            for a, c in self._clients.items()
            if not c.in_flight and c.blocked_until <= now
        )
        for _, address in idle[: max(1, len(self._clients) - MAX_TRACKED * 9 // 10)]:
            del self._clients[address]


def _is_login(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope.get("method") == "POST"
        and scope.get("path", "").rstrip("/").endswith("/login")
    )
