"""What the benchmarks share: paths, targets, the run's settings, progress lines, small measures.

Each benchmark module takes what it needs as arguments (a :class:`Config`, a
:class:`Progress`), so nothing here changes while a run goes on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.app_process import PROJECT_ROOT, app_env
from rag.eval_metrics import percentile

if TYPE_CHECKING:
    from rag.config import Settings

OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
QUESTIONS_FILE = PROJECT_ROOT / "evals" / "questions.jsonl"
SEEDS_DIR = PROJECT_ROOT / "seeds"
TARGETS = {
    "latency_ratio_p50": 1.5,  # query p50 / bare query-embedding p50
    "cold_start_s": 10.0,
    "index_build_s": 5.0,
    "peak_rss_mb": 1536.0,
}


@dataclass(frozen=True)
class Config:
    """What ``python -m benchmarks.run`` was asked to measure (its flags)."""

    sizes: tuple[int, ...] = ()
    engines: tuple[str, ...] = ("torch", "onnx")  # RAG_EMBED_BACKEND of the scale runs
    questions: int = 0  # eval questions for latency; 0 = all
    plants: int = 20  # reports with a planted fact per synthetic corpus
    seed_lines: int = 0  # only the first lines of the seed report; 0 = all
    skip_cold_start: bool = False
    skip_ui: bool = False
    many_docs: int = 0  # documents of the many-short-documents corpus; 0 = all, -1 = skip
    many_questions: int = 200  # CMRC questions asked of it
    milvus_sizes: tuple[int, ...] = ()  # FAISS vs Milvus Lite corpus sizes
    milvus_questions: int = 0  # eval questions in that comparison; 0 = all
    profile: bool = False
    out: Path = OUT_DIR


@dataclass
class Progress:
    """Progress lines on stderr (stdout keeps only the table), also kept for the JSON."""

    role: str = "bench"
    started: float = field(default_factory=time.perf_counter)
    log: list[dict] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def say(self, message: str) -> None:
        elapsed = self.elapsed()
        self.log.append(
            {"t_s": round(elapsed, 1), "load_1min": os.getloadavg()[0], "message": message}
        )
        print(f"[{self.role} {elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)

    def embedding(self, label: str) -> Callable[[int, int], None]:
        """A build progress callback: a line every 30 s with the rate and the time left."""
        started = time.perf_counter()
        last = [started]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] >= 30 or done == total:
                last[0] = now
                rate = done / max(now - started, 1e-9)
                left = (total - done) / rate if rate else float("inf")
                self.say(
                    f"{label}: embedded {done}/{total} texts "
                    f"({rate:.1f}/s, ~{left / 60:.1f} min left)"
                )

        return progress


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p95, mean and max of durations, in milliseconds."""
    values = [s * 1000 for s in seconds]
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "mean_ms": None, "max_ms": None}
    return {
        "n": len(values),
        "p50_ms": round(float(percentile(values, 50)), 2),
        "p95_ms": round(float(percentile(values, 95)), 2),
        "mean_ms": round(sum(values) / len(values), 2),
        "max_ms": round(max(values), 2),
    }


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def load_questions(limit: int = 0) -> list[str]:
    """Eval questions, evenly spread over the file (all of them when ``limit`` is 0)."""
    with QUESTIONS_FILE.open(encoding="utf-8") as handle:
        questions = [json.loads(line)["question"] for line in handle if line.strip()]
    if limit and limit < len(questions):
        picks = np.linspace(0, len(questions) - 1, limit).round().astype(int)
        questions = [questions[i] for i in picks]
    return questions


def seed_file() -> Path:
    return sorted(SEEDS_DIR.glob("*.txt"))[0]


def seed_text(lines: int = 0) -> str:
    text = seed_file().read_text(encoding="utf-8")
    return "\n".join(text.split("\n")[:lines]) + "\n" if lines else text


def rag_env(docs_dir: Path, index_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked ``rag`` process: these folders, quiet logs."""
    defaults = {"RAG_LOG_LEVEL": "WARNING", "TOKENIZERS_PARALLELISM": "false"}
    return app_env(RAG_DOCS_DIR=str(docs_dir), RAG_INDEX_DIR=str(index_dir), **(defaults | extra))


def settings_for(docs_dir: Path, index_dir: Path) -> Settings:
    from rag.config import Settings

    return Settings.from_env().override(docs_dir=docs_dir, index_dir=index_dir)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON through a temporary file, so a reader never sees half of it."""
    from rag.atomic import write_atomically

    write_atomically(path, json.dumps(data, ensure_ascii=False, indent=1))
