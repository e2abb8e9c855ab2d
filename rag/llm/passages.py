"""The retrieved chunks as the model saw them, split into the sentences a citation can quote.

A reply sentence is checked against the passages it cites, and its citation quotes the
fewest chunk sentences that hold its numbers, so each passage keeps its sentence
spans and their numbers. Passage text is data: a sentence that addresses the model
("ignore previous instructions …") is recognised here so nothing can rest on it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from rag.chunking import sentence_spans
from rag.llm.numbers import Number, NumberSet
from rag.text import CJK, bigrams, normalize_numbers
from rag.types import Chunk, Citation

if TYPE_CHECKING:
    from rag.types import ScoredChunk

PageOf = Callable[[str, int], "int | None"]  # (source, offset) → 1-based page, for PDFs
_CITATION_FIELDS = {f.name for f in fields(Citation)}

_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|the|your|of)\s+)*"
    r"(?:(?:previous|prior|above|earlier|preceding|system|these|those|other)\s+)?"
    r"(?:instructions?|prompts?|rules|directions)\b"
    r"|\bsystem prompt\b|\byou are now\b"
    r"|(?:忽略|无视|忘记|忘掉|不要理会)(?:之前|以上|上述|前面|先前|此前|上面)?的?(?:所有|全部|一切)?的?"
    r"(?:指令|指示|提示词|提示|设定|规则)|系统提示词",
    re.I,
)
_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{2,}|[a-z]{3,}|\d+(?:\.\d+)?")


def looks_like_instruction(text: str) -> bool:
    """A passage sentence that addresses the model ("ignore previous instructions …")."""
    return bool(_INJECTION.search(unicodedata.normalize("NFKC", text)))


def _terms(text: str) -> set[str]:
    """Chinese character bigrams, Latin words and numbers, for overlap."""
    terms: set[str] = set()
    for w in _WORD.findall(normalize_numbers(text)):
        if CJK.match(w):
            terms.update(bigrams(w))
        else:
            terms.add(w)
    return terms


@dataclass
class Passage:
    """One retrieved chunk as the model saw it, split into quotable sentences."""

    number: int
    hit: ScoredChunk
    numbers: NumberSet  # of its text, section and source: all of what the model was shown
    spans: list[tuple[int, int]]  # sentence offsets within the chunk text
    span_numbers: list[NumberSet]

    @classmethod
    def of(cls, number: int, hit: ScoredChunk) -> Passage:
        chunk = hit.chunk
        spans: list[tuple[int, int]] = []
        pos = 0
        for line in chunk.text.splitlines(keepends=True):
            spans.extend(sentence_spans(chunk.text, pos, pos + len(line.rstrip("\r\n"))))
            pos += len(line)
        spans = spans or [(0, len(chunk.text))]
        return cls(
            number=number,
            hit=hit,
            numbers=NumberSet.of(f"{chunk.source}\n{chunk.section}\n{chunk.text}"),
            spans=spans,
            span_numbers=[NumberSet.of(chunk.text[s:e]) for s, e in spans],
        )

    @property
    def chunk(self) -> Chunk:
        return self.hit.chunk

    def support(self, sentence: str, numbers: Sequence[Number]) -> tuple[int, int]:
        """The span of the chunk a reply sentence rests on.

        The fewest chunk sentences stating its numbers; without numbers, the chunk
        sentence sharing most words with it; failing that, the whole chunk.
        """
        remaining = list(numbers)
        chosen: list[tuple[int, int]] = []
        while remaining:
            best = max(
                range(len(self.spans)),
                key=lambda i: sum(self.span_numbers[i].has(n) for n in remaining),
            )
            covered = [n for n in remaining if self.span_numbers[best].has(n)]
            if not covered:
                break
            chosen.append(self.spans[best])
            remaining = [n for n in remaining if n not in covered]
        if chosen:
            return min(s for s, _ in chosen), max(e for _, e in chosen)
        words = _terms(sentence)
        overlap = [len(words & _terms(self.chunk.text[s:e])) for s, e in self.spans]
        if max(overlap) > 0:
            return self.spans[overlap.index(max(overlap))]
        return self.spans[0][0], self.spans[-1][1]

    def citation(self, span: tuple[int, int], page_of: PageOf | None = None) -> Citation:
        chunk, (s, e) = self.chunk, span
        extra = {}
        if page_of is not None and "page" in _CITATION_FIELDS:  # PDF sources have pages
            extra["page"] = page_of(chunk.source, chunk.start + s)
        return Citation(
            quote=chunk.text[s:e],
            source=chunk.source,
            section=chunk.section,
            line=chunk.line + chunk.text.count("\n", 0, s),
            start=chunk.start + s,
            end=chunk.start + e,
            score=round(float(self.hit.dense), 4),
            context=chunk.text,
            context_start=chunk.start,
            **extra,
        )
