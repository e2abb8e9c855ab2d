"""Cited question answering over Chinese government work reports.

``from rag import query`` stays cheap: the model and index load on the first call.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.types import Answer, Chunk, Citation

__all__ = ["Answer", "Chunk", "Citation", "query", "warm_up"]


def query(question: str, history: Sequence[str] = (), source: str | None = None) -> Answer:
    """Answer ``question`` from the indexed documents, citing the passages used.

    ``history`` holds the user's earlier questions (oldest first) so that a
    follow-up such as "那疫苗接种呢？" is read in context; ``source`` limits the
    search to one document.
    """
    from rag.pipeline import default_pipeline

    return default_pipeline().query(question, history=history, source=source)


def warm_up() -> None:
    """Load the model and the index now rather than on the first question."""
    from rag.pipeline import default_pipeline

    default_pipeline()
