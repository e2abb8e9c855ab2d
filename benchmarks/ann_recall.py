"""What the approximate indexes lose against exact search, measured on the largest corpus.

Past 100k vectors the index switches chunks to IVF and sentences to an IVF scalar
quantiser (``rag.store.ann``); these compare their top results with an exact search
over the same vectors, by id and, because the synthetic corpus is full of
near-copies, by score.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

IVF_PROBE_VALUES = (8, 16, 32, 64)


def chunks_ivf_vs_flat(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> dict:
    """Recall@k of the IVF index ``rag.store.ann`` chooses past 100k chunks, against exact search.

    ``recall_at_k`` counts the exact top-k ids found. The synthetic corpus holds N
    near-copies of every passage (cosine ≈ 0.99), so ids tie; ``score_recall_at_k``
    also counts a result whose similarity reaches the exact k-th one (within 1e-4),
    i.e. an equally good neighbour.
    """

    from rag.store.ann import CHUNK_PROBES, chunk_index_for

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(vectors))
    flat, _ = chunk_index_for(vectors)
    flat.search(queries[:1], k)  # warm-up
    started = time.perf_counter()
    exact, truth = flat.search(queries, k)
    flat_ms = 1000 * (time.perf_counter() - started) / len(queries)
    started = time.perf_counter()
    ivf, kind = chunk_index_for(vectors, exact_up_to=0)
    build_s = time.perf_counter() - started
    reconstruct_ok = bool(np.array_equal(ivf.reconstruct_n(0, ivf.ntotal), vectors))
    by_probes = {}
    for probes in sorted({*IVF_PROBE_VALUES, CHUNK_PROBES}):
        ivf.nprobe = probes
        started = time.perf_counter()
        scores, got = ivf.search(queries, k)
        ms = 1000 * (time.perf_counter() - started) / len(queries)
        recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(got, truth, strict=True)])
        score_recall = np.mean(scores >= exact[:, -1:] - 1e-4)
        by_probes[str(probes)] = {
            "recall_at_k": round(float(recall), 4),
            "score_recall_at_k": round(float(score_recall), 4),
            "top1_agrees": round(float(np.mean(got[:, 0] == truth[:, 0])), 4),
            "ms_per_query": round(ms, 3),
        }
    default = by_probes[str(CHUNK_PROBES)]
    return {
        "vectors": len(vectors),
        "queries": len(queries),
        "k": k,
        "index": kind,
        "lists": ivf.nlist,
        "default_probes": CHUNK_PROBES,
        "recall_at_k_default": default["recall_at_k"],
        "score_recall_at_k_default": default["score_recall_at_k"],
        "build_s": round(build_s, 3),
        "flat_ms_per_query": round(flat_ms, 3),
        "by_probes": by_probes,
        "reconstruct_n_works": reconstruct_ok,
    }


def sentence_ann_vs_scan(index: Any, queries: np.ndarray, k: int = 30) -> dict:
    """What the approximate sentence index (rag.store.sentence_search) loses against the scan.

    Compares the top ``k`` sentences each returns for the same questions, by id and
    by score (near-copies score alike). A corpus too small to carry the index gets
    one built here, to measure it all the same.
    """
    from rag.store.ann import sentence_ann_for
    from rag.store.sentence_search import SentenceSearch

    rows = (index.sentence_vectors, index.clause_vectors, index.clause_owners)
    ann, build_s = index.sentence_ann, None
    if ann is None:
        started = time.perf_counter()
        ann, _ = sentence_ann_for(np.concatenate(rows[:2]), scan_up_to=0)
        build_s = round(time.perf_counter() - started, 2)
    exact, fast = SentenceSearch(*rows), SentenceSearch(*rows, ann)
    limit = 4 * max(k, 30)
    timings: dict[str, list[float]] = {"scan": [], "ann": []}
    same_ids, as_good, best = [], [], []
    for vector in queries:
        found = {}
        for name, search in (("scan", exact), ("ann", fast)):
            started = time.perf_counter()
            found[name] = search.relevance(vector, limit)
            timings[name].append(time.perf_counter() - started)
        scan, ann_top = found["scan"], found["ann"].ranked[:k]
        truth = scan.ranked[:k]
        if not len(truth):
            continue
        scores = scan.of(ann_top.tolist())
        same_ids.append(len(set(truth.tolist()) & set(ann_top.tolist())) / len(truth))
        as_good.append(float(np.mean(scores >= scan.of([int(truth[-1])])[0] - 1e-4)))
        best.append(bool(scores[:1].max(initial=-1) >= scan.of([int(truth[0])])[0] - 1e-4))
    return {
        "vectors": ann.ntotal,
        "queries": len(queries),
        "k": k,
        "index": type(ann).__name__,
        "recall_at_k": round(float(np.mean(same_ids)), 4),
        "score_recall_at_k": round(float(np.mean(as_good)), 4),
        "best_found": round(float(np.mean(best)), 4),
        "scan_ms_per_query": round(1000 * float(np.mean(timings["scan"])), 3),
        "ann_ms_per_query": round(1000 * float(np.mean(timings["ann"])), 3),
        "ann_build_s": build_s,
    }
