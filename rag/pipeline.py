"""The query path, as wiring: question → retrieval → scored sentences → decision → answer.

A ``Pipeline`` loads the model and the index once and then answers any number
of questions, from any number of threads. The steps live in their own modules
(:mod:`rag.question`, :mod:`rag.retrieval`, :mod:`rag.answering`, :mod:`rag.llm`);
this one only passes each the results of the one before.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.answer_lead import lead_answer
from rag.answering import (
    LATIN_WORD,
    TermWeights,
    asked_time,
    compose,
    decide,
    list_rows,
    question_terms,
    score_sentences,
    with_whole_list,
)
from rag.config import Settings
from rag.glossary import Glossary, load_glossary
from rag.proper_names import absent_english_names, absent_names, proper_names
from rag.query_adapter import REORDERS, QueryAdapter, load_adapter
from rag.question import analyse, asks_about_document, asks_list
from rag.retrieval import Retriever
from rag.short_answer import names_a_person, presents_report
from rag.simplified import to_simplified
from rag.store import open_store
from rag.store.base import Progress, SentenceRelevance
from rag.store.records import RecordMap
from rag.text import CJK, is_chinese
from rag.timeline import build_timeline, period_of
from rag.titles import closing_start, cover_end, document_titles, subject_of, with_titles
from rag.types import Answer, Candidate, Evidence, Retrieval, ScoredChunk, Term

if TYPE_CHECKING:
    from rag.abstention import AbstentionModel
    from rag.langchain_retriever import HybridRetriever
    from rag.scorer import LearnedScorer

log = logging.getLogger(__name__)
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z' -]*[A-Za-z]")  # "Xi Jinping" of "Xi Jinping新时代…"


class Pipeline:
    """Model, index and retriever, loaded once."""

    def __init__(
        self,
        settings: Settings | None = None,
        progress: Progress | None = None,
        embeddings: Embeddings | None = None,
        scorer: LearnedScorer | bool | None = None,
    ) -> None:
        """``embeddings`` lets several pipelines share one loaded model. ``scorer``: None
        follows ``settings.answering.scorer`` (by default the calibrated decision); False
        the hand-set ranking and thresholds; a :class:`rag.scorer.LearnedScorer` that one
        (training compares them)."""
        from rag.embeddings import load_embeddings

        self.settings = settings or Settings.from_env()
        self.embeddings = embeddings or load_embeddings(self.settings.model)
        self.store = open_store(self.settings, self.embeddings, progress)
        self.records = RecordMap(self.store.chunks, self.store.sentences)
        self.term_weights = TermWeights([s.text for s in self.store.sentences])
        choice = self.settings.answering.scorer if scorer is None else None
        if scorer is None:
            scorer = choice == "learned"
        self.scorer: LearnedScorer | None = None
        if scorer is not False:
            from rag.scorer import load_scorer

            self.scorer = load_scorer() if scorer is True else scorer
        # The hand-set ranking with a calibrated answer-or-abstain decision (rag.abstention).
        self.abstention: AbstentionModel | None = None
        if choice == "calibrated":
            from rag.abstention import load_abstention

            self.abstention = load_abstention()
        self.query_adapter: QueryAdapter | None = None
        if self.settings.answering.english_adapter:
            adapter = load_adapter()
            if adapter.model == self.settings.model.name:  # fit for this model only
                self.query_adapter = adapter
        # Each sentence's time role: a feature of the learned scorer, a label on citations.
        self.timeline = build_timeline(self.store.texts, self.store.sentences)
        self.titles = document_titles(self.store.texts, self.settings.documents.docs_dir)
        self._cover_ends = {name: cover_end(text) for name, text in self.store.texts.items()}
        # What each document is about: its sentences speak of it without naming it.
        self.subjects = {name: subject_of(text) for name, text in self.store.texts.items()}
        # Its cover and sign-off: where "who delivered it, when" is answered.
        closing = {name: closing_start(text) for name, text in self.store.texts.items()}
        self._frame: dict[str, list[int]] = {}
        presenting: dict[str, list[int]] = {}
        for row, s in enumerate(self.store.sentences):
            if self.in_cover(row) or s.start >= closing.get(s.source, s.end + 1):
                if not self.is_title_line(row):
                    self._frame.setdefault(s.source, []).append(row)
            elif presents_report(s.text):
                presenting.setdefault(s.source, []).append(row)
        # Without a speaker on its cover or sign-off, "我代表…向大会…报告" says who presents it.
        for source, rows in presenting.items():
            frame = self._frame.setdefault(source, [])
            if not any(names_a_person(self.store.sentences[r].text) for r in frame):
                frame.extend(rows)
        self._glossary: Glossary | None = None
        self._glossary_lock = threading.Lock()
        self.retriever = Retriever(
            self.store,
            self.records.sentence_chunks,
            embed=lambda text: self._embed_queries([text])[0],
            translate=self.with_translations,
            settings=self.settings.retrieval,
        )

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

    def _adapter_order(
        self,
        ranked: list[Candidate],
        part: str,
        vector: np.ndarray,
        candidates: list[int],
        rank: dict[int, int],
        terms: list[Term],
        moved_scores: bool,
    ) -> list[Candidate]:
        """``ranked`` with its two best in the order the hand-set score gives them when the
        English question's vector is moved by the adapter. With ``moved_scores`` each
        candidate's score is the one that ordered it (levelled to the unmoved ones' mean), for
        the calibrated decision, which is fit on them: its lead then reads the order the reader
        sees (held out, English answers right at the threshold rose above it and wrong ones
        fell under). The hand-set thresholds were set on the unmoved scores, which the
        candidates then keep; so does the embedding similarity."""
        assert self.query_adapter is not None
        # Only the candidates' own relevance is read: ask the store for no ranking beyond one.
        moved = self.store.sentence_relevance(self.query_adapter(vector), 1)
        order = score_sentences(
            part, moved.of(candidates), candidates, rank, self.store.sentences, terms,
            self.timeline, self.subjects,
        )
        position = {c.sentence: n for n, c in enumerate(order)}
        head = sorted(
            ranked[:REORDERS], key=lambda c: position.get(c.sentence, len(position))
        )
        # It knows topics, not time: it never puts a sentence of another time above one of
        # the time asked (last year's result above this year's target).
        _, in_time = asked_time(part, self.store.sentences, self.timeline)
        if ranked and in_time(ranked[0].sentence) is True and in_time(head[0].sentence) is False:
            return ranked
        if not moved_scores:
            return head + ranked[REORDERS:]
        moved_score = {c.sentence: c.score for c in order}
        scores = [moved_score.get(c.sentence, c.score) for c in ranked]
        # Levelled to the unmoved scores' mean: the differences that ordered them, on the
        # scale the decision reads every other question's scores on.
        level = float(np.mean([c.score for c in ranked]) - np.mean(scores))
        return [
            replace(c, score=moved_score.get(c.sentence, c.score) + level)
            for c in head + ranked[REORDERS:]
        ]

    def langchain_retriever(self, k: int | None = None) -> HybridRetriever:
        """This pipeline's retrieval as a LangChain ``BaseRetriever``."""
        from rag.langchain_retriever import HybridRetriever

        return HybridRetriever(retriever=self.retriever, k=k or self.settings.retrieval.k)

    @property
    def sources(self) -> list[str]:
        return sorted(self.store.manifest.get("sources", {}))

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
        from rag.llm import answer_with_llm

        asked = analyse(
            *self._in_documents_script(question, history),
            self.settings.answering.max_question_chars,
        )
        answer = answer_with_llm(
            asked.text,
            retrieval.hits,
            retrieval.answer,
            self.settings.llm,
            on_token,
            previous=asked.previous,
            page_of=self.records.page_at,
        )
        return self._labelled(answer)

    def _in_documents_script(
        self, question: str, history: Sequence[str]
    ) -> tuple[str, Sequence[str]]:
        """The question (and the ones before it) with the traditional characters the
        documents never use in simplified spelling: "去年經濟增長多少？" asked of reports in
        simplified characters had matched none of their words (:mod:`rag.simplified`)."""
        used = self.term_weights.df  # every character of the documents, with its count
        texts = [question, *history]
        if all(used[ch] for text in texts for ch in CJK.findall(text)):
            return question, history
        question, *history = [to_simplified(text, lambda ch: used[ch] > 0) for text in texts]
        return question, history

    def _labelled(self, answer: Answer) -> Answer:
        """``answer`` with each citation's document title and time period filled in."""
        answer = with_titles(answer, self.titles)
        cited = [
            replace(c, period=c.period or period_of(
                self.timeline, self.records.row_at(c.source, c.start), c.source
            ))
            for c in answer.citations
        ]
        return replace(answer, citations=cited)

    def in_cover(self, row: int) -> bool:
        """Whether sentence ``row`` is in its document's cover block (title, date, speaker)."""
        sentence = self.store.sentences[row]
        return sentence.start < self._cover_ends.get(sentence.source, 0)

    def _similarity(self, part: str, scores: SentenceRelevance, rows: list[int]) -> np.ndarray:
        """``rows``' embedding similarity to the question ``part``. For the sentences of a
        document whose subject the part names ("六耳铃的花期…" of the article 六耳铃), it is
        read from the part without that name: every sentence there speaks of the subject, and
        its name would only favour the one sentence that spells it out (``answering.credit``)."""
        similarity = scores.of(rows)
        # Positions in ``rows`` by the subject their document has and the part names; the
        # paragraphs of one article share it, so each stripped part is embedded once.
        named: dict[str, list[int]] = {}
        for n, row in enumerate(rows):
            subject = self.subjects.get(self.store.sentences[row].source, "")
            if subject and subject in part and part.replace(subject, "").strip():
                named.setdefault(subject, []).append(n)
        for subject, own in named.items():
            vector = self._embed_queries([part.replace(subject, "")])[0]
            moved = self.store.sentence_relevance(vector, 1)
            similarity[own] = moved.of([rows[n] for n in own])
        return similarity

    def is_title_line(self, row: int) -> bool:
        """Whether sentence ``row`` is its document's title and nothing more (``六耳铃``)."""
        sentence = self.store.sentences[row]
        return sentence.text.strip() == self.subjects.get(sentence.source, None)

    def retrieve(
        self,
        question: str,
        history: Sequence[str] = (),
        source: str | None = None,
        k: int | None = None,
    ) -> Retrieval:
        """The extractive answer with the retrieved chunks and the decision (never the LLM)."""
        answering = self.settings.answering
        question, history = self._in_documents_script(question, history)
        asked = analyse(question, history, answering.max_question_chars)
        if asked.problem:
            return Retrieval(Answer(asked.problem, [], True), [], Evidence(None, [], True))
        k = k or self.settings.retrieval.k
        parts = asked.parts
        search_text = asked.search_text
        vectors = self._embed_queries([search_text] + ([] if parts == [search_text] else parts))
        vector = vectors[0]
        part_vectors = vectors[1:] or [vector]
        relevance = [self.retriever.sentence_relevance(v, k, source) for v in part_vectors]
        search_relevance = relevance[0] if part_vectors[0] is vector else None
        read = max(k, self.settings.retrieval.read)
        hits = self.retriever.search(search_text, vector, read, source, search_relevance)
        shown = hits[:k]  # what the caller gets; the sentences of all ``hits`` compete
        if len(parts) > 1:  # each part may live in another chunk
            for part, part_vector, scores in zip(parts, part_vectors, relevance, strict=True):
                for hit in self.retriever.search(part, part_vector, 2, source, scores):
                    for found in (shown, hits):
                        if all(h.chunk.chunk_id != hit.chunk.chunk_id for h in found):
                            found.append(hit)

        chunk_of: dict[int, ScoredChunk] = {}
        rank: dict[int, int] = {}
        position: dict[int, float] = {}  # where in its chunk a sentence sits, 0 to 1
        for r, hit in enumerate(hits):
            in_chunk = self.records.sentences_in(hit.chunk)
            for j, idx in enumerate(in_chunk):
                chunk_of.setdefault(idx, hit)
                rank.setdefault(idx, r)
                position.setdefault(idx, j / max(1, len(in_chunk) - 1))
        # A line that is just the document's title names its subject and answers nothing.
        candidates = [i for i in chunk_of if not self.is_title_line(i)]
        # A part asking about the report itself (who delivered it, when) is answered by the
        # cover and sign-off of the documents found, retrieved or not.
        frame = [r for s in dict.fromkeys([source] if source else [h.chunk.source for h in hits])
                 for r in self._frame.get(s, [])]
        part_candidates = [
            frame if frame and asks_about_document(part) else candidates for part in parts
        ]

        glossary = self.glossary() if not asked.zh or LATIN_WORD.search(asked.text) else None
        sentences = self.store.sentences
        part_terms = [question_terms(p, self.term_weights, glossary) for p in parts]
        scored = list(zip(parts, relevance, part_terms, part_candidates, strict=True))
        if self.scorer is not None:
            from rag.scorer import rank_learned

            ranked_parts = [
                rank_learned(
                    self.scorer, part, self._similarity(part, scores, rows), rows, rank, position,
                    sentences, terms, self.timeline, self.subjects,
                )
                for part, scores, terms, rows in scored
            ]
            evidence = decide(ranked_parts, asked.zh, answering, self.scorer.threshold)
        else:
            ranked_parts = [
                score_sentences(
                    part, self._similarity(part, scores, rows), rows, rank, sentences, terms,
                    self.timeline, self.subjects,
                )
                for part, scores, terms, rows in scored
            ]
            if self.query_adapter is not None and not asked.zh:
                ranked_parts = [
                    self._adapter_order(
                        ranked, part, vector, rows, rank, terms, self.abstention is not None
                    )
                    for ranked, part, vector, terms, rows in zip(
                        ranked_parts, parts, part_vectors, part_terms, part_candidates,
                        strict=True,
                    )
                ]
            if self.abstention is None:
                evidence = decide(ranked_parts, asked.zh, answering)
            else:
                from rag.abstention import calibrate, input_rows

                ranked_parts = [
                    calibrate(self.abstention, ranked, input_rows(
                        part, not asked.zh, ranked, rank, position, sentences, terms,
                        self.term_weights, self.timeline, self.subjects,
                    ))
                    for part, ranked, terms in zip(parts, ranked_parts, part_terms, strict=True)
                ]
                evidence = decide(ranked_parts, asked.zh, answering, self.abstention.threshold)
        # A question about a place, person or body no document in scope names.
        texts = (
            [self.store.texts[source]] if source in self.store.texts
            else list(self.store.texts.values())
        )
        unnamed = absent_names(asked.text, texts) if asked.zh else []
        if glossary is not None:  # English, or a Chinese question's English words: "Shanghai的…"
            english = asked.text if not asked.zh else ", ".join(_LATIN_RUN.findall(asked.text))
            unnamed += absent_english_names(english, texts, glossary.romanised)
        if unnamed:
            evidence = replace(evidence, chosen=[], abstained=True)
        ranked = ranked_parts[0] if ranked_parts else []
        if self.abstention is not None and self.scorer is None and ranked:
            from rag.abstention import shown_first

            k = shown_first([c.features for c in ranked])
            ranked = [ranked[k], *ranked[:k], *ranked[k + 1 :]]
        # The cover block (title, date, speaker) is never a useful "closest passage".
        closest = [c for c in ranked if not self.in_cover(c.sentence)] or ranked
        answer = compose(
            asked.text,
            evidence.chosen,
            closest[: answering.closest_shown],
            evidence.abstained,
            sentences,
            chunk_of,
            unnamed,
        )
        # A question asking one list: the whole list its item is of (with more parts, the
        # first citation may answer another part).
        rows = range(0)
        if evidence.chosen and len(parts) == 1 and asks_list(asked.text):
            row = evidence.chosen[0].sentence
            rows = list_rows(row, sentences)
            source_text = self.store.texts[sentences[row].source]
            answer = with_whole_list(answer, rows, sentences, source_text)
        answer = self._labelled(lead_answer(asked.text, answer, glossary, len(rows) > 1))
        return Retrieval(answer, shown, evidence)


