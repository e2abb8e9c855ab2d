"""Where the records sit in each other: the sentences of a chunk, the page of an offset.

Backend-independent: computed once from a store's chunk and sentence lists.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from rag.types import Chunk, SentenceRecord


class RecordMap:
    """Per source, the sentence starts (sorted) and their rows."""

    def __init__(self, chunks: Sequence[Chunk], sentences: Sequence[SentenceRecord]) -> None:
        self.sentences = sentences
        by_source: dict[str, list[tuple[int, int]]] = {}
        for i, s in enumerate(sentences):
            by_source.setdefault(s.source, []).append((s.start, i))
        self._starts: dict[str, tuple[list[int], list[int]]] = {}
        for source, pairs in by_source.items():
            pairs.sort()
            self._starts[source] = ([p[0] for p in pairs], [p[1] for p in pairs])
        # The chunk each answerable sentence is searched through (its first one).
        self.sentence_chunks = [-1] * len(sentences)
        for chunk in chunks:
            for i in self.sentences_in(chunk):
                if self.sentence_chunks[i] < 0 and not sentences[i].label:
                    self.sentence_chunks[i] = chunk.chunk_id

    def sentences_in(self, chunk: Chunk) -> list[int]:
        """The rows of the sentences lying wholly inside ``chunk``."""
        starts, ids = self._starts.get(chunk.source, ([], []))
        lo = bisect.bisect_left(starts, chunk.start)
        hi = bisect.bisect_left(starts, chunk.end)
        return [ids[j] for j in range(lo, hi) if self.sentences[ids[j]].end <= chunk.end]

    def row_at(self, source: str, offset: int) -> int | None:
        """The row of the sentence of ``source`` holding ``offset``, if any."""
        starts, ids = self._starts.get(source, ([], []))
        i = bisect.bisect_right(starts, offset) - 1
        return ids[i] if i >= 0 else None

    def page_at(self, source: str, offset: int) -> int | None:
        """The PDF page of ``offset`` in ``source`` (that of the sentence holding it)."""
        row = self.row_at(source, offset)
        return self.sentences[row].page if row is not None else None
