"""Hybrid retrieval: BM25 over character n-grams plus dense FAISS, fused by rank.

BM25 catches exact figures and rare names that embeddings blur; the dense side
catches paraphrases and English questions about Chinese text. Reciprocal rank
fusion needs no score calibration between the two.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import bm25s
import numpy as np
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores import FAISS
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from rag.index_store import LoadedIndex
from rag.sentence_search import SentenceScores, SentenceSearch, top_indices
from rag.types import Chunk

_RRF_K = 60
_CANDIDATES = 30
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[a-z]+|[\u3400-\u9fff\uf900-\ufaff]+")


def lexical_tokens(text: str) -> list[str]:
    """Numbers and Latin words whole; Chinese runs as character unigrams and bigrams."""
    tokens: list[str] = []
    for run in _TOKEN.findall(text.lower()):
        if run[0] >= "\u3400":
            tokens.extend(run)
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            tokens.append(run)
    return tokens


class LexicalIndex:
    """BM25 (Lucene's variant) over :func:`lexical_tokens`, as sparse matrices.

    Scoring a query touches only the postings of its tokens, so it stays fast at
    tens of thousands of chunks (a per-document loop took 0.2 s a question at 5,600).
    """

    def __init__(self, texts: list[str]) -> None:
        self.size = len(texts)
        # Token ids in compact arrays: lists of token strings took 1.4 GB at 56k chunks.
        vocabulary: dict[str, int] = {}
        ids = [
            array("i", (vocabulary.setdefault(tok, len(vocabulary)) for tok in lexical_tokens(t)))
            for t in texts
        ]
        self._bm25 = bm25s.BM25()
        self._bm25.index((ids, vocabulary), show_progress=False)

    def scores(self, text: str) -> np.ndarray:
        """The BM25 score of every text for ``text``; zeros when no token is known."""
        vocabulary = self._bm25.vocab_dict
        tokens = [t for t in lexical_tokens(text) if t in vocabulary]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return self._bm25.get_scores(tokens)


def chunk_document(chunk: Chunk) -> Document:
    """A chunk as a LangChain ``Document``; metadata carries the citation fields."""
    return Document(
        page_content=chunk.text,
        id=str(chunk.chunk_id),
        metadata={
            "chunk_id": chunk.chunk_id,
            "source": chunk.source,
            "section": chunk.section,
            "start": chunk.start,
            "end": chunk.end,
            "line": chunk.line,
        },
    )


def vector_store(index: LoadedIndex, embeddings: Embeddings) -> FAISS:
    """Wrap the loaded FAISS index in LangChain's vector store (no pickle involved)."""
    documents = {str(c.chunk_id): chunk_document(c) for c in index.chunks}
    return FAISS(
        embedding_function=embeddings,
        index=index.chunk_index,
        docstore=InMemoryDocstore(documents),
        index_to_docstore_id={i: str(c.chunk_id) for i, c in enumerate(index.chunks)},
        normalize_L2=False,
    )


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    score: float  # fused RRF score
    dense: float  # cosine similarity to the question


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over one loaded index; ``k`` chunks per question.

    Three rankings are fused: BM25 over chunks, dense over chunks, and dense over
    single sentences (mapped to their chunk) — a long chunk's embedding blurs the
    one sentence that answers, a sentence's does not. Chunk ids equal FAISS row
    numbers, so a search result indexes ``chunks`` directly.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: FAISS
    chunks: list[Chunk]
    sentences: SentenceSearch | None = None
    sentence_chunks: list[int] = []  # chunk id per sentence row; -1 leaves a row out
    # Adds the documents' words for a question's foreign words, so BM25 can match them.
    translate: Callable[[str], str] | None = None
    k: int = 5
    _bm25: LexicalIndex = PrivateAttr()

    def model_post_init(self, context: object) -> None:
        self._bm25 = LexicalIndex([f"{c.section} {c.text}" for c in self.chunks])

    def _fetch(self, k: int, source: str | None) -> int:
        """Candidates per ranking: more when a source filter will drop most of them."""
        return min(len(self.chunks), max(_CANDIDATES, k) * (4 if source else 1))

    def sentence_relevance(
        self, vector: np.ndarray, k: int | None = None, source: str | None = None
    ) -> SentenceScores:
        """The question's relevance to the sentences, as :meth:`search` ranks them."""
        assert self.sentences is not None
        return self.sentences.relevance(vector, self._fetch(k or self.k, source) * 4)

    def search(
        self,
        question: str,
        vector: np.ndarray | None = None,
        k: int | None = None,
        source: str | None = None,
        sentence_scores: SentenceScores | None = None,
    ) -> list[ScoredChunk]:
        """Top chunks for ``question``; pass ``vector`` (and ``sentence_scores`` from
        :meth:`sentence_relevance`) to reuse work already done for the question."""
        k = k or self.k
        if vector is None:
            vector = np.asarray(self.store.embedding_function.embed_query(question), np.float32)
        fetch = self._fetch(k, source)
        scores, ids = self.store.index.search(vector.reshape(1, -1).astype(np.float32), fetch)
        dense = {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}
        lexical_text = self.translate(question) if self.translate else question
        lexical = self._bm25.scores(lexical_text)
        allowed = (lambda i: self.chunks[i].source == source) if source else (lambda i: True)
        dense_rank = [i for i in dense if allowed(i)]
        lexical_rank = [
            int(i) for i in top_indices(lexical, fetch) if lexical[i] > 0 and allowed(i)
        ]
        rankings = [dense_rank, lexical_rank]
        if self.sentences is not None and len(self.sentences):
            if sentence_scores is None:
                sentence_scores = self.sentence_relevance(vector, k, source)
            by_sentence = sentence_scores.ranked[: fetch * 4]
            chunk_ids = [self.sentence_chunks[int(i)] for i in by_sentence]
            ranked = dict.fromkeys(i for i in chunk_ids if i >= 0 and allowed(i))
            rankings.append(list(ranked)[:fetch])
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, i in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (_RRF_K + rank + 1)
        best = sorted(fused, key=fused.__getitem__, reverse=True)[:k]
        return [self._scored(i, fused[i], dense, vector) for i in best]

    def _scored(
        self, i: int, fused: float, dense: dict[int, float], vector: np.ndarray
    ) -> ScoredChunk:
        similarity = dense.get(i)
        if similarity is None:
            similarity = float(self.store.index.reconstruct(i) @ vector)
        return ScoredChunk(self.chunks[i], fused, similarity)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = []
        for hit in self.search(query):
            doc = chunk_document(hit.chunk)
            doc.metadata |= {"score": hit.score, "dense": hit.dense}
            docs.append(doc)
        return docs
