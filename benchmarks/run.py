"""Performance benchmarks: ``make bench`` (= ``python -m benchmarks.run``).

Measured on this machine, in one run:

* **index build** of the documents (``seeds/``) into a fresh index folder, model loaded,
  with the default engine and then once per engine (``--engines``) in its own process;
* **query latency** (extractive answer, warm, one user) over the eval questions, against
  the floor of the bare query embedding timed in the same loop; cProfile breakdown
  when the median is above 1.5× the floor;
* **cold start**: process start → first answer with the index built and not built,
  the phases (imports, model load, index load), and process start → UI ready;
* **memory**: peak RSS (``VmHWM``) of this process and of the serving app;
* **scale**: synthetic corpora of N reports (``benchmarks/corpus.py``), each measured
  in its own process once per engine (torch and ONNX side by side, with ratios):
  build time, throughput, index size, RSS, query latency, retrieval hit@5 on planted
  facts, an incremental rebuild, and what the approximate (IVF) indexes lose against
  exact search;
* **FAISS vs Milvus Lite** (``benchmarks/milvus_vs_faiss.py``) on synthetic corpora,
  each size in its own process, when the ``milvus`` extra is installed.

Writes ``benchmarks/out/bench.json``, ``bench.md`` and ``bench.png`` (git-ignored) and
prints the table. ``--help`` lists the switches; the test runs it tiny.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.build import bench_build, bench_build_engines
from benchmarks.cold_start import bench_cold_start
from benchmarks.common import (
    OUT_DIR,
    PROJECT_ROOT,
    SEEDS_DIR,
    TARGETS,
    Config,
    Progress,
    load_questions,
    rag_env,
    seed_file,
    seed_text,
    settings_for,
)
from benchmarks.latency import bench_latency
from benchmarks.memory import memory_mb, memory_section
from benchmarks.report import Results, engine_ratios
from benchmarks.scale import bench_scale, extrapolate
from benchmarks.ui import bench_ui

# N = 1000 takes 20 min with ONNX and (extrapolated) 50 with torch on a 2-core machine;
# ``--sizes 10,100,1000`` still runs it.
DEFAULT_SIZES = "10,100"
# N = 100 takes about 12 minutes here, N = 1000 (by extrapolation) over two hours.
DEFAULT_MILVUS_SIZES = "100"
DEFAULT_ENGINES = "torch,onnx"
ENGINES = ("torch", "onnx")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"corpus sizes N, comma-separated (default {DEFAULT_SIZES}; "
        "'' or 0 skips the scale runs)",
    )
    parser.add_argument(
        "--engines",
        default=DEFAULT_ENGINES,
        help=f"embedding engines (RAG_EMBED_BACKEND) of the per-engine seed build and the "
        f"scale runs, comma-separated (default {DEFAULT_ENGINES})",
    )
    parser.add_argument(
        "--questions",
        type=int,
        default=0,
        help="eval questions for latency (default 0 = all of evals/questions.jsonl)",
    )
    parser.add_argument(
        "--plants", type=int, default=20, help="reports with a planted fact per corpus (default 20)"
    )
    parser.add_argument(
        "--seed-lines",
        type=int,
        default=0,
        help="use only the first lines of the seed report (tests; 0 = all)",
    )
    parser.add_argument("--skip-cold-start", action="store_true", help="skip the cold-start runs")
    parser.add_argument("--skip-ui", action="store_true", help="skip starting app.py")
    parser.add_argument(
        "--many-docs", type=int, default=0,
        help="documents of the many-short-documents corpus (default 0 = all 818; -1 skips)",
    )
    parser.add_argument(
        "--many-questions", type=int, default=200, help="CMRC questions asked of it (default 200)"
    )
    parser.add_argument(
        "--milvus-sizes",
        default=DEFAULT_MILVUS_SIZES,
        help=f"FAISS vs Milvus Lite corpus sizes (default {DEFAULT_MILVUS_SIZES}; '' or 0 skips)",
    )
    parser.add_argument(
        "--milvus-questions",
        type=int,
        default=0,
        help="eval questions in the Milvus comparison (default 0 = all)",
    )
    parser.add_argument("--profile", action="store_true", help="profile queries even on target")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    return parser.parse_args(argv)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(s) for s in str(text).split(",") if s.strip() and int(s) > 0}))


def _engines(text: str) -> tuple[str, ...]:
    engines = tuple(dict.fromkeys(e.strip().lower() for e in text.split(",") if e.strip()))
    unknown = set(engines) - set(ENGINES)
    if unknown or not engines:
        raise SystemExit(f"--engines takes {' and/or '.join(ENGINES)}, not {text!r}")
    return engines


def config_of(args: argparse.Namespace) -> Config:
    return Config(
        sizes=_sizes(args.sizes),
        engines=_engines(args.engines),
        questions=args.questions,
        plants=args.plants,
        seed_lines=args.seed_lines,
        skip_cold_start=args.skip_cold_start,
        skip_ui=args.skip_ui,
        many_docs=args.many_docs,
        many_questions=args.many_questions,
        milvus_sizes=_sizes(args.milvus_sizes),
        milvus_questions=args.milvus_questions,
        profile=args.profile,
        out=args.out,
    )


def _meta(args: argparse.Namespace) -> dict:
    import torch

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "machine": f"{os.cpu_count()} CPU, {platform.machine()}, {platform.system()}",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "commit": commit or None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "args": {k: str(v) for k, v in vars(args).items() if v is not None},
    }


def measure(config: Config, results: Results, progress: Progress) -> None:
    """Every benchmark in turn, checkpointing ``results`` after each."""
    from rag.embeddings import load_embeddings, model_identity
    from rag.pipeline import Pipeline

    report = results.data
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if config.seed_lines:
            docs = tmp / "docs"
            docs.mkdir()
            (docs / seed_file().name).write_text(seed_text(config.seed_lines), encoding="utf-8")
        else:
            docs = SEEDS_DIR
        index_dir = tmp / "index"
        settings = settings_for(docs, index_dir)
        progress.say("loading the embedding model")
        started = time.perf_counter()
        embeddings = load_embeddings(settings.model)
        report["model_load_s"] = round(time.perf_counter() - started, 2)
        results.checkpoint()
        progress.say(f"index build of {docs} into a fresh folder")
        report["index_build"] = bench_build(
            embeddings, model_identity(settings.model.name, settings.model.backend), docs, index_dir
        )
        results.checkpoint()
        report["index_build_by_engine"] = bench_build_engines(config.engines, docs, tmp, progress)
        results.checkpoint()
        pipeline = Pipeline(settings, embeddings=embeddings)
        questions = load_questions(config.questions)
        progress.say(f"query latency over {len(questions)} questions")
        report["query_latency"] = bench_latency(pipeline, questions, config.profile, progress)
        bench_memory = memory_mb()  # while the pipeline is loaded
        report["memory"] = memory_section(bench_memory)
        del pipeline
        results.checkpoint()
        report["cold_start"] = (
            {"skipped": "--skip-cold-start"}
            if config.skip_cold_start
            else bench_cold_start(docs, index_dir, tmp, progress)
        )
        results.checkpoint()
        if config.skip_ui:
            report["ui"] = {"skipped": "--skip-ui"}
        else:
            progress.say("UI: app.py start -> /status ready, then 10 /ask calls")
            report["ui"] = bench_ui(docs, index_dir, questions[:10], tmp)
            report["memory"] = memory_section(
                bench_memory, report["ui"]["app_memory_after_serving"]
            )
        results.checkpoint()
        bench_scale(config, tmp, results, progress)
        report["many_documents"] = bench_many_docs(config, tmp, progress)
        results.checkpoint()
        report["milvus_vs_faiss"] = bench_milvus(config, tmp, results, progress)
        results.checkpoint()
    report["approximate_vs_exact"] = next(
        (r["approximate_vs_exact"] for r in report["scale"] if r.get("approximate_vs_exact")), None
    )
    builds = {b["engine"]: b for b in report["index_build_by_engine"]}
    report["extrapolation"] = {
        engine: extrapolate([r for r in report["scale"] if r["engine"] == engine], builds[engine])
        for engine in config.engines
    }
    report["engine_ratios"] = engine_ratios(report)


def bench_many_docs(config: Config, tmp: Path, progress: Progress) -> dict:
    """The many-short-documents corpus (benchmarks/many_docs.py), in its own process."""
    if config.many_docs < 0:
        return {"skipped": "--many-docs -1"}
    out = tmp / "many_docs.json"
    progress.say("many short documents (own process)")
    work = tmp / "many-docs"
    work.mkdir()
    subprocess.run(
        [sys.executable, "-m", "benchmarks.many_docs", str(out),
         "--documents", str(config.many_docs), "--questions", str(config.many_questions)],
        cwd=PROJECT_ROOT,
        env=rag_env(work / "docs", work / "index"),
        check=True,
    )  # fmt: skip
    return json.loads(out.read_text(encoding="utf-8"))


def bench_milvus(config: Config, tmp: Path, results: Results, progress: Progress) -> list | dict:
    """FAISS vs Milvus Lite (benchmarks/milvus_vs_faiss.py), each size in its own process."""
    if not config.milvus_sizes:
        return {"skipped": "--milvus-sizes 0"}
    if importlib.util.find_spec("pymilvus") is None:
        return {"skipped": "pymilvus is not installed: pip install -e '.[milvus]'"}
    done: list[dict] = results.data.setdefault("milvus_vs_faiss", [])
    for n in config.milvus_sizes:
        out = tmp / f"milvus-{n}.json"
        progress.say(f"FAISS vs Milvus Lite, N={n} (own process)")
        subprocess.run(
            [sys.executable, "-m", "benchmarks.milvus_vs_faiss", "--reports", str(n),
             "--questions", str(config.milvus_questions), "--out", str(out)],
            cwd=PROJECT_ROOT,
            env=rag_env(tmp / "docs", tmp / "index"),
            stdout=subprocess.DEVNULL,
            check=True,
        )  # fmt: skip
        done.append(json.loads(out.read_text(encoding="utf-8")))
        results.checkpoint()
    return done


def main(argv: Sequence[str] | None = None) -> int:
    progress = Progress()
    args = parse_args(argv)
    config = config_of(args)
    # A stop (Ctrl-C, SIGTERM) unwinds normally: children are killed, temporary folders removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config.out.mkdir(parents=True, exist_ok=True)
    results = Results(config.out, {"meta": _meta(args), "targets": TARGETS, "scale": []})
    measure(config, results, progress)
    report = results.data
    report["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["meta"]["duration_s"] = round(progress.elapsed(), 1)
    report["meta"]["log"] = progress.log
    report["complete"] = True

    text = results.write()
    print(text)
    if report["query_latency"].get("profile"):
        print("Query profile (ms per question):")
        for label, ms in report["query_latency"]["profile"]["ms_per_question"].items():
            print(f"  {label:36s} {ms:8.2f}")
    progress.say(f"wrote {config.out / 'bench.json'}, bench.md, bench.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
