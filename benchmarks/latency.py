"""Warm, single-user query latency, against the floor of the bare query embedding.

Embedding the question is work no answer can skip, so the target is a ratio to it
(timed in the same loop, on the same machine state) rather than an absolute figure
that would depend on the machine and its load.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import TARGETS, Progress, summary_ms
from benchmarks.query_profile import profile_queries


def bench_latency(
    pipeline: Any, questions: Sequence[str], force_profile: bool, progress: Progress
) -> dict:
    """Warm, single-user latency of ``pipeline.query`` against the bare query embedding."""
    for q in questions[:3]:  # warm-up
        pipeline.query(q)
    embed_s, query_s, abstained = [], [], 0
    for q in questions:  # interleaved, so both see the same machine state
        started = time.perf_counter()
        pipeline.embeddings.embed_query(q)
        embed_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        answer = pipeline.query(q)
        query_s.append(time.perf_counter() - started)
        abstained += bool(answer.abstained)
    query, floor = summary_ms(query_s), summary_ms(embed_s)
    ratio = query["p50_ms"] / floor["p50_ms"] if floor["p50_ms"] else None
    result = {
        "questions": len(questions),
        "abstained": abstained,
        "query": query,
        "embed_query_floor": floor,
        "ratio_p50": round(ratio, 2) if ratio else None,
        "ratio_p95": round(query["p95_ms"] / floor["p95_ms"], 2) if floor["p95_ms"] else None,
        "target_ratio": TARGETS["latency_ratio_p50"],
        "meets_target": ratio is not None and ratio <= TARGETS["latency_ratio_p50"],
        "samples_ms": {
            "query": [round(s * 1000, 2) for s in query_s],
            "embed": [round(s * 1000, 2) for s in embed_s],
        },
        "profile": None,
    }
    if force_profile or not result["meets_target"]:
        progress.say("latency above target (or --profile): profiling the query loop")
        result["profile"] = profile_queries(pipeline, questions)
    return result
