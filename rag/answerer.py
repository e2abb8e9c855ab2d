"""Extractive answers: the source sentences that answer the question, cited verbatim.

No language model is needed and nothing is paraphrased, so every figure in an
answer is a figure in the report. Each candidate sentence of the retrieved
chunks is scored by its embedding similarity to the question, its lexical
overlap with it and, for "how many" questions, whether it states a matching
quantity. Weak evidence means an honest abstention.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.glossary import Glossary
from rag.index_store import SentenceRecord
from rag.retriever import ScoredChunk
from rag.types import Answer, Citation

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUANTITY_ZH = re.compile(r"(多少|几|多大|多高|比例|百分之|占比|金额|增速|增幅|增长了?多)")
_QUANTITY_EN = re.compile(
    r"\b(how (many|much|big|large|high|fast)|what (percentage|share|proportion|rate|number|amount)"
    r"|number of|amount of|percent|total)\b",
    re.I,
)
_ASKS_DATE = re.compile(
    r"(什么时候|何时|哪天|哪一天|几月|日期|时间是)|\b(when|what date|which date|what day)\b", re.I
)
_DATE = re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月|\d{1,2}\s*月\s*\d{1,2}\s*日")
_MEASURE_AFTER_ASK = re.compile(r"(?:多少|几)([\u4e00-\u9fff]{1,2})")
# Bigrams that only shape a question; they say nothing about where the answer is.
_QUESTION_BIGRAMS = {
    "多少",
    "什么",
    "哪些",
    "哪个",
    "是否",
    "怎么",
    "怎样",
    "如何",
    "为何",
    "一下",
    "请问",
    "几个",
    "几轮",
    "是多",
    "有多",
    "了多",
    "有哪",
    "是什",
    "是哪",
    "分别",
    "多大",
    "为什",
}
_STOP_CHARS = set("的了吗呢吧啊是在和与及或有多少几什么哪谁怎如何请问么")
_SPLIT_QUESTION = re.compile(
    r"[？?；;]|(?:，|,)?(?:以及|并且|另外|同时|还有|和|及|, and| and)(?=.{0,12}?"
    r"(?:多少|几|哪|什么|谁|何|怎么|是否|how|what|which|who|when|where|whether))",
    re.I,
)

# Weights and thresholds, calibrated on evals/questions.jsonl (see README: Accuracy).
W_LEXICAL = 0.25
W_QUANTITY = 0.04
W_MEASURE = 0.04
W_CHUNK_RANK = 0.03
ABSTAIN_BELOW = {"zh": 0.80, "en": 0.88}
# A Chinese question shares words with its answer; one sharing almost none is not answered.
MIN_LEXICAL_ZH = 0.2
MAX_CITATIONS = 3


def is_chinese(text: str) -> bool:
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk >= 0.2 * len(re.sub(r"\s", "", text))


def content_bigrams(text: str) -> set[str]:
    """The question's topical Chinese bigrams (question words removed)."""
    grams: set[str] = set()
    for run in _CJK_RUN.findall(text):
        chars = [c for c in run]
        for a, b in zip(chars, chars[1:], strict=False):
            gram = a + b
            if gram not in _QUESTION_BIGRAMS and not (a in _STOP_CHARS and b in _STOP_CHARS):
                grams.add(gram)
    return grams


def split_question(question: str) -> list[str]:
    """A question that asks two things becomes two sub-questions."""
    parts = [p.strip(" ,，。") for p in _SPLIT_QUESTION.split(question)]
    parts = [p for p in parts if len(p) >= 3]
    return parts if len(parts) > 1 else [question]


def asks_quantity(question: str) -> bool:
    return bool(_QUANTITY_ZH.search(question) or _QUANTITY_EN.search(question))


@dataclass(frozen=True)
class Candidate:
    sentence: int  # index into the index's sentences
    score: float
    dense: float
    lexical: float
    features: np.ndarray | None = field(default=None, compare=False)  # rag.features row


@dataclass(frozen=True)
class Evidence:
    """What the answerer decided from; kept for evaluation and threshold tuning."""

    best: Candidate | None
    chosen: list[Candidate]
    abstained: bool
    ranked: list[list[Candidate]] = field(default_factory=list)  # every candidate, per part


