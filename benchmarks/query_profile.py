"""Where the time of a query goes: cProfile over the query loop, per named stage.

Latency alone says a query is slow, not why; the stages named here (embedding,
BM25, FAISS, sentence scoring …) are the places a fix would go.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Sequence
from typing import Any

from benchmarks.app_process import PROJECT_ROOT

STAGES = {
    "query total (Pipeline.retrieve)": ("rag/pipeline.py", "retrieve"),
    "embedding the question (model forward)": ("langchain_huggingface", "_embed"),
    "Retriever.search": ("rag/retrieval.py", "search"),
    "  BM25 scores": ("rag/store/lexical.py", "scores"),
    "  lexical_tokens": ("rag/text.py", "lexical_tokens"),
    "  FAISS search": ("faiss/class_wrappers.py", "replacement_search"),
    "sentence_relevance": ("rag/retrieval.py", "sentence_relevance"),
    "score_sentences": ("rag/answering.py", "score_sentences"),
    "compose": ("rag/answering.py", "compose"),
}


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(PROJECT_ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def profile_queries(pipeline: Any, questions: Sequence[str]) -> dict:
    """Where the time of a query goes (cProfile, cumulative seconds per question)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for q in questions:
        pipeline.query(q)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    n = max(len(questions), 1)

    def matching(file_part: str, func: str) -> list[tuple]:
        return [
            value
            for (filename, _, name), value in stats.items()
            if name == func and file_part in filename.replace("\\", "/")
        ]

    breakdown: dict[str, float] = {}
    for label, (file_part, func) in STAGES.items():
        breakdown[label] = round(1000 * sum(v[3] for v in matching(file_part, func)) / n, 2)
    total = breakdown["query total (Pipeline.retrieve)"]
    embed = breakdown["embedding the question (model forward)"]
    breakdown["everything but the embedding"] = round(total - embed, 2)
    embed_calls = sum(v[1] for v in matching(*STAGES["embedding the question (model forward)"]))
    top = sorted(stats.items(), key=lambda item: item[1][3], reverse=True)[:25]
    top_rows = [
        f"{1000 * ct / n:8.2f} ms/q cum {1000 * tt / n:8.2f} ms/q self {nc:7d} calls  "
        f"{_short(filename)}:{line}({name})"
        for (filename, line, name), (_, nc, tt, ct, _) in top
    ]
    ours = sorted(
        ((key, value) for key, value in stats.items() if "/rag/" in key[0].replace("\\", "/")),
        key=lambda item: item[1][3],
        reverse=True,
    )[:20]
    rag_rows = [
        f"{1000 * ct / n:8.2f} ms/q cum {1000 * tt / n:8.2f} ms/q self  {_short(f)}:{line}({name})"
        for (f, line, name), (_, _, tt, ct, _) in ours
    ]
    return {
        "ms_per_question": breakdown,
        "embedding_calls_per_question": round(embed_calls / n, 2),
        "top_cumulative": top_rows,
        "rag_functions": rag_rows,
    }
