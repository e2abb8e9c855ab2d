"""The query path: question → hybrid retrieval → scored sentences → cited answer.

A ``Pipeline`` loads the model and the index once and then answers any number
of questions, from any number of threads.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_huggingface import HuggingFaceEmbeddings

from rag.answerer import (
    ABSTAIN_BELOW,
    MAX_CITATIONS,
    MIN_LEXICAL_ZH,
    Candidate,
    Evidence,
    TermWeights,
    asks_quantity,
    compose,
    is_chinese,
    question_terms,
    score_sentences,
    split_question,
)
from rag.chunking import ChunkerSettings
from rag.config import Settings
from rag.embeddings import load_embeddings, model_identity
from rag.glossary import Glossary, load_glossary
from rag.index_store import LoadedIndex, ensure_index
from rag.llm import answer_with_llm
from rag.retriever import HybridRetriever, ScoredChunk, vector_store
from rag.scorer import LearnedScorer, load_scorer, rank_learned
from rag.sentence_search import SentenceSearch
from rag.timeline import build_timeline
from rag.types import Answer, Chunk

log = logging.getLogger(__name__)

_FOLLOW_UP = re.compile(
    r"^(那|那么|还有|另外|而|and\b|what about|how about|and what|also)|(呢|呢？|呢\?)$", re.I
)
_HAS_WORD = re.compile(r"[\w\u3400-\u9fff]")
_MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A non-Chinese input with none of these asks nothing (code, SQL, a greeting).
_QUESTION_CUE = re.compile(
    r"[?？؟]|\b(how|what|which|who|whom|whose|when|where|why|is|are|was|were|do|does|did|"
    r"can|could|will|would|has|have|had|name|list|tell|give|show|describe|explain)\b",
    re.IGNORECASE,
)
NOT_A_QUESTION = (
    "请提一个关于文档的问题。 Please ask a question about the documents, "
    "e.g. “How many rounds of COVID testing were carried out?”"
)
_CLOSEST = 3


@dataclass(frozen=True)
class Retrieval:
    """One question's retrieval and decision, for the eval and the UI."""

    answer: Answer
    hits: list[ScoredChunk]
    evidence: Evidence


def clean_question(question: str) -> str:
    """Drop control characters (NUL, ANSI colours and friends) and markup tags: no one
    asks with those."""
    text = "".join(
        ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " "
        for ch in _ANSI_ESCAPE.sub(" ", question)
    )
    return _MARKUP.sub(" ", text).strip()


def input_problem(question: str, max_chars: int) -> str | None:
    """A friendly reason why ``question`` cannot be answered as asked, if any."""
    if not question:
        return "请输入一个问题。 Please type a question."
    if len(question) > max_chars:
        return (
            f"问题太长了（{len(question)} 字，上限 {max_chars} 字）。"
            f" The question is too long ({len(question)} characters; the limit is {max_chars})."
        )
    if not _HAS_WORD.search(question):
        return "请用文字提一个关于文档的问题。 Please ask a question about the documents in words."
    return None


def previous_question(history: Sequence[str], max_chars: int) -> str:
    """The last earlier question, as context; one over the limit was refused, so it is none
    (and would cost a long embedding per follow-up)."""
    return "" if not history or len(history[-1]) > max_chars else clean_question(history[-1])


def is_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP.search(question.strip())) or len(question.strip()) <= 6


