"""Every type that crosses a module boundary: documents, records, retrieval, decisions, answers.

They live here, at the bottom of the import graph, so that any module can name
them without importing the code that makes them (the scoring code does not load
FAISS or LangChain to know what a chunk is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# --- documents -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceText:
    """One readable document; citation offsets index into ``text``."""

    name: str  # path relative to the documents folder
    text: str
    sha256: str  # of the file's bytes, so a changed file is re-embedded
    pages: list[int] | None = None  # PDF: offset in ``text`` where each page starts
    ocr_lines: list[OcrLine] | None = None  # pages read by OCR: each line's box and confidence
    stamp: tuple[int, int] | None = None  # (size, mtime_ns) of the file when it was read


@dataclass(frozen=True)
class SkippedFile:
    """A file of the documents folder that gave no text, and why."""

    name: str
    reason: str


# --- index records -------------------------------------------------------------------------


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
class SentenceRecord:
    """A sentence of a chunked source: what the answerer scores and cites."""

    source: str
    section: str
    start: int
    end: int
    line: int
    text: str
    label: bool = False  # a heading or topic label, not an answer
    page: int | None = None  # 1-based PDF page; None for documents without pages


@dataclass(frozen=True)
class Term:
    """One thing the question asks about: any of ``forms`` in a sentence shows it."""

    forms: tuple[str, ...]  # empty: the documents never mention it
    weight: float


# --- retrieval and decision ----------------------------------------------------------------


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk with its fused rank score and its cosine to the question."""

    chunk: Chunk
    score: float  # fused RRF score
    dense: float  # cosine similarity to the question


@dataclass(frozen=True)
class Candidate:
    """One scored candidate sentence."""

    sentence: int  # index into the index's sentences
    score: float  # with the learned scorer: the probability that it answers
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


# --- answers -------------------------------------------------------------------------------


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
    title: str = ""  # the document's display title (rag.titles); the file name when unknown
    period: str = ""  # the time it speaks of: "2023 targets", "2022 review" (rag.timeline)


@dataclass(frozen=True)
class Answer:
    """What ``rag.query`` returns. When ``abstained`` the citations are the closest passages."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    checks: dict | None = None  # how an LLM answer was verified (rag.llm); None otherwise


@dataclass(frozen=True)
class Retrieval:
    """One question's retrieval and decision, for the eval and the UI."""

    answer: Answer
    hits: list[ScoredChunk]
    evidence: Evidence


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
