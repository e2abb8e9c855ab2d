"""Shared, real components: the bundled model and an index over ``seeds/``, loaded once."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings

if str(PROJECT_ROOT) not in sys.path:  # `benchmarks` is a folder of the repo, not installed
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.app_process import AppStartError, app_env, running_app  # noqa: E402

# gradio_client reports usage to a server on start-up unless told not to; tests stay offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

SEED = PROJECT_ROOT / "seeds" / "000_12477834bc4718d4.txt"


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default model cache (converted once per machine); a private index folder."""
    return Settings().override(
        embed_model="bundled",
        docs_dir=PROJECT_ROOT / "seeds",
        index_dir=tmp_path_factory.mktemp("index"),
        llm=None,  # extractive answers, whatever RAG_LLM_* says
    )


@pytest.fixture(scope="session")
def embeddings(settings: Settings):  # noqa: ANN201 - HuggingFaceEmbeddings
    from rag.embeddings import load_embeddings

    return load_embeddings(settings.model)


@pytest.fixture(scope="session")
def pipeline(settings: Settings, embeddings):  # noqa: ANN001, ANN201
    from rag.pipeline import Pipeline

    return Pipeline(settings, embeddings=embeddings)


@pytest.fixture(scope="session")
def hailar_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One corpus report (2012 reviewed, 2013 planned) in a folder and index of its own,
    shared by the modules that answer from it with different scorers."""
    docs = tmp_path_factory.mktemp("hailar_docs")
    name = "hailar_2013_district.txt"
    (docs / name).write_bytes((PROJECT_ROOT / "evals" / "corpus" / name).read_bytes())
    index_dir = tmp_path_factory.mktemp("hailar_index")
    return Settings().override(docs_dir=docs, index_dir=index_dir, llm=None)


def one_text_pipeline(folder: Path, embeddings, text: str):  # noqa: ANN001, ANN201
    """A pipeline over one small document written for a test, with its own index."""
    from rag.pipeline import Pipeline

    docs = folder / "docs"
    docs.mkdir()
    (docs / "doc.txt").write_text(text, encoding="utf-8")
    settings = Settings().override(docs_dir=docs, index_dir=folder / "index", llm=None)
    return Pipeline(settings, embeddings=embeddings)


def copy_seeds(target: Path) -> Path:
    """A private documents folder holding the seed report."""
    target.mkdir(parents=True, exist_ok=True)
    (target / SEED.name).write_bytes(SEED.read_bytes())
    return target


# --- The running chat app (tests/test_ui_*.py) --------------------------------------------

UI_START_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def ui_server(settings: Settings, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """``app.py`` in a subprocess on a free port, ready to answer; yields its URL.

    It uses the same documents, model and private index folder as the other
    tests, and is stopped at the end of the session.
    """
    env = app_env(
        RAG_DOCS_DIR=str(settings.documents.docs_dir),
        RAG_INDEX_DIR=str(settings.store.index_dir),
        RAG_EMBED_MODEL=settings.model.name,
    )
    log_path = tmp_path_factory.mktemp("ui_server") / "app.log"
    try:
        with running_app(env, log_path, UI_START_TIMEOUT_S) as app:
            app.wait_ready(UI_START_TIMEOUT_S - (time.time() - app.started))
            yield app.url
    except AppStartError as exc:
        pytest.fail(str(exc))