class Pipeline:
    """Model, index and retriever, loaded once."""

    def __init__(
        self,
        settings: Settings | None = None,
        progress: Callable[[int, int], None] | None = None,
        embeddings: HuggingFaceEmbeddings | None = None,
        scorer: LearnedScorer | None | bool = True,
    ) -> None:
        """``embeddings`` lets several pipelines share one loaded model. ``scorer``: the
        learned answer scorer (``True``: the shipped one; ``None``/``False``: the hand-set
        weights, for comparison and for training a new one)."""
        self.settings = settings or Settings()
        self.scorer = load_scorer() if scorer is True else (scorer or None)
        self.embeddings = embeddings or load_embeddings(self.settings)
        self.index: LoadedIndex = ensure_index(
            self.settings.docs_dir,
            self.settings.index_dir,
            self.embeddings,
            model_identity(self.settings.embed_model),
            ChunkerSettings(),
            progress,
        )
        self._sentence_starts = self._sentence_positions()
        self.term_weights = TermWeights([s.text for s in self.index.sentences])
        self.timeline = build_timeline(self.index.texts, self.index.sentences)
        self._glossary: Glossary | None = None
        self._glossary_lock = threading.Lock()
        sentence_chunks = [-1] * len(self.index.sentences)
        for chunk in self.index.chunks:
            for i in self._sentences_in(chunk):
                if sentence_chunks[i] < 0 and not self.index.sentences[i].label:
                    sentence_chunks[i] = chunk.chunk_id
        self.retriever = HybridRetriever(
            store=vector_store(self.index, self.embeddings),
            chunks=self.index.chunks,
            sentences=SentenceSearch(
                self.index.sentence_vectors,
                self.index.clause_vectors,
                self.index.clause_owners,
                self.index.sentence_ann,
            ),
            sentence_chunks=sentence_chunks,
            translate=self.with_translations,
        )

    def _sentence_positions(self) -> dict[str, tuple[list[int], list[int]]]:
        """Per source, sentence starts (sorted) and their indices, to find a chunk's sentences."""
        by_source: dict[str, list[tuple[int, int]]] = {}
        for i, s in enumerate(self.index.sentences):
            by_source.setdefault(s.source, []).append((s.start, i))
        out = {}
        for source, pairs in by_source.items():
            pairs.sort()
            out[source] = ([p[0] for p in pairs], [p[1] for p in pairs])
        return out

    def _sentences_in(self, chunk: Chunk) -> list[int]:
        starts, ids = self._sentence_starts.get(chunk.source, ([], []))
        lo = bisect.bisect_left(starts, chunk.start)
        hi = bisect.bisect_left(starts, chunk.end)
        return [ids[j] for j in range(lo, hi) if self.index.sentences[ids[j]].end <= chunk.end]

    def glossary(self) -> Glossary:
        """English → the documents' Chinese words; loaded on the first non-Chinese question."""
        with self._glossary_lock:
            if self._glossary is None:
                self._glossary = load_glossary(lambda word: self.term_weights.df_of(word) > 0)
            return self._glossary

    def with_translations(self, text: str) -> str:
        """A non-Chinese ``text`` plus the documents' words for its words, for BM25."""
        if is_chinese(text):
            return text
        forms = {form for concept in self.glossary().concepts(text) for form in concept.forms}
        return " ".join([text, *sorted(forms)])

    def _embed_queries(self, texts: list[str]) -> list[np.ndarray]:
        """Query vectors for ``texts``, in one batch when the embeddings can."""
        batch = getattr(self.embeddings, "embed_queries", None)
        rows = batch(texts) if batch else [self.embeddings.embed_query(t) for t in texts]
        return [np.asarray(row, dtype=np.float32) for row in rows]

    @property
    def sources(self) -> list[str]:
        return sorted(self.index.manifest.get("sources", {}))

    def _page_at(self, source: str, offset: int) -> int | None:
        """The PDF page of ``offset`` in ``source`` (that of the sentence holding it)."""
        starts, ids = self._sentence_starts.get(source, ([], []))
        i = bisect.bisect_right(starts, offset) - 1
        return getattr(self.index.sentences[ids[i]], "page", None) if i >= 0 else None

    def query(
        self,
        question: str,
        history: Sequence[str] = (),
        source: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question``; see :func:`rag.query`.

        With an LLM configured (``settings.llm``) the model answers from the retrieved
        passages, verified sentence by sentence, with the extractive answer as the
        fallback (:func:`rag.llm.answer_with_llm`); ``on_token`` sees the reply stream.
        The model is asked even when the extractive answer abstains: only verified,
        cited sentences survive.
        """
        retrieval = self.retrieve(question, history, source)
        if self.settings.llm is None or not retrieval.hits:
            return retrieval.answer
        question = clean_question(question)
        previous = previous_question(history, self.settings.max_question_chars)
        return answer_with_llm(
            question,
            retrieval.hits,
            retrieval.answer,
            self.settings.llm,
            on_token,
            previous=previous if previous and is_follow_up(question) else "",
            page_of=self._page_at,
        )

    def retrieve(
        self, question: str, history: Sequence[str] = (), source: str | None = None, k: int = 5
    ) -> Retrieval:
        """The extractive answer with the retrieved chunks and the decision (never the LLM)."""
        question = clean_question(question)
        problem = input_problem(question, self.settings.max_question_chars)
        if not (problem or history or is_chinese(question) or _QUESTION_CUE.search(question)):
            problem = NOT_A_QUESTION
        if problem:
            return Retrieval(Answer(problem, [], True), [], Evidence(None, [], True))
        previous = previous_question(history, self.settings.max_question_chars)
        follow_up = bool(previous) and is_follow_up(question)
        search_text = f"{previous} {question}" if follow_up else question
        scoring_text = question
        if follow_up and asks_quantity(previous) and not asks_quantity(question):
            scoring_text += " 多少" if is_chinese(question) else " how many"

        parts = split_question(scoring_text)
        vectors = self._embed_queries([search_text] + ([] if parts == [search_text] else parts))
        vector = vectors[0]
        part_vectors = vectors[1:] or [vector]
        relevance = [self.retriever.sentence_relevance(v, k, source) for v in part_vectors]
        search_relevance = relevance[0] if part_vectors[0] is vector else None
        hits = self.retriever.search(search_text, vector, k, source, search_relevance)
        if len(parts) > 1:  # each part may live in another chunk
            seen = {h.chunk.chunk_id for h in hits}
            for part, part_vector, scores in zip(parts, part_vectors, relevance, strict=True):
                for hit in self.retriever.search(part, part_vector, 2, source, scores):
                    if hit.chunk.chunk_id not in seen:
                        hits.append(hit)
                        seen.add(hit.chunk.chunk_id)

        chunk_of: dict[int, ScoredChunk] = {}
        rank: dict[int, int] = {}
        position: dict[int, float] = {}
        for r, hit in enumerate(hits):
            in_chunk = self._sentences_in(hit.chunk)
            for j, idx in enumerate(in_chunk):
                chunk_of.setdefault(idx, hit)
                rank.setdefault(idx, r)
                position.setdefault(idx, j / max(1, len(in_chunk) - 1))
        candidates = list(chunk_of)

        zh = is_chinese(question)
        glossary = None if zh else self.glossary()
        part_terms = [question_terms(p, self.term_weights, glossary) for p in parts]
        if self.scorer is not None:
            ranked_parts = [
                rank_learned(
                    self.scorer, part, scores.of(candidates), candidates, rank, position,
                    self.index.sentences, terms, self.timeline,
                )
                for part, scores, terms in zip(parts, relevance, part_terms, strict=True)
            ]
            threshold, min_lexical = self.scorer.threshold, 0.0
        else:
            ranked_parts = [
                score_sentences(
                    part, scores.of(candidates), candidates, rank, self.index.sentences, terms
                )
                for part, scores, terms in zip(parts, relevance, part_terms, strict=True)
            ]
            threshold = ABSTAIN_BELOW["zh" if zh else "en"]
            min_lexical = MIN_LEXICAL_ZH if zh else 0.0
        chosen: list[Candidate] = []
        for ranked in ranked_parts:
            fresh = ranked and all(c.sentence != ranked[0].sentence for c in chosen)
            if fresh and ranked[0].score >= threshold and ranked[0].lexical >= min_lexical:
                chosen.append(ranked[0])
        # The surest answer is [1]; what the other parts add follows it.
        chosen = sorted(chosen, key=lambda c: c.score, reverse=True)[:MAX_CITATIONS]
        best = max((r[0] for r in ranked_parts if r), key=lambda c: c.score, default=None)
        abstained = not chosen
        closest = ranked_parts[0][:_CLOSEST] if ranked_parts and ranked_parts[0] else []
        answer = compose(question, chosen, closest, abstained, self.index.sentences, chunk_of)
        return Retrieval(answer, hits, Evidence(best, chosen, abstained, ranked_parts))


_default: Pipeline | None = None
_default_lock = threading.Lock()


def default_pipeline() -> Pipeline:
    """The process-wide pipeline, built on first use with settings from the environment."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Pipeline()
        return _default
