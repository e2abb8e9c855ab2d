"""The bundled model on torch and on ONNX int8, side by side: ``python -m benchmarks.onnx_engine``.

Each engine runs in fresh processes (``--repeats`` of them), each measuring from
its first line: import + load to the first vector, RSS after that, embedding
speed (batches of 16, longest first, as index builds do) and the p50 latency of
one short query. The first process of each engine also embeds every seed
sentence and 200 corpus sentences (as query and as passage) for the parity
figures (cosine min and mean). Figures are medians; on a shared machine say so.
Writes ``benchmarks/out/onnx.json``.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "evals" / "corpus"
OUT = ROOT / "benchmarks" / "out" / "onnx.json"


def _sentences(path: Path) -> list[str]:
    from rag.chunking import ChunkerSettings, split_sentences

    text = path.read_text(encoding="utf-8")
    return [text[s.start : s.end] for s in split_sentences(text, ChunkerSettings())]


def _texts() -> tuple[list[str], list[str], list[str]]:
    """Parity texts (seed + 200 corpus sentences), speed texts, and short queries."""
    seed = [t for p in sorted((ROOT / "seeds").glob("*.txt")) for t in _sentences(p)]
    corpus = [t for p in sorted(CORPUS.glob("*.txt")) for t in _sentences(p)]
    step = len(corpus) / 200
    parity = seed + [corpus[int(i * step)] for i in range(200)]
    return parity, corpus[3::17][:160], [t[:30] for t in corpus[5::60][:30]]


def _rss_mb() -> tuple[int, int]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024


def child(parity_file: str | None) -> None:
    """One fresh process on the engine that RAG_EMBED_BACKEND names."""
    import numpy as np

    from rag.config import Settings
    from rag.embeddings import load_embeddings

    imported = time.perf_counter()
    embeddings = load_embeddings(Settings.from_env().model)
    embeddings.embed_query("全年开展了多少轮全员核酸检测？")
    first_vector = time.perf_counter()
    rss, peak = _rss_mb()
    parity, speed, queries = _texts()
    embeddings.embed_documents(speed[:16])  # warm-up
    order = sorted(speed, key=len, reverse=True)
    started = time.perf_counter()
    for i in range(0, len(order), 16):
        embeddings.embed_documents(order[i : i + 16])
    per_text_ms = (time.perf_counter() - started) / len(order) * 1000
    latencies = []
    for q in queries:
        started = time.perf_counter()
        embeddings.embed_query(q)
        latencies.append((time.perf_counter() - started) * 1000)
    if parity_file:
        np.savez(
            parity_file,
            query=np.array(embeddings.embed_queries(parity)),
            passage=np.array(embeddings.embed_documents(parity)),
        )
    result = {
        "import_s": imported - _STARTED,
        "first_vector_s": first_vector - _STARTED,
        "rss_mb": rss,
        "peak_rss_mb": peak,
        "batch16_ms_per_text": per_text_ms,
        "query_p50_ms": statistics.median(latencies),
        "torch_imported": "torch" in sys.modules,
    }
    print("RESULT " + json.dumps(result))


def _run_child(backend: str, parity_file: str | None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.onnx_engine", "--child"]
    if parity_file:
        cmd += ["--parity-file", parity_file]
    env = os.environ | {"RAG_EMBED_BACKEND": backend, "RAG_EMBED_MODEL": ""}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{backend} run failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per engine")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--parity-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.parity_file)
        return
    import numpy as np

    from rag.bundled_model import materialise
    from rag.config import Settings
    from rag.onnx_embeddings import onnx_model

    folder = materialise(Settings.from_env().model.cache_dir / "models")
    onnx_file = onnx_model(folder)  # built before timing, as after a first run
    report: dict[str, object] = {"load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        runs: dict[str, list[dict]] = {"torch": [], "onnx": []}
        for repeat in range(args.repeats):
            for backend in runs:
                parity = f"{tmp}/{backend}.npz" if repeat == 0 else None
                runs[backend].append(_run_child(backend, parity))
        for backend, results in runs.items():
            report[backend] = {
                key: statistics.median(r[key] for r in results)
                if not isinstance(results[0][key], bool)
                else results[0][key]
                for key in results[0]
            }
        torch_vectors, onnx_vectors = (
            np.load(f"{tmp}/torch.npz", allow_pickle=False),
            np.load(f"{tmp}/onnx.npz", allow_pickle=False),
        )
        cosines = np.concatenate(
            [(torch_vectors[k] * onnx_vectors[k]).sum(axis=1) for k in ("query", "passage")]
        )
    report["parity"] = {
        "texts": len(cosines) // 2,
        "cosine_min": float(cosines.min()),
        "cosine_mean": float(cosines.mean()),
    }
    report["disk_mb"] = {
        "torch_folder": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20,
        "onnx_file": onnx_file.stat().st_size / 2**20,
    }
    report["load_average_after"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
