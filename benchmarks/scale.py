"""Scale: synthetic corpora of N reports (``benchmarks/corpus.py``), each in its own process.

A process per size and engine (``RAG_EMBED_BACKEND``: torch, onnx) keeps each run's RSS
its own and frees its memory afterwards. Per run: build time and throughput, index size,
RSS, query latency, retrieval hit@5 on planted facts, an incremental rebuild with one
more report, and (on the largest size, first engine) what the approximate indexes lose.
``python -m benchmarks.scale JOB.json`` is the worker; :func:`bench_scale` starts it for
each size and engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.ann_recall import chunks_ivf_vs_flat, sentence_ann_vs_scan
from benchmarks.common import (
    PROJECT_ROOT,
    Config,
    Progress,
    load_questions,
    rag_env,
    seed_text,
    settings_for,
    summary_ms,
    write_json,
)
from benchmarks.memory import memory_mb
from benchmarks.query_profile import profile_queries
from benchmarks.report import Results


@dataclass(frozen=True)
class ScaleJob:
    """One size for the worker process, passed as a JSON file."""

    n: int
    work_dir: str
    questions: int
    plants: int
    seed_lines: int
    approximate: bool  # also measure approximate vs exact search

    @property
    def result_path(self) -> Path:
        return Path(self.work_dir) / "result.json"


def scale_worker(job: ScaleJob, progress: Progress) -> dict:
    """One corpus size, in its own process (so its RSS is its own)."""
    from benchmarks import corpus
    from rag.embeddings import load_embeddings, model_identity
    from rag.pipeline import Pipeline
    from rag.store.base import IndexSpec
    from rag.store.build import build

    n, work = job.n, Path(job.work_dir)
    docs, index_dir = work / "docs", work / "index"
    text = seed_text(job.seed_lines)
    started = time.perf_counter()
    reports = corpus.generate(text, n, docs, plants=job.plants)
    generate_s = time.perf_counter() - started
    extra = corpus.make_report(text, n, plant=True)  # the report added afterwards
    settings = settings_for(docs, index_dir)
    model_id = model_identity(settings.model.name, settings.model.backend)
    started = time.perf_counter()
    embeddings = load_embeddings(settings.model)
    load_s = time.perf_counter() - started
    embeddings.embed_documents(["预热 warm-up"])

    progress.say(f"N={n}: building the index of {n} reports ({settings.model.backend})")
    started, cpu = time.perf_counter(), time.process_time()
    build_dir, _ = build(
        IndexSpec(docs, index_dir, model_id), embeddings, progress=progress.embedding(f"N={n}")
    )
    build_s, build_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    files = {p.name: p.stat().st_size for p in build_dir.iterdir() if p.is_file()}
    memory_after_build = memory_mb()

    started = time.perf_counter()
    pipeline = Pipeline(settings, embeddings=embeddings)
    pipeline_s = time.perf_counter() - started
    planted = [r.planted for r in reports if r.planted]
    general = load_questions(job.questions)
    for q in general[:3]:
        pipeline.query(q)
    latencies, hits, answered = [], 0, 0
    for fact in planted:
        t0 = time.perf_counter()
        result = pipeline.retrieve(fact.question, k=5)
        latencies.append(time.perf_counter() - t0)
        hits += any(fact.sentence in h.chunk.text for h in result.hits[:5])
        answered += fact.answer in result.answer.text
    for q in general:
        t0 = time.perf_counter()
        pipeline.retrieve(q)
        latencies.append(time.perf_counter() - t0)
    memory_serving = memory_mb()
    progress.say(f"N={n}: profiling the queries")
    profile = profile_queries(pipeline, general)
    profile = {
        "ms_per_question": profile["ms_per_question"],
        "rag_functions": profile["rag_functions"][:10],
    }

    approximate = None
    if job.approximate:
        progress.say(f"N={n}: approximate vs exact recall")
        asked = [*(f.question for f in planted), *general]
        queries = np.asarray([embeddings.embed_query(q) for q in asked], dtype=np.float32)
        index = pipeline.store.index.chunk_index
        chunk_vectors = index.reconstruct_n(0, index.ntotal)
        approximate = {
            "chunks": chunks_ivf_vs_flat(chunk_vectors, queries),
            "sentences": sentence_ann_vs_scan(pipeline.store.index, queries),
        }
    del pipeline

    progress.say(f"N={n}: incremental rebuild with one more report")
    (docs / extra.name).write_text(extra.text, encoding="utf-8")
    started = time.perf_counter()
    build_dir, _ = build(IndexSpec(docs, index_dir, model_id), embeddings)
    incremental_s = time.perf_counter() - started
    after = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    # What that report costs on its own: the same report indexed alone, from scratch.
    alone_docs = work / "alone"
    alone_docs.mkdir()
    (alone_docs / extra.name).write_text(extra.text, encoding="utf-8")
    alone_dir, _ = build(IndexSpec(alone_docs, work / "alone-index", model_id), embeddings)
    alone = json.loads((alone_dir / "manifest.json").read_text(encoding="utf-8"))
    expected = alone["embedded"]
    embedded = manifest["embedded"]
    return {
        "n": n,
        "engine": settings.model.backend,
        "generate_s": round(generate_s, 2),
        "model_load_s": round(load_s, 2),
        "chunks": manifest["chunks"],
        "sentences": manifest["sentences"],
        "embedded": embedded,
        "build_s": round(build_s, 2),
        "build_cpu_s": round(build_cpu_s, 2),
        "load_average_after_build": [round(x, 2) for x in os.getloadavg()],
        "chunks_per_s": round(manifest["chunks"] / build_s, 2),
        "texts_per_s": round(embedded / build_s, 2),
        "ms_per_text": round(1000 * build_s / max(embedded, 1), 2),
        "faiss_index": manifest["faiss_index"],
        "sentence_index": manifest["sentence_index"],
        "index_bytes": sum(files.values()),
        "index_files": files,
        "pipeline_load_s": round(pipeline_s, 2),
        "memory_after_build": memory_after_build,
        "memory_after_queries": memory_serving,
        "query": summary_ms(latencies),
        "query_profile": profile,
        "planted_questions": len(planted),
        "hit_at_5": round(hits / len(planted), 4) if planted else None,
        "planted_answer_in_text": round(answered / len(planted), 4) if planted else None,
        "incremental": {
            "added_report": extra.name,
            "report_chunks": alone["chunks"],
            "report_sentences": alone["sentences"],
            "report_alone_embedded": expected,
            "embedded": after["embedded"],
            # Texts other reports already hold are not embedded again, so it may be fewer.
            "at_most_the_report_alone": after["embedded"] <= expected,
            "chunks_after": after["chunks"],
            "seconds": round(incremental_s, 2),
        },
        "approximate_vs_exact": approximate,
    }


def bench_scale(config: Config, tmp: Path, results: Results, progress: Progress) -> list[dict]:
    """Each size, once per engine, in its own process; ``results.data["scale"]`` grows as
    they finish. Both engines of a size run before the next size, so a run stopped early
    still has its ratios."""
    done: list[dict] = results.data.setdefault("scale", [])
    for n, engine in ((n, e) for n in config.sizes for e in config.engines):
        work = tmp / f"scale-{engine}-{n}"
        work.mkdir()
        job = ScaleJob(
            n=n,
            work_dir=str(work),
            questions=config.questions,
            plants=config.plants,
            seed_lines=config.seed_lines,
            # What IVF loses does not depend on the engine: measured once, on the first.
            approximate=n == max(config.sizes) and engine == config.engines[0],
        )
        job_file = work / "job.json"
        write_json(job_file, asdict(job))
        progress.say(f"scale N={n}, {engine} engine (own process)")
        started = time.time()
        subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", str(job_file)],
            cwd=PROJECT_ROOT,
            env=rag_env(work / "docs", work / "index", RAG_EMBED_BACKEND=engine),
            check=True,
        )
        result = json.loads(job.result_path.read_text(encoding="utf-8"))
        result["process_s"] = round(time.time() - started, 1)
        done.append(result)
        shutil.rmtree(work, ignore_errors=True)
        results.checkpoint()
    return done


def extrapolate(scale: Sequence[dict], build: dict | None) -> dict:
    """Embedding cost per text and report, and what bigger corpora would take."""
    if scale:
        largest = max(scale, key=lambda r: r["n"])
        s_per_text = largest["build_s"] / max(largest["embedded"], 1)
        texts_per_report = largest["embedded"] / largest["n"]
        chunks_per_report = largest["chunks"] / largest["n"]
        bytes_per_chunk = largest["index_bytes"] / max(largest["chunks"], 1)
        basis = f"scale N={largest['n']}"
    elif build:
        s_per_text = build["seconds"] / max(build["embedded"], 1)
        texts_per_report = build["embedded"] / max(build["documents"], 1)
        chunks_per_report = build["chunks"] / max(build["documents"], 1)
        bytes_per_chunk = build["index_bytes"] / max(build["chunks"], 1)
        basis = "index build"
    else:
        return {}

    def reports_for(chunks: float) -> int:
        return int(chunks / chunks_per_report)

    return {
        "basis": basis,
        "ms_per_embedded_text": round(1000 * s_per_text, 2),
        "ms_per_chunk_all_embeddings": round(
            1000 * s_per_text * texts_per_report / chunks_per_report, 1
        ),
        "texts_per_report": round(texts_per_report, 1),
        "chunks_per_report": round(chunks_per_report, 1),
        "index_bytes_per_chunk": round(bytes_per_chunk),
        "build_minutes": {
            str(n): round(n * texts_per_report * s_per_text / 60, 1) for n in (10, 100, 1000, 10000)
        },
        "reports_at_100k_chunks": reports_for(100_000),
        "reports_at_1m_chunks": reports_for(1_000_000),
        "index_gb_at_1m_chunks": round(bytes_per_chunk * 1_000_000 / 1e9, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The worker: run the job in ``argv[0]`` (a JSON :class:`ScaleJob`), write its result."""
    [job_file] = sys.argv[1:] if argv is None else argv
    job = ScaleJob(**json.loads(Path(job_file).read_text(encoding="utf-8")))
    engine = os.environ.get("RAG_EMBED_BACKEND", "default")
    result = scale_worker(job, Progress(role=f"N={job.n} {engine} worker"))
    write_json(job.result_path, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
