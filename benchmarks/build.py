"""Index build: the documents into a fresh index folder, the model already loaded.

The model load is timed apart (``model_load_s``), so this is the cost a user pays
each time the documents change: chunking, embedding every text, writing the index.
``python -m benchmarks.build OUT.json`` is the same build in a fresh process on the
engine ``RAG_EMBED_BACKEND`` names; :func:`bench_build_engines` runs it per engine, so
torch and ONNX are compared on the same documents in one run, each with its own RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import PROJECT_ROOT, TARGETS, Progress, dir_bytes, rag_env, write_json


def bench_build(embeddings: Any, model_id: str, docs_dir: Path, index_dir: Path) -> dict:
    """``rag.store.build.build`` of ``docs_dir`` into a fresh folder, the model already loaded."""
    from rag.store.base import IndexSpec
    from rag.store.build import build

    embeddings.embed_documents(["预热 warm-up"])  # first-call overheads are not the build's
    started, cpu = time.perf_counter(), time.process_time()
    build_dir, _ = build(IndexSpec(docs_dir, index_dir, model_id), embeddings)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    embedded = manifest["embedded"]
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(cpu, 2),
        "documents": len(manifest["sources"]),
        "chunks": manifest["chunks"],
        "sentences": manifest["sentences"],
        "embedded": embedded,
        "texts_per_s": round(embedded / seconds, 2),
        "ms_per_text": round(1000 * seconds / max(embedded, 1), 1),
        "ms_per_chunk_all_embeddings": round(1000 * seconds / max(manifest["chunks"], 1), 1),
        "index_bytes": dir_bytes(build_dir),
        "faiss_index": manifest["faiss_index"],
        "target_s": TARGETS["index_build_s"],
        "meets_target": seconds <= TARGETS["index_build_s"],
    }


def bench_build_engines(
    engines: Sequence[str], docs_dir: Path, tmp: Path, progress: Progress
) -> list[dict]:
    """The build of ``docs_dir`` once per engine, each in a fresh process."""
    done = []
    for engine in engines:
        out = tmp / f"build-{engine}.json"
        progress.say(f"index build of {docs_dir}, {engine} engine (own process)")
        subprocess.run(
            [sys.executable, "-m", "benchmarks.build", str(out)],
            cwd=PROJECT_ROOT,
            env=rag_env(docs_dir, tmp / f"build-{engine}-index", RAG_EMBED_BACKEND=engine),
            check=True,
        )
        done.append(json.loads(out.read_text(encoding="utf-8")))
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """The worker: load the model the environment names, build, write the figures to argv[0]."""
    from benchmarks.memory import memory_mb
    from rag.config import Settings
    from rag.embeddings import load_embeddings, model_identity

    [out] = sys.argv[1:] if argv is None else argv
    settings = Settings.from_env()
    started = time.perf_counter()
    embeddings = load_embeddings(settings.model)
    load_s = time.perf_counter() - started
    model_id = model_identity(settings.model.name, settings.model.backend)
    result = bench_build(
        embeddings, model_id, settings.documents.docs_dir, settings.store.index_dir
    )
    write_json(
        Path(out),
        {"engine": settings.model.backend, "model_load_s": round(load_s, 2), **result,
         "memory": memory_mb()},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
