"""Each sentence of the model's reply checked against the passages it cites.

The extractive contract holds for LLM answers too: a sentence is kept only if it cites
a given passage, every number in it occurs in a passage it cites, and it does not rest
on an instruction planted in a passage. A kept sentence gets real citations (exact
substrings of the source) and its markers are renumbered to them; a dropped one is
recorded with its reason in :class:`LLMCheck`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.llm.numbers import numbers_in
from rag.llm.passages import PageOf, Passage, looks_like_instruction
from rag.llm.reply import MARKER, cited_numbers, marker_numbers, split_reply
from rag.text import is_chinese
from rag.types import Citation

if TYPE_CHECKING:
    from rag.types import ScoredChunk


@dataclass
class LLMCheck:
    """How an LLM answer fared: ``reasons[i]`` says why ``dropped_sentences[i]`` went.

    When the endpoint failed, ``reasons`` holds the failure and nothing was dropped.
    """

    passed: bool  # every sentence verified and nothing fell back
    dropped_sentences: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    fell_back: bool = False
    note: str = ""


@dataclass
class _Verdict:
    sentence: str
    problems: list[str]
    supports: dict[int, tuple[int, int]]  # passage number → supporting span


def verify_sentence(sentence: str, passages: Sequence[Passage]) -> _Verdict:
    """Check one reply sentence against the passages it cites."""
    cited = list(dict.fromkeys(cited_numbers(sentence)))
    problems = []
    if not cited:
        problems.append("uncited: no [n] marker")
    missing = [n for n in cited if not 1 <= n <= len(passages)]
    if missing:
        problems.append(
            "cites a passage that does not exist: " + "".join(f"[{n}]" for n in missing)
        )
    valid = [passages[n - 1] for n in cited if 1 <= n <= len(passages)]
    numbers = numbers_in(sentence)
    if valid:
        absent = [num.text for num in numbers if not any(p.numbers.has(num) for p in valid)]
        if absent:
            problems.append("number not in the cited passage(s): " + ", ".join(absent))
    supports: dict[int, tuple[int, int]] = {}
    for p in valid:
        own = [num for num in numbers if p.numbers.has(num)]
        supports[p.number] = span = p.support(MARKER.sub("", sentence), own)
        if looks_like_instruction(p.chunk.text[span[0] : span[1]]):
            problems.append(f"rests on an instruction inside passage [{p.number}]")
    return _Verdict(sentence, problems, supports)


def verify_reply(
    reply: str, hits: Sequence[ScoredChunk], question: str, page_of: PageOf | None = None
) -> tuple[str, list[Citation], LLMCheck]:
    """The verified text (markers renumbered), its citations, and the record of checks."""
    passages = [Passage.of(n, hit) for n, hit in enumerate(hits, 1)]
    kept: list[str] = []
    citations: list[Citation] = []
    index_of: dict[tuple[str, int, int], int] = {}
    check = LLMCheck(passed=True)
    for verdict in (verify_sentence(s, passages) for s in split_reply(reply)):
        if verdict.problems:
            check.dropped_sentences.append(verdict.sentence)
            check.reasons.append("; ".join(verdict.problems))
            continue
        new_number: dict[int, int] = {}
        for old, span in verdict.supports.items():
            cite = passages[old - 1].citation(span, page_of)
            key = (cite.source, cite.start, cite.end)
            if key not in index_of:
                citations.append(cite)
                index_of[key] = len(citations)
            new_number[old] = index_of[key]

        def renumber(m: re.Match[str], new_number: dict[int, int] = new_number) -> str:
            olds = dict.fromkeys(marker_numbers(m[1]))
            return "".join(f"[{new_number[o]}]" for o in olds)

        kept.append(MARKER.sub(renumber, verdict.sentence))
    check.passed = not check.dropped_sentences and bool(kept)
    return ("" if is_chinese(question) else " ").join(kept), citations, check
