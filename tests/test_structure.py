"""The package's shape: the scoring code stays light, and the front ends share one core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rag.config import PROJECT_ROOT, Settings


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_answer_scoring_imports_neither_faiss_nor_langchain() -> None:
    loaded = _modules_after("import rag.answering, rag.question, rag.types, rag.config")
    assert "rag.answering" in loaded
    heavy = {m for m in loaded if m.split(".")[0] in {"faiss", "langchain_core", "langchain",
                                                       "torch", "bm25s", "gradio"}}
    assert not heavy, sorted(heavy)


def test_settings_come_from_the_environment_once_and_flags_override_them(tmp_path) -> None:
    env = {"RAG_DOCS_DIR": str(tmp_path / "docs"), "RAG_PORT": "8123", "RAG_AUTH": "u:p",
           "RAG_MAX_QUESTION_CHARS": "80"}
    settings = Settings.from_env(env)
    assert settings.documents.docs_dir == tmp_path / "docs"
    assert settings.server.port == 8123 and settings.server.auth == ("u", "p")
    assert settings.answering.max_question_chars == 80 and settings.llm is None
    moved = settings.override(docs_dir=tmp_path / "other", port=9000)
    assert moved.documents.docs_dir == tmp_path / "other" and moved.server.port == 9000
    assert moved.server.auth == ("u", "p")  # the rest is kept
    assert settings.documents.docs_dir == tmp_path / "docs"  # the original is unchanged


def test_console_script_and_module_are_the_same_cli() -> None:
    script = str(Path(sys.executable).parent / "rag")  # installed by pyproject's [project.scripts]
    for command in ([sys.executable, "-m", "rag", "--help"], [script, "--help"]):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for name in ("index", "ask", "eval", "serve", "add", "remove", "list"):
            assert name in out
        assert "``" not in out  # plain text, no reStructuredText
