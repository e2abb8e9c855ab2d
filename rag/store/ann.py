"""Which FAISS index holds the vectors: exact while a scan is fast, IVF beyond.

Not HNSW: reports are near copies of one another (the same sentences with other
numbers), and a graph search lost its way among them — at 56k chunks HNSW found
46 % of the exact top 10, IVF 99 %; at 1,000 synthetic reports HNSW found the best
sentence for 48 % of the questions, IVF for 94 %.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np

log = logging.getLogger(__name__)

# Exact search up to this many vectors; IVF (clustered, approximate) beyond.
EXACT_UP_TO = 100_000
_IVF_LISTS = 1024  # clusters, at most (64 training vectors each)
CHUNK_PROBES = 32  # clusters searched per question; FAISS stores it in the index file
_SENTENCE_PROBES = 16  # fewer: their candidates are rescored exactly anyway


def _ivf(index: faiss.IndexIVF, vectors: np.ndarray, probes: int) -> faiss.IndexIVF:
    """Train ``index`` on a sample of ``vectors``, fill it and set its search breadth."""
    size = min(len(vectors), index.nlist * 64)
    sample = np.random.default_rng(0).choice(len(vectors), size, replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    index.nprobe = probes
    return index


def _ivf_lists(n_vectors: int) -> int:
    return max(1, min(_IVF_LISTS, n_vectors // 64))


def chunk_index_for(
    vectors: np.ndarray, exact_up_to: int = EXACT_UP_TO
) -> tuple[faiss.Index, str]:
    """An inner-product index holding the chunk ``vectors``, and its manifest name.

    Exact (``IndexFlatIP``) up to ``exact_up_to`` vectors, where a scan still takes
    milliseconds; IVF beyond. Both keep the raw vectors (IVF with a direct map), so
    ``reconstruct_n`` works on either.
    """
    dimension = vectors.shape[1]
    if len(vectors) <= exact_up_to:
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return index, "IndexFlatIP"
    log.info("Clustering %d chunk vectors", len(vectors))
    quantizer = faiss.IndexFlatIP(dimension)
    ivf = faiss.IndexIVFFlat(
        quantizer, dimension, _ivf_lists(len(vectors)), faiss.METRIC_INNER_PRODUCT
    )
    index = _ivf(ivf, vectors, CHUNK_PROBES)
    index.make_direct_map()
    return index, "IndexIVFFlat"


def sentence_ann_for(
    vectors: np.ndarray, scan_up_to: int = EXACT_UP_TO
) -> tuple[faiss.Index | None, str]:
    """An approximate index over sentence and clause ``vectors``, or None while a scan is fast.

    It only names candidates, whose relevance is then computed from the exact
    vectors, so it stores 8 bits per dimension.
    """
    if len(vectors) <= scan_up_to:
        return None, "exact scan"
    log.info("Clustering %d sentence and clause vectors (about a minute)", len(vectors))
    dimension = vectors.shape[1]
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dimension),
        dimension,
        _ivf_lists(len(vectors)),
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    return _ivf(index, vectors, _SENTENCE_PROBES), "IndexIVFScalarQuantizer"
