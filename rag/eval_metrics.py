"""Scoring arithmetic for the eval set: pure functions, no model or index needed.

Kept apart from the harness so the numbers can be unit-tested on hand-made results.
Matching is done on normalised text because the report mixes ``128 家`` / ``128家``,
full- and half-width punctuation, and answers may paraphrase number formats.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MIN_REVERSE_QUOTE_CHARS = 8  # a quote shorter than this is too vague to count as "inside gold"

_THOUSANDS_SEP = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_WHITESPACE = re.compile(r"\s+")


def normalize_for_match(text: str) -> str:
    """Canonical form for substring matching, so formatting noise never decides a score.

    NFKC folds full-width digits and punctuation (``７３``, ``，``, ``％``) to ASCII;
    thousands separators are dropped before whitespace is removed so that
    ``4, 123`` (a list) is not mistaken for ``4,123`` (a number).
    """
    t = unicodedata.normalize("NFKC", text).lower()
    t = t.replace("％", "%")  # NFKC already maps it; kept explicit for clarity
    t = _THOUSANDS_SEP.sub("", t)
    return _WHITESPACE.sub("", t)


def fact_present(answer_text: str, alternatives: list[str]) -> bool:
    """True when any spelling of one fact occurs in the answer (empty spellings never match)."""
    answer = normalize_for_match(answer_text)
    for alt in alternatives:
        needle = normalize_for_match(alt)
        if needle and needle in answer:
            return True
    return False


def answer_correct(answer_text: str, answers: list[list[str]]) -> bool:
    """All facts present; an empty key (unanswerable) is False as those score by abstention."""
    if not answers:
        return False
    return all(fact_present(answer_text, fact) for fact in answers)


def gold_in(text: str | None, gold: str | None) -> bool:
    """Normalised containment of ``gold`` in ``text``; missing or empty inputs never match."""
    if not text or not gold:
        return False
    needle = normalize_for_match(gold)
    return bool(needle) and needle in normalize_for_match(text)


def gold_rank(retrieved: list[str], gold: str | None) -> int | None:
    """1-based rank of the first retrieved chunk containing the gold span, or None."""
    for rank, chunk in enumerate(retrieved, start=1):
        if gold_in(chunk, gold):
            return rank
    return None


def citation_hit(first_quote: str | None, gold: str | None) -> bool:
    """Whether the first citation points at the gold span.

    The quote may be wider than the gold (it contains it) or narrower (a clause inside
    a long gold span); the narrow case needs at least ``MIN_REVERSE_QUOTE_CHARS`` so a
    bare number like ``73`` does not count as a citation.
    """
    if not first_quote or not gold:
        return False
    if gold_in(first_quote, gold):
        return True
    long_enough = len(normalize_for_match(first_quote)) >= MIN_REVERSE_QUOTE_CHARS
    return long_enough and gold_in(gold, first_quote)


@dataclass
class QuestionResult:
    """One question's outcome as recorded by the eval harness."""

    id: str
    question: str
    lang: str
    kind: str
    answerable: bool
    retrieved: list[str]  # texts of the retrieved chunks, in rank order
    first_quote: str | None
    answer_text: str
    abstained: bool
    correct: bool
    latency_s: float
    gold: str | None
    expected: list[list[str]]
    doc: str = ""  # the document the question is about ("" for single-document sets)
    cited_source: str | None = None  # file of the first citation


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), ``q`` in [0, 100]; None if empty."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _rate(items: Iterable[bool]) -> float | None:
    """Mean of booleans; None when there is nothing to average (avoids a fake 0.0)."""
    flags = list(items)
    return sum(flags) / len(flags) if flags else None


def _metrics(results: list[QuestionResult]) -> dict[str, Any]:
    """The metric block shared by the overall summary and each breakdown."""
    ans = [r for r in results if r.answerable]
    unans = [r for r in results if not r.answerable]
    ranks = [gold_rank(r.retrieved, r.gold) for r in ans]
    reciprocal = [1.0 / rank if rank else 0.0 for rank in ranks]
    return {
        "n": len(results),
        "n_answerable": len(ans),
        "n_unanswerable": len(unans),
        "hit@1": _rate(rank is not None and rank <= 1 for rank in ranks),
        "hit@5": _rate(rank is not None and rank <= 5 for rank in ranks),
        "mrr": sum(reciprocal) / len(reciprocal) if reciprocal else None,
        "citation@1": _rate(citation_hit(r.first_quote, r.gold) for r in ans),
        "doc@1": _rate(r.cited_source == r.doc for r in ans if r.doc),  # first citation's file
        "accuracy": _rate(r.correct for r in ans),
        "false_abstention_rate": _rate(r.abstained for r in ans),
        "abstention_rate": _rate(r.abstained for r in unans),
        "latency_p50_s": percentile([r.latency_s for r in results], 50),
        "latency_p95_s": percentile([r.latency_s for r in results], 95),
    }


def _failure(r: QuestionResult) -> dict[str, Any] | None:
    """Why a question counts as failed, with what a reader needs to debug it; None if fine."""
    reasons: list[str] = []
    if r.answerable:
        if r.abstained:
            reasons.append("false abstention")
        elif not r.correct:
            reasons.append("wrong answer")
        if not citation_hit(r.first_quote, r.gold):
            reasons.append("citation miss")
    elif not r.abstained:
        reasons.append("answered unanswerable")
    if not reasons:
        return None
    return {
        "id": r.id,
        "question": r.question,
        "doc": r.doc,
        "cited_source": r.cited_source,
        "lang": r.lang,
        "kind": r.kind,
        "reasons": reasons,
        "expected": r.expected,
        "gold": r.gold,
        "got": r.answer_text,
        "cited_quote": r.first_quote,
        "gold_rank": gold_rank(r.retrieved, r.gold) if r.answerable else None,
    }


def _group(
    results: list[QuestionResult], key: Callable[[QuestionResult], str]
) -> dict[str, dict[str, Any]]:
    """Metrics per group, groups in sorted order so reports diff cleanly."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    return {name: _metrics(groups[name]) for name in sorted(groups)}


def summarize(results: list[QuestionResult]) -> dict[str, Any]:
    """Overall metrics (flat keys), breakdowns ``by_lang`` / ``by_kind`` (and ``by_doc``
    when questions name their document), and ``failures``.

    Retrieval and citation metrics are over answerable questions only; abstention rate
    is over unanswerables; latency percentiles are over everything. Rates with an empty
    denominator are None rather than 0.0 so a missing group is not read as a failure.
    """
    summary = _metrics(results)
    summary["by_lang"] = _group(results, lambda r: r.lang)
    summary["by_kind"] = _group(results, lambda r: r.kind)
    if any(r.doc for r in results):
        summary["by_doc"] = _group(results, lambda r: r.doc)
    summary["failures"] = [f for f in (_failure(r) for r in results) if f is not None]
    return summary