class PipelineHolder:
    """One lazily loaded pipeline, shared by whoever asks: the API, the UI, the CLI.

    The first thread that asks loads it; the others wait. A failed load is
    remembered: until a back-off has passed (5 s, doubling to 5 min) or the
    documents folder changes, requests get the same error at once instead of
    reloading the model or rebuilding the index each time. The model itself is
    kept once loaded, so a retry reloads only the index.
    """

    def __init__(
        self, factory: Callable[[], Pipeline] | None = None, settings: Settings | None = None
    ) -> None:
        """``factory`` makes the pipeline; without one, ``settings`` (or the environment's)."""
        self._factory = factory
        self._settings = settings
        self._embeddings: Embeddings | None = None
        self._lock = threading.Lock()
        self._pipeline: Pipeline | None = None
        self._failure: tuple[Exception, float, object] | None = None  # error, retry at, docs
        self._backoff_s = 5.0
        self._warming = False

    @property
    def loaded(self) -> bool:
        """Whether a pipeline is ready (asking for it now would not wait)."""
        return self._pipeline is not None

    @property
    def loading(self) -> bool:
        """Whether a load is under way (a question asked now waits for it)."""
        return self._pipeline is None and (self._warming or self._lock.locked())

    @property
    def settings(self) -> Settings:
        """The settings in force, without loading anything for them."""
        if self._pipeline is not None:
            return self._pipeline.settings
        return self._settings or Settings.from_env()

    def _make(self) -> Pipeline:
        if self._factory is not None:
            return self._factory()
        from rag.embeddings import load_embeddings

        settings = self._settings = self._settings or Settings.from_env()
        if self._embeddings is None:
            self._embeddings = load_embeddings(settings.model)
        return Pipeline(settings, embeddings=self._embeddings)

    def _documents_state(self) -> object:
        """What a change of the documents folder changes (names, sizes, times)."""
        if self._settings is None:
            return None
        folder = self._settings.documents.docs_dir
        try:
            return sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())
        except OSError:
            return None

    def get(self) -> Pipeline:
        """The loaded pipeline, loading it now if nobody has yet (or re-raising a recent
        failure)."""
        with self._lock:
            if self._pipeline is not None:
                return self._pipeline
            if self._failure is not None:
                error, retry_at, state = self._failure
                if time.monotonic() < retry_at and self._documents_state() == state:
                    raise error
            started = time.perf_counter()
            try:
                self._pipeline = self._make()
            except Exception as exc:
                self._failure = (exc, time.monotonic() + self._backoff_s, self._documents_state())
                self._backoff_s = min(self._backoff_s * 2, 300.0)
                raise
            self._failure, self._backoff_s = None, 5.0
            log.info("Pipeline loaded in %.1f s", time.perf_counter() - started)
            # The bilingual dictionary (≈1 s) and its proper names (≈0.5 s) load in the
            # background, so that neither start-up nor the first question waits for them.
            threading.Thread(target=self._pipeline.glossary, daemon=True).start()
            threading.Thread(target=proper_names, daemon=True).start()
            return self._pipeline

    def replace(self, pipeline: Pipeline) -> None:
        """Swap in a rebuilt pipeline; questions already running finish on the old one."""
        with self._lock:
            self._pipeline, self._failure = pipeline, None

    def warm_up_in_background(self) -> None:
        """Load now, in a thread, so that the first question does not wait for it."""

        def load() -> None:
            try:
                self.get()
            except Exception:
                log.exception("Loading the model or the index failed")
            finally:
                self._warming = False

        self._warming = True
        threading.Thread(target=load, name="warm-up", daemon=True).start()


_default = PipelineHolder()


def default_holder() -> PipelineHolder:
    """The process-wide pipeline holder, with settings from the environment."""
    return _default


def default_pipeline() -> Pipeline:
    """The process-wide pipeline, built on first use with settings from the environment."""
    return _default.get()
