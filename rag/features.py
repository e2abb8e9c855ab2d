"""What the learned scorer sees of one (question, candidate sentence) pair: named floats.

Today's evidence (embedding similarity, IDF-weighted word coverage, asked quantity or date
present, chunk rank) plus what the hand-set score missed: whether the sentence states the
asked *attribute* and not merely the topic every candidate shares, whether it speaks of the
asked time (this year's target or last year's result), the asked unit, the section's role,
its shape (heading-like, length, place in its chunk) and how far it trails the best
candidate (which is what calibrates an abstention).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answering import _DATE, _NUMBER, credit
from rag.question import (
    _MEASURE_AFTER_ASK,
    asks_about_document,
    asks_date,
    asks_list,
    asks_quantity,
    heads_list,
)
from rag.timeline import APPENDIX, MULTI_YEAR, PLAN, REVIEW, TIME_ROLES, Timeline, question_time
from rag.types import SentenceRecord, Term

FEATURE_NAMES: tuple[str, ...] = (
    "dense",  # embedding similarity to the question
    "dense_gap",  # dense minus the best candidate's dense (0 for the best)
    "lexical",  # IDF-weighted share of the question's terms the sentence shows
    "lexical_gap",
    "attribute",  # the same over the terms few candidates share (not the topic entity)
    "attribute_gap",
    "has_number",  # a figure the question does not already name
    "quantity",  # the question asks how many/much x the sentence has a figure (these four
    # only where the sentence shows some of the question's terms)
    "measure",  # ... in the measure word asked (多少轮 → 73轮)
    "unit",  # a unit the question names (亿元, %, percent, yuan) follows a figure
    "date",  # the question asks when x the sentence has a date
    "numbers_missing",  # a figure the question names (not a year) is absent
    "year_missing",  # a year the question names is in neither the sentence nor its section
    "time_match",  # the sentence's role is the time the question asks about
    "time_mismatch",  # ... another time (last year's result for this year's target)
    "role_review",
    "role_multi_year",
    "role_plan",
    "role_appendix",
    "heading_like",  # short, no verb-like length: names a subject rather than answers
    "length",  # log characters
    "position",  # place in its chunk, 0 first
    "chunk_rank",  # 1 / (1 + rank of the chunk it came from)
)

_UNITS_ZH = re.compile(
    r"万亿元|亿元|万元|元|万人次|万人|人次|万户|公里|千米|平方公里|平方米|万平方米|亩|万亩|吨|万吨"
    r"|千瓦|家|所|座|个|项|户|套|辆|张|台|%"
)
_UNITS_EN = {
    r"\bpercent(age)?\b|\bshare\b|\brate\b|\bproportion\b|%|\bgrow(th|s|n)?\b|\bgrew\b": "%",
    r"\bkilomet(er|re)s?\b|\bkm\b": "公里",
    r"\bsquare met(er|re)s?\b": "平方米",
    r"\bhectares?\b|\bmu\b": "亩",
    r"\btons?\b|\btonnes?\b": "吨",
    r"\bhouseholds?\b": "户",
    r"\bpeople\b|\bpersons?\b|\bresidents?\b": "人",
    r"\bcompan(y|ies)\b|\benterprises?\b|\bfirms?\b": "家",
    r"\bprojects?\b": "项",
    r"\bschools?\b": "所",
}
_RATE_ZH = re.compile(r"比例|占比|增速|增幅|增长率|百分之|比重|率")
# A question about money wants an amount in yuan, whichever scale the report writes it in:
# "How much did the bridge cost?" is not answered by a sentence naming the bridge alone.
_MONEY = re.compile(
    r"\b(cost|costs|spent|spend|spending|invest\w*|revenue|income|budget\w*|money|funds?"
    r"|funding|earn\w*|expenditure|yuan|rmb)\b|花了|花费|资金|经费|预算|收入|成本|造价|多少钱",
    re.I,
)
_YUAN = ("元", "万元", "亿元", "万亿元")
_HEADING_END = re.compile(r"[：:]$")
_YEAR_OF = re.compile(r"(?<!\d)(?:19|20)\d{2}\s*年(?!\s*\d)")


@dataclass(frozen=True)
class QuestionCues:
    """What one question part asks for, read once for all its candidates."""

    wants_number: bool
    wants_date: bool
    measures: frozenset[str]
    units: frozenset[str]
    numbers_asked: frozenset[str]
    years_asked: frozenset[str]
    about_document: bool  # who delivered the report, when: its cover and sign-off answer


def question_cues(question: str) -> QuestionCues:
    units = set(_UNITS_ZH.findall(question))
    if _RATE_ZH.search(question):
        units.add("%")
    if _MONEY.search(question):
        units.update(_YUAN)
    for pattern, unit in _UNITS_EN.items():
        if re.search(pattern, question, re.I):
            units.add(unit)
    years = set(re.findall(r"(?:19|20)\d{2}", question))
    return QuestionCues(
        wants_number=asks_quantity(question),
        wants_date=asks_date(question),
        measures=frozenset(_MEASURE_AFTER_ASK.findall(question)),
        units=frozenset(units),
        numbers_asked=frozenset(n for n in _NUMBER.findall(question) if n not in years),
        years_asked=frozenset(years),
        about_document=asks_about_document(question),
    )


def _has_unit(text: str, unit: str) -> bool:
    return bool(re.search(rf"\d\s*{re.escape(unit)}", text))


def candidate_features(
    question: str,
    similarity: np.ndarray,
    candidates: Sequence[int],
    chunk_rank: dict[int, int],
    position: dict[int, float],
    sentences: Sequence[SentenceRecord],
    terms: Sequence[Term],
    timeline: Timeline | None,
    subjects: Mapping[str, str] | None = None,
) -> tuple[list[int], np.ndarray]:
    """The candidates that can answer (headings never do) and their feature rows.

    Rows follow :data:`FEATURE_NAMES`. ``similarity`` holds each candidate's embedding
    similarity to ``question``; ``position`` each sentence's place in its chunk (0..1);
    ``subjects`` each document's subject (:func:`rag.answering.credit`).
    """
    cues = question_cues(question)
    time_cue = question_time(question)
    listed = asks_list(question)  # the line a list follows answers it (rag.answering)
    kept = [
        (idx, float(d)) for idx, d in zip(candidates, similarity, strict=True)
        if not sentences[idx].label or (listed and heads_list(sentences[idx].text))
    ]
    if not kept:
        return [], np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    credits = np.array(
        [[credit(t, sentences[i], subjects) for t in terms] for i, _ in kept],
        dtype=np.float64,
    ).reshape(len(kept), len(terms))
    weight = np.array([t.weight for t in terms], dtype=np.float64)
    # A term most candidates show is the topic they share; the rest is what is asked of it.
    share = (credits > 0).mean(axis=0) if len(kept) > 1 else np.zeros(len(terms))
    attribute_weight = weight * (1.0 - share)
    lexical = credits @ weight / weight.sum() if weight.sum() else np.zeros(len(kept))
    attribute = (
        credits @ attribute_weight / attribute_weight.sum()
        if attribute_weight.sum() > 1e-9
        else np.zeros(len(kept))
    )
    dense = np.array([d for _, d in kept])
    rows = []
    for n, (idx, _) in enumerate(kept):
        record = sentences[idx]
        text = record.text
        named = cues.numbers_asked | cues.years_asked
        # A year ("2023年") dates a sentence; it is no answer to "how many".
        has_number = any(x not in named for x in _NUMBER.findall(_YEAR_OF.sub(" ", text)))
        # A figure in the asked unit answers only a sentence that speaks of what was asked:
        # "改造危桥3座" is no answer to "新建了几座污水处理厂" however well 座 matches.
        # (A question about the report itself shares no word with its date or signatory.)
        on_topic = lexical[n] > 0 or cues.about_document
        measure = on_topic and any(_has_unit(text, m[0]) for m in cues.measures)
        unit = on_topic and any(_has_unit(text, u) for u in cues.units)
        role = timeline.roles[idx] if timeline else ""
        wanted = timeline.wanted_role(time_cue, record.source) if timeline else None
        in_time = role in TIME_ROLES
        rows.append(
            [
                dense[n],
                dense[n] - dense.max(),
                lexical[n],
                lexical[n] - lexical.max(),
                attribute[n],
                attribute[n] - attribute.max(),
                float(has_number),
                float(cues.wants_number and has_number and on_topic),
                float(cues.wants_number and has_number and measure),
                float(bool(cues.units) and unit),
                float(cues.wants_date and on_topic and bool(_DATE.search(text))),
                float(not all(x in record.section + text for x in cues.numbers_asked)),
                float(not all(y in record.section + text for y in cues.years_asked)),
                float(wanted is not None and role == wanted),
                float(wanted is not None and in_time and role != wanted),
                float(role == REVIEW),
                float(role == MULTI_YEAR),
                float(role == PLAN),
                float(role == APPENDIX),
                float(len(text) <= 16 or bool(_HEADING_END.search(text))),
                math.log1p(len(text)) / 5.0,
                position.get(idx, 0.0),
                1.0 / (1 + chunk_rank.get(idx, 9)),
            ]
        )
    return [idx for idx, _ in kept], np.asarray(rows, dtype=np.float32)
