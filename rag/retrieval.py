"""Hybrid retrieval: BM25, dense chunks and dense sentences, fused by reciprocal rank.

BM25 catches exact figures and rare names that embeddings blur; the dense side
catches paraphrases and English questions about Chinese text; single sentences
keep the one sentence that answers from being blurred inside a long chunk.
Reciprocal rank fusion needs no score calibration between the three. Works on
any :class:`rag.store.base.Store`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rag.config import RetrievalSettings
from rag.store.base import SentenceRelevance, Store
from rag.types import ScoredChunk


class Retriever:
    """Top chunks for a question over one store.

    ``translate`` adds the documents' words for a question's foreign words, so BM25
    can match an English question against Chinese text; ``embed`` gives a question's
    vector when the caller has none.
    """

    def __init__(
        self,
        store: Store,
        sentence_chunks: Sequence[int],
        embed: Callable[[str], np.ndarray],
        translate: Callable[[str], str] | None = None,
        settings: RetrievalSettings | None = None,
    ) -> None:
        self.store = store
        self.sentence_chunks = sentence_chunks  # chunk id per sentence row; -1 leaves a row out
        self.embed = embed
        self.translate = translate
        self.settings = settings or RetrievalSettings()

    def _fetch(self, k: int) -> int:
        """Candidates per ranking."""
        return min(len(self.store.chunks), max(self.settings.candidates, k))

    def sentence_relevance(
        self, vector: np.ndarray, k: int | None = None, source: str | None = None
    ) -> SentenceRelevance:
        """The question's relevance to the sentences, as :meth:`search` ranks them."""
        return self.store.sentence_relevance(vector, self._fetch(k or self.settings.k) * 4, source)

    def search(
        self,
        question: str,
        vector: np.ndarray | None = None,
        k: int | None = None,
        source: str | None = None,
        sentence_scores: SentenceRelevance | None = None,
    ) -> list[ScoredChunk]:
        """Top chunks for ``question`` (in ``source`` only, if given); pass ``vector`` (and
        ``sentence_scores`` from :meth:`sentence_relevance`) to reuse work already done for
        the question."""
        k = k or self.settings.k
        if vector is None:
            vector = self.embed(question)
        fetch = self._fetch(k)
        dense = self.store.chunk_search(vector, fetch, source)
        lexical_text = self.translate(question) if self.translate else question
        lexical = self.store.lexical_search(lexical_text, fetch, source)
        rankings = [list(dense), [i for i, _ in lexical]]
        if self.store.sentences:
            if sentence_scores is None:
                sentence_scores = self.sentence_relevance(vector, k, source)
            by_sentence = sentence_scores.ranked[: fetch * 4]
            chunk_ids = [self.sentence_chunks[int(i)] for i in by_sentence]
            ranked = dict.fromkeys(i for i in chunk_ids if i >= 0)
            rankings.append(list(ranked)[:fetch])
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, i in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (self.settings.rrf_k + rank + 1)
        best = sorted(fused, key=fused.__getitem__, reverse=True)[:k]
        return [self._scored(i, fused[i], dense, vector) for i in best]

    def _scored(
        self, i: int, fused: float, dense: dict[int, float], vector: np.ndarray
    ) -> ScoredChunk:
        similarity = dense.get(i)
        if similarity is None:
            similarity = self.store.chunk_similarity(i, vector)
        return ScoredChunk(self.store.chunks[i], fused, similarity)
