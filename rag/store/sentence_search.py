"""How well each sentence matches a question, without scoring every one at scale.

A sentence's relevance is the mean of its own cosine and the best of (its own,
its clauses'): whole-sentence meaning, lifted by one matching clause. Scoring
every sentence and clause is a scan that grows with the corpus (8 ms at 100
reports, ~70 ms at 1,000), so a large index carries an approximate index over
sentences and clauses (:func:`rag.store.ann.sentence_ann_for`) that names
candidates, and only they are scored, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faiss
import numpy as np
from threadpoolctl import ThreadpoolController

_FETCH = 8  # approximate hits per sentence wanted: its clauses and near-copies crowd them
# NumPy's BLAS threads spin for a while after a product; they took a core from the
# model embedding the next question. One thread does these memory-bound scans as fast.
_BLAS = ThreadpoolController().select(user_api="blas")


def top_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest ``scores``, best first, without sorting them all."""
    if n >= len(scores):
        return np.argsort(-scores, kind="stable")
    top = np.argpartition(-scores, n)[:n]
    return top[np.argsort(-scores[top], kind="stable")]


@dataclass(frozen=True)
class SentenceScores:
    """One question against the sentences: the best ones, and any one's score on demand."""

    ranked: np.ndarray  # sentence rows, best first
    search: SentenceSearch
    vector: np.ndarray
    every: np.ndarray | None = None  # all rows' relevance, when they were all scanned
    known: dict[int, float] = field(default_factory=dict)  # else those scored so far

    def of(self, rows: list[int]) -> np.ndarray:
        """The relevance of sentences ``rows``."""
        if self.every is not None:
            return self.every[rows]
        missing = [r for r in dict.fromkeys(rows) if r not in self.known]
        if missing:
            self.known.update(self.search.score(missing, self.vector))
        return np.asarray([self.known[r] for r in rows], dtype=np.float32)


class SentenceSearch:
    """Sentence relevance over one index: a full scan when small, ``ann`` candidates when large."""

    def __init__(
        self,
        sentence_vectors: np.ndarray,
        clause_vectors: np.ndarray,
        clause_owners: np.ndarray,
        ann: faiss.Index | None = None,
    ) -> None:
        self.sentence_vectors = sentence_vectors
        self.clause_vectors = clause_vectors
        # Clauses are stored sentence by sentence, so each sentence's clauses are one run.
        self.clause_owners = np.asarray(clause_owners, dtype=np.int64)
        self.ann = ann

    def __len__(self) -> int:
        return len(self.sentence_vectors)

    def relevance(
        self, vector: np.ndarray, limit: int, rows: np.ndarray | None = None
    ) -> SentenceScores:
        """The ``limit`` most relevant sentences for a question's ``vector``, among ``rows``
        (one document's, say) if given."""
        vector = np.asarray(vector, dtype=np.float32)
        if rows is not None:  # scored exactly: one document's sentences are few
            scores = self.score(rows.tolist(), vector) if len(rows) else {}
            ranked = sorted(scores, key=scores.__getitem__, reverse=True)[:limit]
            return SentenceScores(np.asarray(ranked, np.int64), self, vector, known=scores)
        if self.ann is None:
            every = self._scan(vector)
            return SentenceScores(top_indices(every, limit), self, vector, every=every)
        _, rows = self.ann.search(vector.reshape(1, -1), limit * _FETCH)
        n = len(self.sentence_vectors)
        hits = rows[0][rows[0] >= 0]
        owners = np.where(hits < n, hits, self.clause_owners[np.maximum(hits - n, 0)])
        candidates = list(dict.fromkeys(owners.tolist()))
        scores = self.score(candidates, vector)
        ranked = np.asarray(sorted(scores, key=scores.__getitem__, reverse=True)[:limit])
        return SentenceScores(ranked, self, vector, known=scores)

    def _scan(self, vector: np.ndarray) -> np.ndarray:
        with _BLAS.limit(limits=1):
            own = self.sentence_vectors @ vector
            best = own.copy()
            if len(self.clause_vectors):
                np.maximum.at(best, self.clause_owners, self.clause_vectors @ vector)
        return (own + best) / 2

    def score(self, rows: list[int], vector: np.ndarray) -> dict[int, float]:
        """Exact relevance of the sentences ``rows``."""
        ids = np.asarray(rows, dtype=np.int64)
        first = np.searchsorted(self.clause_owners, ids, side="left")
        counts = np.searchsorted(self.clause_owners, ids, side="right") - first
        local = np.repeat(np.arange(len(ids)), counts)  # which of ``ids`` owns each clause
        runs = np.repeat(np.cumsum(counts) - counts, counts)
        clause_rows = np.repeat(first, counts) + np.arange(counts.sum()) - runs
        with _BLAS.limit(limits=1):
            own = self.sentence_vectors[ids] @ vector
            best = own.copy()
            np.maximum.at(best, local, self.clause_vectors[clause_rows] @ vector)
        return dict(zip(rows, ((own + best) / 2).tolist(), strict=True))
