"""The default store: one machine's FAISS index, NumPy sentence vectors and in-process BM25.

It serves :class:`rag.store.base.Store` over a :class:`rag.store.layout.LoadedIndex`;
:func:`open_store` loads the live build, first bringing it up to date with the
documents (see :mod:`rag.store.build`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.store.base import IndexSpec, Progress
from rag.store.build import build, ensure_index
from rag.store.layout import LoadedIndex
from rag.store.lexical import LexicalIndex
from rag.store.sentence_search import SentenceScores, SentenceSearch, top_indices


class FaissStore:
    """A loaded FAISS build; chunk ids equal FAISS row numbers."""

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index
        self.manifest = index.manifest
        self.chunks = index.chunks
        self.sentences = index.sentences
        self.texts = index.texts
        self.ocr_lines = index.ocr_lines
        self.skipped = index.skipped
        self.warning = index.warning
        self.location = str(index.path)
        self._lexical = LexicalIndex([f"{c.section} {c.text}" for c in self.chunks])
        self._sentences = SentenceSearch(
            index.sentence_vectors, index.clause_vectors, index.clause_owners, index.sentence_ann
        )
        self._chunks_of = _rows_by_source(c.source for c in self.chunks)
        self._sentences_of = _rows_by_source(s.source for s in self.sentences)

    def chunk_search(
        self, vector: np.ndarray, fetch: int, source: str | None = None
    ) -> dict[int, float]:
        vector = np.asarray(vector, np.float32)
        if source is not None:  # one document's chunks are few: score them all, exactly
            ids = self._chunks_of.get(source, _NONE)
            scores = self.index.chunk_index.reconstruct_batch(ids) @ vector if len(ids) else _NONE
            return {int(ids[i]): float(scores[i]) for i in top_indices(scores, fetch)}
        scores, ids = self.index.chunk_index.search(vector.reshape(1, -1), fetch)
        return {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}

    def chunk_similarity(self, chunk_id: int, vector: np.ndarray) -> float:
        return float(self.index.chunk_index.reconstruct(chunk_id) @ vector)

    def lexical_search(
        self, text: str, fetch: int, source: str | None = None
    ) -> list[tuple[int, float]]:
        scores = self._lexical.scores(text)
        if source is not None:
            ids = self._chunks_of.get(source, _NONE)
            kept = np.zeros_like(scores)
            kept[ids] = scores[ids]
            scores = kept
        return [(int(i), float(scores[i])) for i in top_indices(scores, fetch) if scores[i] > 0]

    def sentence_relevance(
        self, vector: np.ndarray, limit: int, source: str | None = None
    ) -> SentenceScores:
        rows = None if source is None else self._sentences_of.get(source, _NONE)
        return self._sentences.relevance(vector, limit, rows)


_NONE = np.zeros(0, np.int64)


def _rows_by_source(sources: Iterable[str]) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for row, source in enumerate(sources):
        rows.setdefault(source, []).append(row)
    return {source: np.asarray(ids, np.int64) for source, ids in rows.items()}


def open_store(
    spec: IndexSpec,
    embeddings: Embeddings,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> FaissStore:
    """The live FAISS build for ``spec``, built (anew, every file read again, with
    ``rebuild``) or refreshed first when needed."""
    if rebuild:
        build(spec, embeddings, progress, reread=True)
    return FaissStore(ensure_index(spec, embeddings, progress))
