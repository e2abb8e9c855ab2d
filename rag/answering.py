"""Extractive answers: score the candidate sentences, decide, and cite the chosen ones verbatim.

No language model is needed and nothing is paraphrased, so every figure in an
answer is a figure in the report. Each candidate sentence of the retrieved
chunks is scored by its embedding similarity to the question, its lexical
overlap with it and, for "how many" questions, whether it states a matching
quantity, and by whether it speaks of the time the question asks about.
:func:`decide` then answers or abstains: weak evidence (by the hand-set thresholds, or
by the calibrated probability of :mod:`rag.abstention`) means an honest abstention.
This module is pure scoring: it imports neither FAISS nor LangChain.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from rag.config import AnsweringSettings
from rag.glossary import stem
from rag.question import (
    STATES_REASON,
    asked_definition,
    asks_date,
    asks_list,
    asks_quantity,
    asks_reason,
    content_bigrams,
    enumerates,
    heads_list,
    measure_words,
    qualifier_words,
)
from rag.short_answer import names_asked_person
from rag.text import CJK, is_chinese
from rag.timeline import TIME_ROLES, Timeline, question_time
from rag.types import (
    Answer,
    Candidate,
    Citation,
    Evidence,
    ScoredChunk,
    SentenceRecord,
    Term,
)

if TYPE_CHECKING:
    from rag.glossary import Glossary

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")  # an English word or acronym (GDP, PM2.5's PM)
_YEAR = re.compile(r"(?:19|20)\d{2}")
# Question words: a bigram of one and its neighbour that no sentence has ("概多" of 大概多少,
# "速怎" of 增速怎样) is an artifact of reading the question by bigrams, not a topic.
_ASKING_CHARS = frozenset("多少几什么哪谁怎吗呢")
_DATE = re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月|\d{1,2}\s*月\s*\d{1,2}\s*日")
_YEAR_OF_EVENT = re.compile(r"(\d{3,4})\s*年")  # "他在1937年发现浮龙的化石" answers "when"
# The words for "also called", a closed class: a question asking one (马来穿山甲的别称) is
# answered by a sentence using any (马来穿山甲…又名爪哇穿山甲).
_ALSO_CALLED = (
    "别名", "别称", "又名", "又称", "也称", "亦称", "或称", "俗称", "俗名", "又叫", "也叫"
)

# Weights calibrated on evals/questions.jsonl (see README: Accuracy).
W_LEXICAL = 0.25
W_QUANTITY = 0.04
W_MEASURE = 0.04
W_CHUNK_RANK = 0.03
W_TIME = 0.03  # the asked time; 0.06 measured worse on the seed, 0 on two reports (README)


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
            self.df.update(set(CJK.findall(text)))

    def __call__(self, gram: str) -> float:
        return self.idf(self.df[gram])

    def idf(self, df: int) -> float:
        return math.log((self.n + 1) / (df + 1)) + 1.0

    def df_of(self, term: str) -> int:
        """Sentences holding ``term`` — at most; a longer term counts as its rarest bigram."""
        if len(term) == 1:
            return self.df[term]
        return min(self.df[term[i : i + 2]] for i in range(len(term) - 1))


def question_terms(
    question: str, weights: TermWeights, glossary: Glossary | None = None
) -> list[Term]:
    """The question's topical terms in the documents' language, weighted by rarity.

    Chinese bigrams stand for themselves. An English word stands for its dictionary
    translations that occur in the documents; a word the dictionary knows but the
    documents never use (``hospital``) is a term no sentence can show. So does an
    English word inside a Chinese question ("深圳GDP多少" → 生产总值).

    A bigram of a question word and its neighbour that no sentence holds ("概多" of
    大概多少) is left out: it would weigh as a topic the documents never mention, the heaviest
    of all, shrink every real term's share and read as one more topic the documents lack.

    An English question's word weighs as rare as the sentences holding any of its
    translations of two characters or more (their counts summed, at most all; a lone
    character is in nearly every sentence and shows little, see :func:`credit`): a word of
    many senses ("aim": 目的, 瞄准, 针对…; "plan": 28 words of the reports) is weaker evidence
    than one of a single sense, and a wrong sense absent from the answer costs it less. An
    English word inside a Chinese question (GDP) is an abbreviation of one sense: its
    commonest translation sets its weight.
    """
    terms = [
        Term(_ALSO_CALLED if g in _ALSO_CALLED else (g,), weights(g))
        for g in sorted(content_bigrams(question))
        if not (weights.df[g] == 0 and _ASKING_CHARS.intersection(g))
    ]
    english = " ".join(LATIN_WORD.findall(question)) if is_chinese(question) else question
    if glossary is None or not english:
        return terms
    stated = {stem(word): forms for word, forms in qualifier_words(english).items()}
    for concept in glossary.concepts(english):
        # "per day" is written 日均 as well as 每天: the dictionary gives "day" the latter only.
        extra = {f for f in stated.get(concept.word, ()) if weights.df_of(f)}
        concept = replace(concept, forms=concept.forms | extra) if extra else concept
        if concept.forms:
            found = [weights.df_of(f) for f in concept.forms]
            if not is_chinese(question):
                words = [n for f, n in zip(concept.forms, found, strict=True) if len(f) > 1]
                found = [min(weights.n, sum(words or found))]
            common = max(found)
            forms = tuple(sorted(concept.forms, key=len, reverse=True))
            terms.append(Term(forms, weights.idf(common)))
        else:
            terms.append(Term((), weights.idf(0)))
    return terms


def credit(term: Term, record: SentenceRecord, subjects: Mapping[str, str] | None = None) -> float:
    """How well sentence ``record`` shows ``term``. A single character is weak evidence (it
    is often part of an unrelated word); a term found only in the section label places
    the sentence rather than answers. Its document's subject (``subjects`` by source: its
    title, :func:`rag.titles.subject_of`) is what every sentence of it speaks of, named or
    not (a single character of it, 镇 of 京东镇, is no word of its own)."""
    text, section = record.text, record.section
    subject = subjects.get(record.source, "") if subjects else ""
    best = 0.0
    for form in term.forms:
        strength = 1.0 if len(form) > 1 else 1 / 3
        if form in text or (len(form) > 1 and form in subject):
            best = max(best, strength)
        elif form in section:
            best = max(best, strength / 2)
    return best


def defines(text: str, term: str) -> bool:
    """Whether sentence ``text`` opens by saying what ``term`` is: "乙酰胺是由乙酸衍生出的酰胺",
    "28.三小场所：小档口…", "暴发户（），也称为新贵", "在数学中，约化群是…"."""
    return bool(_definition_of(term).match(text.strip()))


@functools.lru_cache(maxsize=64)
def _definition_of(term: str) -> re.Pattern[str]:
    """The opening that defines ``term``, compiled once for all of a question's candidates."""
    return re.compile(
        r"^(?:[^，,。]{0,8}[，,])?\s*(?:\d{1,3}[.．、]\s*)?[《“\"「]?"
        + re.escape(term)
        + r"[》”\"」]?\s*(?:[（(][^）)]{0,40}[）)])?\s*[，,]?\s*"
        r"(?:是|为|指|即|[：:]|也称|又称|亦称|简称|全称)"
    )


