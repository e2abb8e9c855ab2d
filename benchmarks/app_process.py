"""``app.py`` in a subprocess: start it on a free port, wait until it answers, stop it.

The benchmarks and the tests all serve the real app this way. Its output goes to
a log file whose tail is in every start-up error.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STOP_TIMEOUT_S = 20.0
_QUIET = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}


class AppStartError(RuntimeError):
    """``app.py`` exited, or did not answer in time; the message ends with its log."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def app_env(**overrides: str) -> dict[str, str]:
    """This process's environment without a login or an LLM, plus ``overrides``."""
    env = {**os.environ, **_QUIET, "PYTHONUNBUFFERED": "1"}
    for name in ("RAG_AUTH", "RAG_LLM_BASE_URL", "RAG_LLM_MODEL", "RAG_LLM_API_KEY"):
        env.pop(name, None)
    return env | overrides


@contextmanager
def quiet_clients() -> Iterator[None]:
    """gradio_client sends start-up telemetry unless told not to."""
    saved = {k: os.environ.get(k) for k in _QUIET}
    os.environ.update(_QUIET)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_client(url: str) -> Any:
    """A quiet ``gradio_client.Client`` for ``url``."""
    from gradio_client import Client

    with quiet_clients():
        return Client(url, verbose=False)


@dataclass(frozen=True)
class RunningApp:
    url: str  # ends with "/"
    port: int
    proc: subprocess.Popen
    log_path: Path
    started: float  # time.time() just before the launch
    seconds_to_http: float  # launch → the page answers

    def wait_ready(self, timeout_s: float) -> dict:
        """Until ``/status`` says the model and the index are loaded; returns the status."""
        deadline = time.time() + timeout_s
        client = make_client(self.url)
        try:
            while True:  # /status answers at once while loading, so poll it
                left = max(1.0, deadline - time.time())
                status = client.submit(api_name="/status").result(timeout=left)
                if not status.get("loading") or time.time() > deadline:
                    break
                time.sleep(0.2)
        finally:
            client.close()
        if not status.get("ready"):
            tail = log_tail(self.log_path)
            raise AppStartError(f"app.py is up but not ready ({status}):\n{tail}")
        return status


@contextmanager
def running_app(
    env: Mapping[str, str], log_path: Path, timeout_s: float, host: str | None = HOST
) -> Iterator[RunningApp]:
    """``app.py`` on a free port, once its page answers (the model may still be loading:
    see :meth:`RunningApp.wait_ready`); stopped on exit. ``host=None`` passes no
    ``--host``, to test the app's own default."""
    port = free_port()
    url = f"http://{HOST}:{port}/"
    command = [sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port)]
    if host:
        command += ["--host", host]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=dict(env), stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = started + timeout_s
        while True:
            if proc.poll() is not None:
                raise AppStartError(f"app.py exited with {proc.returncode}:\n{log_tail(log_path)}")
            if time.time() > deadline:
                raise AppStartError(f"app.py did not answer on {url}:\n{log_tail(log_path)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        yield RunningApp(url, port, proc, log_path, started, time.time() - started)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
