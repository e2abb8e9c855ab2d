"""Shared, real components: the bundled model and an index over ``seeds/``, loaded once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings

# gradio_client reports usage to a server on start-up unless told not to; tests stay offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

SEED = PROJECT_ROOT / "seeds" / "000_12477834bc4718d4.txt"


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default model cache (converted once per machine); a private index folder."""
    return Settings(
        embed_model="bundled",
        docs_dir=PROJECT_ROOT / "seeds",
        index_dir=tmp_path_factory.mktemp("index"),
        llm=None,  # extractive answers, whatever RAG_LLM_* says
    )


@pytest.fixture(scope="session")
def embeddings(settings: Settings):  # noqa: ANN201 - HuggingFaceEmbeddings
    from rag.embeddings import load_embeddings

    return load_embeddings(settings)


@pytest.fixture(scope="session")
def pipeline(settings: Settings, embeddings):  # noqa: ANN001, ANN201
    from rag.pipeline import Pipeline

    return Pipeline(settings, embeddings=embeddings)


def copy_seeds(target: Path) -> Path:
    """A private documents folder holding the seed report."""
    target.mkdir(parents=True, exist_ok=True)
    (target / SEED.name).write_bytes(SEED.read_bytes())
    return target


# --- The running chat app (tests/test_ui_*.py) --------------------------------------------

UI_START_TIMEOUT_S = 180.0


def _free_port() -> int:
    """A loopback port nobody listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def ui_server(settings: Settings, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """``app.py`` in a subprocess on a free port, ready to answer; yields its URL.

    It uses the same documents, model and private index folder as the other
    tests, and is stopped at the end of the session.
    """
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp_path_factory.mktemp("ui_server") / "app.log"
    env = {
        **os.environ,
        "RAG_DOCS_DIR": str(settings.docs_dir),
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_EMBED_MODEL": settings.embed_model,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("RAG_AUTH", None)
    for name in ("RAG_LLM_BASE_URL", "RAG_LLM_MODEL", "RAG_LLM_API_KEY"):
        env.pop(name, None)
    command = [sys.executable, str(PROJECT_ROOT / "app.py"), "--host", "127.0.0.1"]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + UI_START_TIMEOUT_S
        while True:  # the HTTP port answers
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer on {url}:\n{_log_tail(log_path)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)

        from gradio_client import Client

        # /status waits for the model and the index, so this returns once the app is ready.
        job = Client(url, verbose=False).submit(api_name="/status")
        status = job.result(timeout=max(1.0, deadline - time.monotonic()))
        if not status.get("ready"):
            pytest.fail(f"app.py is up but not ready ({status}):\n{_log_tail(log_path)}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