class TermWeights:
    """Inverse document frequency of Chinese bigrams (and characters) over the sentences.

    The town's own name occurs everywhere and proves nothing; a term that occurs
    nowhere (``人口`` in a report without population figures) matters most.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.n = len(texts)
        self.df: Counter[str] = Counter()
        for text in texts:
            self.df.update(content_bigrams(text))
            self.df.update(set(_CJK.findall(text)))

    def __call__(self, gram: str) -> float:
        return self.idf(self.df[gram])

    def idf(self, df: int) -> float:
        return math.log((self.n + 1) / (df + 1)) + 1.0

    def df_of(self, term: str) -> int:
        """Sentences holding ``term`` — at most; a longer term counts as its rarest bigram."""
        if len(term) == 1:
            return self.df[term]
        return min(self.df[term[i : i + 2]] for i in range(len(term) - 1))


@dataclass(frozen=True)
class Term:
    """One thing the question asks about: any of ``forms`` in a sentence shows it."""

    forms: tuple[str, ...]  # empty: the documents never mention it
    weight: float


def question_terms(
    question: str, weights: TermWeights, glossary: Glossary | None = None
) -> list[Term]:
    """The question's topical terms in the documents' language, weighted by rarity.

    Chinese bigrams stand for themselves. An English word stands for its dictionary
    translations that occur in the documents; a word the dictionary knows but the
    documents never use (``hospital``) is a term no sentence can show.
    """
    terms = [Term((g,), weights(g)) for g in sorted(content_bigrams(question))]
    if glossary is None or is_chinese(question):
        return terms
    for concept in glossary.concepts(question):
        if concept.forms:
            common = max(weights.df_of(f) for f in concept.forms)
            forms = tuple(sorted(concept.forms, key=len, reverse=True))
            terms.append(Term(forms, weights.idf(common)))
        else:
            terms.append(Term((), weights.idf(0)))
    return terms


def _credit(term: Term, text: str, section: str) -> float:
    """How well ``text`` shows ``term``. A single character is weak evidence (it is
    often part of an unrelated word); a term found only in the section label places
    the sentence rather than answers."""
    best = 0.0
    for form in term.forms:
        strength = 1.0 if len(form) > 1 else 1 / 3
        if form in text:
            best = max(best, strength)
        elif form in section:
            best = max(best, strength / 2)
    return best


def score_sentences(
    question: str,
    similarity: np.ndarray,
    candidates: Sequence[int],
    chunk_rank: dict[int, int],
    sentences: Sequence[SentenceRecord],
    terms: Sequence[Term],
) -> list[Candidate]:
    """Score each candidate sentence for ``question``; best first.

    ``similarity`` holds each candidate's embedding similarity to the question.
    """
    if not candidates:
        return []
    total_weight = sum(t.weight for t in terms)
    wants_number = asks_quantity(question)
    wants_date = bool(_ASKS_DATE.search(question))
    measures = set(_MEASURE_AFTER_ASK.findall(question))
    numbers_asked = set(_NUMBER.findall(question))
    scored = []
    for idx, dense in zip(candidates, similarity, strict=True):
        record = sentences[idx]
        if record.label:
            continue
        text = record.text
        found = sum(t.weight * _credit(t, text, record.section) for t in terms)
        lexical = found / total_weight if total_weight else 0.0
        score = float(dense) + W_LEXICAL * lexical
        # A figure the question already names (its year, say) answers nothing.
        has_number = any(n not in numbers_asked for n in _NUMBER.findall(text))
        if wants_number and has_number:
            score += W_QUANTITY
            if any(re.search(rf"\d\s*{re.escape(m[0])}", text) for m in measures):
                score += W_MEASURE
        if wants_date and _DATE.search(text):
            score += W_QUANTITY
        if numbers_asked and not all(n in record.section + text for n in numbers_asked):
            continue  # a year or figure the question names must be where the answer is
        score += W_CHUNK_RANK / (1 + chunk_rank.get(idx, 9))
        scored.append(Candidate(idx, score, float(dense), lexical))
    return sorted(scored, key=lambda c: c.score, reverse=True)


def _citation(record: SentenceRecord, score: float, hit: ScoredChunk | None) -> Citation:
    context, context_start = (
        (hit.chunk.text, hit.chunk.start) if hit else (record.text, record.start)
    )
    return Citation(
        quote=record.text,
        source=record.source,
        section=record.section,
        line=record.line,
        start=record.start,
        end=record.end,
        score=round(score, 4),
        context=context,
        context_start=context_start,
        page=record.page,
    )


def compose(
    question: str,
    chosen: Sequence[Candidate],
    closest: Sequence[Candidate],
    abstained: bool,
    sentences: Sequence[SentenceRecord],
    chunk_of: dict[int, ScoredChunk],
) -> Answer:
    """Turn the decision into the user-facing answer with numbered citations."""
    zh = is_chinese(question)
    if abstained:
        text = (
            "文档中没有找到这个问题的答案。下面列出最接近的段落，仅供参考。"
            if zh
            else "The documents do not say. The closest passages are listed below for reference."
        )
        cites = [
            _citation(sentences[c.sentence], c.score, chunk_of.get(c.sentence)) for c in closest
        ]
        return Answer(text=text, citations=cites, abstained=True)
    cites = [_citation(sentences[c.sentence], c.score, chunk_of.get(c.sentence)) for c in chosen]
    body = " ".join(f"{c.quote}[{n}]" for n, c in enumerate(cites, 1))
    text = body if zh else f"The report (in Chinese) says: {body}"
    return Answer(text=text, citations=cites, abstained=False)
