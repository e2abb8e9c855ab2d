"""Settings, read from the environment so the app, the CLI and the tests agree.

Every setting has a ``RAG_*`` environment variable; the CLI flags override them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.llm.settings import LLMSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Settings:
    """Where things live and which model embeds them."""

    embed_model: str = field(
        default_factory=lambda: os.environ.get("RAG_EMBED_MODEL", "") or "bundled"
    )
    docs_dir: Path = field(
        default_factory=lambda: _env_path("RAG_DOCS_DIR", PROJECT_ROOT / "seeds")
    )
    index_dir: Path = field(
        default_factory=lambda: _env_path("RAG_INDEX_DIR", PROJECT_ROOT / "index")
    )
    cache_dir: Path = field(
        default_factory=lambda: _env_path("RAG_CACHE_DIR", PROJECT_ROOT / ".cache")
    )
    max_question_chars: int = field(
        default_factory=lambda: int(os.environ.get("RAG_MAX_QUESTION_CHARS", "500"))
    )
    # RAG_LLM_BASE_URL + RAG_LLM_MODEL (+ RAG_LLM_API_KEY, RAG_LLM_TIMEOUT): LLM answers.
    llm: LLMSettings | None = field(default_factory=LLMSettings.from_env)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
