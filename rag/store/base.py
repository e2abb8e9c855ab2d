"""What the query path needs from an index backend, and what an index is built from.

A second backend (Milvus, say) implements :class:`Store` in one new module; nothing
else in the package changes. Only light imports here: the answering code may name
these types without loading FAISS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.config import ChunkerSettings
from rag.types import Chunk, OcrLine, SentenceRecord, SkippedFile

if TYPE_CHECKING:
    from rag.config import Settings

Progress = Callable[[int, int], None]  # (texts embedded so far, texts to embed)


class IndexError_(RuntimeError):
    """Base for index problems that the user must act on; the message says how."""


class CorruptIndexError(IndexError_):
    """An index file cannot be read; the message names the file and the fix."""


class NoDocumentsError(IndexError_):
    """There is nothing to index."""


@dataclass(frozen=True)
class IndexSpec:
    """What an index is built from: the documents, where it lives, the model and the chunker."""

    docs_dir: Path
    index_dir: Path
    model_id: str  # the embedding model's stable name (rag.embeddings.model_identity)
    chunker: ChunkerSettings = field(default_factory=ChunkerSettings)

    @classmethod
    def from_settings(cls, settings: Settings) -> IndexSpec:
        from rag.embeddings import model_identity

        return cls(
            settings.documents.docs_dir,
            settings.store.index_dir,
            model_identity(settings.model.name, settings.model.backend),
            settings.documents.chunker,
        )


class SentenceRelevance(Protocol):
    """One question against the sentences: the best rows, and any rows' relevance."""

    ranked: np.ndarray  # sentence rows, best first

    def of(self, rows: list[int]) -> np.ndarray: ...


class Store(Protocol):
    """A loaded index, as the query path uses it.

    ``chunks[i].chunk_id == i`` and sentence rows are positions in ``sentences``. A
    search for one ``source`` filters inside the search, so it finds as many of that
    document's rows as an unfiltered one would among all documents.
    """

    manifest: dict  # format version, model, dimension, chunker, sources {name: sha256}, …
    chunks: list[Chunk]
    sentences: list[SentenceRecord]
    texts: dict[str, str]  # source name -> full decoded text, for context
    ocr_lines: dict[str, list[OcrLine]]  # source name -> its OCR lines (scans only), for the view
    skipped: list[SkippedFile]  # files of the documents folder that gave no text
    warning: str | None  # served, but not up to date (say why to the user)
    location: str  # where it lives: a build folder, a server's address

    def chunk_search(
        self, vector: np.ndarray, fetch: int, source: str | None = None
    ) -> dict[int, float]:
        """Up to ``fetch`` chunk ids (of ``source`` only, if given) → cosine similarity to
        ``vector``, best first."""
        ...

    def chunk_similarity(self, chunk_id: int, vector: np.ndarray) -> float:
        """The cosine of one chunk to ``vector``."""
        ...

    def lexical_search(
        self, text: str, fetch: int, source: str | None = None
    ) -> list[tuple[int, float]]:
        """Chunk ids (of ``source`` only, if given) with a positive BM25 score for ``text``,
        best first, at most ``fetch``."""
        ...

    def sentence_relevance(
        self, vector: np.ndarray, limit: int, source: str | None = None
    ) -> SentenceRelevance:
        """The ``limit`` sentences (of ``source`` only, if given) most relevant to ``vector``,
        and any others' relevance on demand."""
        ...
