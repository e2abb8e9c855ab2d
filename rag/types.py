"""Typed boundaries of the package: what a query returns and what a chunk is."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chunk:
    """A span of a source file; ``text == source_text[start:end]`` always holds."""

    chunk_id: int
    text: str
    source: str  # file name relative to the docs folder
    section: str  # heading path, e.g. "一、2022年工作回顾 > 疫情防控科学精准。"
    start: int  # character offset into the decoded source text
    end: int
    line: int  # 1-based line of ``start``


@dataclass(frozen=True)
class Citation:
    """One cited passage: ``quote`` is an exact substring of ``source`` at ``start:end``."""

    quote: str
    source: str
    section: str
    line: int
    start: int
    end: int
    score: float
    context: str = ""  # the chunk the quote was found in, for display
    context_start: int = 0  # offset of ``context`` in the source
    page: int | None = None  # 1-based page of a PDF source; None for other documents


@dataclass(frozen=True)
class Answer:
    """What ``rag.query`` returns. When ``abstained`` the citations are the closest passages."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    checks: dict | None = None  # how an LLM answer was verified (rag.llm); None otherwise
