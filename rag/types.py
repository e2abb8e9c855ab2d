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


@dataclass(frozen=True)
class OcrLine:
    """One line read by OCR (rag.ocr): where it is on its page and how sure the reading is.

    ``box`` is ``(x0, y0, x1, y1)`` as fractions of the upright page (0–1), so a
    viewer can highlight it at any resolution; ``rotation`` is the clockwise turn
    (0/90/180/270) that made the page upright. ``start``/``end`` index the
    document text; they are ``None`` for a low-confidence line, which is kept out
    of the text so no answer can quote it.
    """

    page: int  # 1-based
    text: str
    confidence: float
    box: tuple[float, float, float, float]
    rotation: int = 0
    start: int | None = None
    end: int | None = None

    @property
    def low_confidence(self) -> bool:
        return self.start is None
