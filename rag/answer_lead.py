"""Short answer first: the hook the answer composer calls on an extractive answer.

A Chinese reader gets the exact span that answers (``73轮``, ``93.8亿元,增长5.4%``)
on the first line, an English reader the English lead of :mod:`rag.english`;
the quote with its ``[n]`` marker follows unchanged, so the evidence is the same.
Abstentions and LLM-written answers are returned as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rag.english import render_english
from rag.glossary import Glossary
from rag.short_answer import ShortAnswer, pick_span
from rag.text import is_chinese
from rag.types import Answer, Citation


@dataclass(frozen=True)
class Lead:
    """The short answer and where it is: ``citation.quote[span.start:span.end]``, so
    in the source it is ``[citation.start + span.start, citation.start + span.end)``."""

    number: int  # the citation's marker, 1-based
    citation: Citation
    span: ShortAnswer

    @property
    def source_start(self) -> int:
        return self.citation.start + self.span.start

    @property
    def source_end(self) -> int:
        return self.citation.start + self.span.end


def _sure(span: ShortAnswer) -> bool:
    """Figures and dates, and spans found as a figure, a quotation, a list or a person's name
    after an office: on the seed and CMRC trial these hold the answer far more often than
    the gap an echoed question leaves (see evals/span_accuracy.py)."""
    return span.kind in ("number", "date") or span.how in ("figure", "quote", "list", "person")


def find_lead(question: str, answer: Answer, glossary: Glossary | None = None) -> Lead | None:
    """The first citation holding a sure short answer, with that answer; None if none."""
    if answer.abstained or answer.checks is not None:
        return None
    for number, citation in enumerate(answer.citations, 1):
        span = pick_span(question, citation.quote, glossary)
        if span is not None and _sure(span):
            return Lead(number, citation, span)
    return None


def lead_answer(
    question: str, answer: Answer, glossary: Glossary | None = None, whole_list: bool = False
) -> Answer:
    """``answer`` opening with its short answer (Chinese) or English lead (English). A
    ``whole_list`` (the first citation quotes a whole list, :func:`rag.answering.list_rows`)
    is its own answer: no span of it stands for the rest, so an English reader gets every
    figure of it in English, a Chinese reader the list alone."""
    if answer.abstained or answer.checks is not None or not answer.citations:
        return answer
    if whole_list:
        if is_chinese(question):
            return answer
        first = answer.citations[0]
        english = render_english(
            question, first.quote, first.section, glossary=glossary, every_figure=True
        )
        return replace(answer, text=f"{english}\n{answer.text}") if english else answer
    lead = find_lead(question, answer, glossary)
    if is_chinese(question):
        return answer if lead is None else replace(answer, text=f"{lead.span.text}\n{answer.text}")
    citation = lead.citation if lead else answer.citations[0]
    english = render_english(
        question, citation.quote, citation.section, lead.span if lead else None, glossary
    )
    return replace(answer, text=f"{english}\n{answer.text}") if english else answer
