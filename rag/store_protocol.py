"""What the query path needs from an index, whichever engine holds it (FAISS files, Milvus)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.chunking import ChunkerSettings
from rag.index_store import SentenceRecord
from rag.ingest import SkippedFile
from rag.sentence_search import SentenceScores
from rag.types import Chunk


class Store(Protocol):
    """A loaded index: records in memory, searches answered by the engine."""

    manifest: dict  # format_version, model, dimension, chunker, sources {name: sha256}, ...
    chunks: list[Chunk]  # chunk_id == position in this list
    sentences: list[SentenceRecord]  # sentence row == position
    texts: dict[str, str]  # source name -> full decoded text
    skipped: list[SkippedFile]

    def chunk_search(self, vector: np.ndarray, fetch: int) -> dict[int, float]:
        """Up to ``fetch`` chunk ids -> cosine similarity, best first (dict order)."""
        ...

    def chunk_similarity(self, chunk_id: int, vector: np.ndarray) -> float: ...

    def lexical_search(self, text: str, fetch: int) -> list[tuple[int, float]]:
        """Chunk ids with a positive BM25 score for ``text``, best first, at most ``fetch``."""
        ...

    def sentence_relevance(self, vector: np.ndarray, limit: int) -> SentenceScores:
        """``.ranked``: the ``limit`` most relevant sentence rows; ``.of(rows)``: any rows'."""
        ...


@dataclass(frozen=True)
class IndexSpec:
    """Which documents, where the index lives, and what built it."""

    docs_dir: Path
    index_dir: Path
    model_id: str
    chunker: ChunkerSettings


OpenStore = Callable[[IndexSpec, Embeddings, Callable[[int, int], None] | None], Store]