def score_sentences(
    question: str,
    similarity: np.ndarray,
    candidates: Sequence[int],
    chunk_rank: dict[int, int],
    sentences: Sequence[SentenceRecord],
    terms: Sequence[Term],
    timeline: Timeline | None = None,
    subjects: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """Score each candidate sentence for ``question``; best first.

    ``similarity`` holds each candidate's embedding similarity to the question;
    ``subjects`` each document's subject, by source (see :func:`credit`). A figure
    the question names must be in the sentence or its section; a year it names may also be
    the time the sentence's section speaks of (2017 in a report on 2018 is its review). A
    sentence of the time the question asks about gains, one of another time loses.
    """
    if not candidates:
        return []
    total_weight = sum(t.weight for t in terms)
    wants_number = asks_quantity(question)
    wants_date = asks_date(question)
    measures = measure_words(question)
    numbers_asked = set(_NUMBER.findall(question))
    names_year, in_time = asked_time(question, sentences, timeline)
    named = [form for t in terms for form in t.forms]  # the question's words, as written
    defined = asked_definition(question)
    wants_reason = asks_reason(question)
    wants_list = asks_list(question)
    scored = []
    for idx, dense in zip(candidates, similarity, strict=True):
        record = sentences[idx]
        if record.label and not (wants_list and heads_list(record.text)):
            continue
        text = record.text
        found = sum(t.weight * credit(t, record, subjects) for t in terms)
        lexical = found / total_weight if total_weight else 0.0
        score = float(dense) + W_LEXICAL * lexical
        # A figure the question already names (its year, say) answers nothing.
        has_number = any(n not in numbers_asked for n in _NUMBER.findall(text))
        if wants_number and has_number:
            score += W_QUANTITY
            if any(re.search(rf"\d\s*[万亿千百]?{re.escape(m)}", text) for m in measures):
                score += W_MEASURE
        if (
            (wants_date and (_DATE.search(text) or any(
                y not in numbers_asked for y in _YEAR_OF_EVENT.findall(text))))
            or names_asked_person(question, text, named)
            or (defined and defines(text, defined))
            or (wants_reason and STATES_REASON.search(text))
            or (wants_list and enumerates(text))
        ):
            score += W_QUANTITY  # the kind of answer asked for: a date, a person, a definition,
            # a reason, a list
        timely = in_time(idx)
        missing = [n for n in numbers_asked if n not in record.section + text]
        if missing and not (
            names_year and all(_YEAR.fullmatch(n) for n in missing) and timely is True
        ):
            continue  # a year or figure the question names must be where the answer is
        score += W_CHUNK_RANK / (1 + chunk_rank.get(idx, 9))
        if timely is not None:  # this year's targets for "今年…目标", the review for "去年"
            score += W_TIME if timely else -W_TIME
        scored.append(Candidate(idx, score, float(dense), lexical))
    return sorted(scored, key=lambda c: c.score, reverse=True)


def asked_time(
    question: str, sentences: Sequence[SentenceRecord], timeline: Timeline | None
) -> tuple[bool, Callable[[int], bool | None]]:
    """Whether the question names one year, and for sentence ``i`` whether it speaks of the
    time the question asks about (True), of another time (False), or either has none (None).
    The roles come from each report's own headings (:mod:`rag.timeline`)."""
    cue = question_time(question)

    def in_time(i: int) -> bool | None:
        if timeline is None:
            return None
        role, wanted = timeline.roles[i], timeline.wanted_role(cue, sentences[i].source)
        return None if wanted is None or role not in TIME_ROLES else role == wanted

    return cue.year is not None, in_time


def decide(
    ranked_parts: Sequence[Sequence[Candidate]],
    zh: bool,
    settings: AnsweringSettings,
    probability_at_least: float | None = None,
) -> Evidence:
    """Answer or abstain: each part's best sentence, if its evidence is strong enough.

    With the learned scorer (``probability_at_least``: its calibrated threshold) the
    scores are probabilities, one threshold serves both languages, and the surest
    answer is cited first.
    """
    if probability_at_least is None:
        threshold = settings.abstain_below_zh if zh else settings.abstain_below_en
        min_lexical = settings.min_lexical_zh if zh else 0.0
    else:
        threshold, min_lexical = probability_at_least, 0.0
    chosen: list[Candidate] = []
    for ranked in ranked_parts:
        fresh = ranked and all(c.sentence != ranked[0].sentence for c in chosen)
        if fresh and ranked[0].score >= threshold and ranked[0].lexical >= min_lexical:
            chosen.append(ranked[0])
    if probability_at_least is not None:
        chosen.sort(key=lambda c: c.score, reverse=True)
    chosen = chosen[: settings.max_citations]
    best = max((r[0] for r in ranked_parts if r), key=lambda c: c.score, default=None)
    return Evidence(best, chosen, not chosen, [list(r) for r in ranked_parts])


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


# A list cut at its semicolons: "主要是：A；B；C。" is three sentences, items of one list.
_LIST_OPENS = re.compile(r"[:：]")
_ITEM_ENDS = ("；", ";")
_MAX_ITEMS = 12
_ITEM_GAP = 2  # characters between two items of one paragraph (a line break at most)
_OPENING = 6  # a list opens within its first characters: "主要是：", "具体包括："


def list_rows(row: int, sentences: Sequence[SentenceRecord]) -> range:
    """The sentences of the colon-opened list sentence ``row`` is an item of (``row`` alone
    when it is none): a question asking for the list wants all its items, not the one that
    ranked first ("主要是：经济总量还不够大…；产业优化升级还需加快…。")."""

    def adjacent(a: int) -> bool:  # sentence a + 1 follows a in its paragraph
        x, y = sentences[a], sentences[a + 1]
        return x.source == y.source and 0 <= y.start - x.end <= _ITEM_GAP

    def continues(a: int) -> bool:  # sentence a + 1 is the next item of a's list
        text = sentences[a].text
        return adjacent(a) and (text.rstrip().endswith(_ITEM_ENDS) or heads_list(text))

    first = row
    while (
        first > 0 and row - first < _MAX_ITEMS
        and not _LIST_OPENS.search(sentences[first].text) and continues(first - 1)
    ):
        first -= 1
    if not _LIST_OPENS.search(sentences[first].text):
        # The sentence announcing the list the next one opens: "…还面临不少困难和不足。" +
        # "主要是:经济总量还不够大,…;"
        after = row + 1
        if (
            after < len(sentences) and adjacent(row)
            and _LIST_OPENS.search(sentences[after].text[:_OPENING])
        ):
            return range(row, list_rows(after, sentences).stop)
        return range(row, row + 1)
    last = row
    while last + 1 < len(sentences) and last - first + 1 < _MAX_ITEMS and continues(last):
        last += 1
    return range(first, last + 1)


def with_whole_list(
    answer: Answer, rows: range, sentences: Sequence[SentenceRecord], text: str
) -> Answer:
    """``answer`` with its first citation widened to the list ``rows`` (:func:`list_rows`)
    of the source whose ``text`` is given."""
    if answer.abstained or not answer.citations or len(rows) < 2:
        return answer
    cited, first, last = answer.citations[0], sentences[rows[0]], sentences[rows[-1]]
    quote = text[first.start : last.end]
    context_end = cited.context_start + len(cited.context)
    inside = cited.context_start <= first.start and last.end <= context_end
    whole = replace(
        cited, quote=quote, start=first.start, end=last.end, line=first.line,
        context=cited.context if inside else quote,
        context_start=cited.context_start if inside else first.start,
    )
    body = answer.text.replace(f"{cited.quote}[1]", f"{quote}[1]", 1)
    return replace(answer, text=body, citations=[whole, *answer.citations[1:]])


def compose(
    question: str,
    chosen: Sequence[Candidate],
    closest: Sequence[Candidate],
    abstained: bool,
    sentences: Sequence[SentenceRecord],
    chunk_of: dict[int, ScoredChunk],
    unnamed: Sequence[str] = (),
) -> Answer:
    """Turn the decision into the user-facing answer with numbered citations; ``unnamed``:
    the names the question asks about that the documents never mention."""
    zh = is_chinese(question)
    if abstained:
        text = (
            "文档中没有找到这个问题的答案。下面列出最接近的段落，仅供参考。"
            if zh
            else "The documents do not say. The closest passages are listed below for reference."
        )
        if unnamed and zh:
            text = "文档中没有提到" + "、".join(f"“{n}”" for n in unnamed) + "。" + text
        elif unnamed:
            text = f"The documents never mention {' or '.join(unnamed)}. {text}"
        cites = [
            _citation(sentences[c.sentence], c.score, chunk_of.get(c.sentence)) for c in closest
        ]
        return Answer(text=text, citations=cites, abstained=True)
    cites = [_citation(sentences[c.sentence], c.score, chunk_of.get(c.sentence)) for c in chosen]
    body = " ".join(f"{c.quote}[{n}]" for n, c in enumerate(cites, 1))
    text = body if zh else f"The report (in Chinese) says: {body}"
    return Answer(text=text, citations=cites, abstained=False)
