"""The benchmark report: the JSON, the Markdown table printed at the end, and the plot.

Kept apart from the measuring so the table can be redrawn from a saved ``bench.json``
and a long run can checkpoint what it has measured so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import TARGETS, write_json


@dataclass
class Results:
    """The report as it is filled in, and the folder it goes to."""

    out: Path
    data: dict[str, Any] = field(default_factory=dict)

    def checkpoint(self) -> None:
        """Write what is measured so far, so an interrupted long run still leaves its numbers."""
        write_json(self.out / "bench.json", {**self.data, "complete": False})

    def write(self) -> str:
        """``bench.json``, ``bench.md`` and ``bench.png``; returns the table."""
        text = table(self.data)
        write_json(self.out / "bench.json", self.data)
        (self.out / "bench.md").write_text(text, encoding="utf-8")
        plot(self.data, self.out / "bench.png")
        return text


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value}{unit}"


def _ok(flag: Any) -> str:
    return "–" if flag is None else ("yes" if flag else "**no**")


# (label, unit, how to read it from a seed build or a scale result)
_BUILD_MEASURES = (
    ("model load", " s", lambda r: r["model_load_s"]),
    ("index build", " s", lambda r: r["seconds"]),
    ("texts embedded per s", "", lambda r: r["texts_per_s"]),
    ("peak RSS (VmHWM)", " MB", lambda r: r["memory"]["peak_rss_mb"]),
)
_SCALE_MEASURES = (
    ("index build", " s", lambda r: r["build_s"]),
    ("texts embedded per s", "", lambda r: r["texts_per_s"]),
    ("query p50", " ms", lambda r: r["query"]["p50_ms"]),
    ("query p95", " ms", lambda r: r["query"]["p95_ms"]),
    ("RSS serving", " MB", lambda r: r["memory_after_queries"]["rss_mb"]),
    ("peak RSS (VmHWM)", " MB", lambda r: r["memory_after_queries"]["peak_rss_mb"]),
)


def engine_ratios(report: dict) -> list[dict]:
    """ONNX against torch, measure by measure, wherever a run has both engines."""
    rows = []

    def compare(corpus: str, runs: list[dict], measures: tuple) -> None:
        by_engine = {r["engine"]: r for r in runs}
        if {"torch", "onnx"} <= set(by_engine):
            for label, unit, read in measures:
                torch, onnx = read(by_engine["torch"]), read(by_engine["onnx"])
                ratio = round(onnx / torch, 3) if torch and onnx is not None else None
                rows.append(
                    {"corpus": corpus, "measure": label, "unit": unit,
                     "torch": torch, "onnx": onnx, "onnx_over_torch": ratio}
                )  # fmt: skip

    builds = report.get("index_build_by_engine") or []
    if builds:
        compare(f"seeds/ ({builds[0]['embedded']} texts)", builds, _BUILD_MEASURES)
    scale = report.get("scale") or []
    for n in sorted({r["n"] for r in scale}):
        compare(f"N={n}", [r for r in scale if r["n"] == n], _SCALE_MEASURES)
    return rows


def table(report: dict) -> str:
    """The measured table, Markdown."""
    rows = ["| measure | value | target | met |", "| --- | --- | --- | --- |"]
    b = report.get("index_build") or {}
    if b:
        rows.append(
            f"| index build, {b['documents']} doc ({b['chunks']} chunks + {b['sentences']} "
            f"sentences) | {_fmt(b['seconds'], ' s')} ({_fmt(b['ms_per_text'], ' ms')}/text) "
            f"| ≤ {TARGETS['index_build_s']:.0f} s | {_ok(b['meets_target'])} |"
        )
    lat = report.get("query_latency") or {}
    if lat:
        q, f = lat["query"], lat["embed_query_floor"]
        rows.append(
            f"| query latency p50 / p95 ({lat['questions']} questions) | "
            f"{_fmt(q['p50_ms'], ' ms')} / {_fmt(q['p95_ms'], ' ms')} | | |"
        )
        rows.append(
            f"| bare query embedding p50 / p95 | {_fmt(f['p50_ms'], ' ms')} / "
            f"{_fmt(f['p95_ms'], ' ms')} | | |"
        )
        rows.append(
            f"| query p50 ÷ embedding p50 | {_fmt(lat['ratio_p50'], '×')} | "
            f"≤ {TARGETS['latency_ratio_p50']}× | {_ok(lat['meets_target'])} |"
        )
    cold = report.get("cold_start") or {}
    for key, label in (("index_built", "index built"), ("index_not_built", "index not built")):
        if key in cold:
            c = cold[key]
            rows.append(
                f"| start → first answer ({label}) | {_fmt(c['seconds_to_first_answer'], ' s')} "
                f"| ≤ {TARGETS['cold_start_s']:.0f} s | {_ok(c['meets_target'])} |"
            )
    if "phases_s" in cold:
        phases = ", ".join(f"{k} {v:.1f}" for k, v in cold["phases_s"].items())
        rows.append(f"| cold start phases (s) | {phases} | | |")
    ui = report.get("ui") or {}
    if "seconds_to_ready" in ui:
        rows.append(
            f"| start → UI ready (`/status`) | {_fmt(ui['seconds_to_ready'], ' s')} (HTTP up "
            f"{_fmt(ui['seconds_to_http'], ' s')}) | ≤ {TARGETS['cold_start_s']:.0f} s | "
            f"{_ok(ui['meets_target'])} |"
        )
    mem = report.get("memory") or {}
    for key, label in (("app_peak_rss_mb", "app"), ("bench_peak_rss_mb", "benchmark process")):
        if mem.get(key) is not None:
            rows.append(
                f"| peak RSS, {label} (VmHWM) | {_fmt(mem[key], ' MB')} | "
                f"≤ {TARGETS['peak_rss_mb']:.0f} MB | {_ok(mem[key] <= TARGETS['peak_rss_mb'])} |"
            )
    out = "\n".join(rows)
    ratios = report.get("engine_ratios") or engine_ratios(report)
    if ratios:
        out += "\n\nEngines side by side (each run in its own process):\n\n"
        out += "| corpus | measure | torch | onnx | onnx / torch |\n"
        out += "| --- | --- | --- | --- | --- |\n"
        for r in ratios:
            out += (
                f"| {r['corpus']} | {r['measure']} | {_fmt(r['torch'], r['unit'])} | "
                f"{_fmt(r['onnx'], r['unit'])} | {_fmt(r['onnx_over_torch'], '×')} |\n"
            )
    scale = report.get("scale") or []
    if scale:
        out += "\n\n| N reports | engine | chunks | sentences | build | chunks/s | index on disk "
        out += "| RSS serving / peak (build) | query p50 / p95 | BM25 · dense sentences (ms/q) "
        out += "| hit@5 (planted) | one more report: texts embedded / alone |\n"
        out += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        for r in scale:
            inc = r["incremental"]
            breakdown = (r.get("query_profile") or {}).get("ms_per_question", {})
            out += (
                f"| {r['n']} | {r.get('engine', '–')} | {r['chunks']:,} | {r['sentences']:,} "
                f"| {_fmt(r['build_s'], ' s')} "
                f"| {_fmt(r['chunks_per_s'])} | {r['index_bytes'] / 1e6:.1f} MB | "
                f"{_fmt(r['memory_after_queries']['rss_mb'], ' MB')} "
                f"({_fmt(r['memory_after_queries'].get('file_mb'), ' MB')} mapped files) / "
                f"{_fmt(r['memory_after_queries']['peak_rss_mb'], ' MB')} | "
                f"{_fmt(r['query']['p50_ms'], ' ms')} / {_fmt(r['query']['p95_ms'], ' ms')} | "
                f"{_fmt(breakdown.get('  BM25 scores'))} · "
                f"{_fmt(breakdown.get('sentence_relevance'))} | "
                f"{_fmt(r['hit_at_5'])} ({r['planted_questions']}) | "
                f"{inc['embedded']} / {inc['report_alone_embedded']} "
                f"in {_fmt(inc['seconds'], ' s')} |\n"
            )
    many = report.get("many_documents") or {}
    if "documents" in many:
        add = many["add_one_document"]
        out += (
            f"\n\nMany short documents: {many['documents']:,} documents "
            f"({many['characters']:,} characters, {many['chunks']:,} chunks), built in "
            f"{_fmt(many['build_s'], ' s')} ({many['embedded']:,} texts embedded); "
            f"{many['questions']} CMRC questions: p50 / p95 {_fmt(many['query']['p50_ms'], ' ms')}"
            f" / {_fmt(many['query']['p95_ms'], ' ms')}, right paragraph cited first "
            f"{many['right_document_cited_first']:.3f}, answer in the first citation "
            f"{many['answer_in_first_citation']:.3f}; serving RSS "
            f"{_fmt(many['memory_serving']['rss_mb'], ' MB')}; one more document: "
            f"{_fmt(add['seconds'], ' s')}, {add['files_read']} file(s) read.\n"
        )
    milvus = report.get("milvus_vs_faiss")
    for m in milvus if isinstance(milvus, list) else []:
        f, lite, ivf = m["build"]["faiss"], m["build"]["milvus_lite"], m["milvus_lite_ivf_forced"]
        out += (
            f"\n\nFAISS vs Milvus Lite, N={m['reports']} ({m['chunks']:,} chunks): store build "
            f"{_fmt(f['store_s'], ' s')} / {_fmt(lite['store_s'], ' s')}; store's share of a "
            f"question p50 {_fmt(m['query']['faiss']['p50_ms'], ' ms')} / "
            f"{_fmt(m['query']['milvus_lite']['p50_ms'], ' ms')}, p95 "
            f"{_fmt(m['query']['faiss']['p95_ms'], ' ms')} / "
            f"{_fmt(m['query']['milvus_lite']['p95_ms'], ' ms')}; with IVF forced: dense "
            f"top 10 {ivf['recall_dense_at_10_vs_exact']:.3f} of exact, best sentence "
            f"{ivf['top_sentence_as_relevant_as_exact']:.3f}, p50 "
            f"{_fmt(ivf['query']['p50_ms'], ' ms')}."
        )
    approximate = report.get("approximate_vs_exact") or {}
    for name, h in approximate.items():
        if h and name == "sentences":
            out += (
                f"\nSentence index ({h['index']}) vs exact scan over {h['vectors']:,} sentence "
                f"and clause vectors, {h['queries']} queries: top-{h['k']} sentences found "
                f"{h['recall_at_k']:.3f} (same ids) / {h['score_recall_at_k']:.3f} (as-good "
                f"scores), best sentence found {h['best_found']:.3f}; "
                f"scan {h['scan_ms_per_query']:.2f} ms/query, "
                f"IVF {h['ann_ms_per_query']:.2f} ms/query."
            )
        elif h:
            probes = ", ".join(
                f"{p} probed: {v['recall_at_k']:.3f} / {v['score_recall_at_k']:.3f}"
                for p, v in h["by_probes"].items()
            )
            out += (
                f"\nIVF ({h['lists']} lists) vs flat over {h['vectors']:,} {name} vectors, "
                f"{h['queries']} queries: recall@{h['k']} (same ids / as-good scores) {probes}; "
                f"flat {h['flat_ms_per_query']:.3f} ms/query, IVF {h['default_probes']} probed "
                f"{h['by_probes'][str(h['default_probes'])]['ms_per_query']:.3f} ms/query."
            )
    for engine, ex in (report.get("extrapolation") or {}).items():
        if not ex:
            continue
        minutes = ", ".join(f"N={n}: {m:,.0f} min" for n, m in ex["build_minutes"].items())
        out += (
            f"\n\nEmbedding cost, {engine} ({ex['basis']}): {ex['ms_per_embedded_text']} ms "
            "per embedded "
            f"text, {ex['ms_per_chunk_all_embeddings']} ms per chunk (with the sentence and "
            "clause embeddings that come with it); "
            f"build time from scratch {minutes}."
        )
    return out + "\n"


def plot(report: dict, path: Path) -> None:
    """``bench.png``: latency histogram; build time, query latency and size against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0][0]
    lat = report.get("query_latency") or {}
    if lat:
        ax.hist(lat["samples_ms"]["embed"], bins=30, alpha=0.6, label="embed_query (floor)")
        ax.hist(lat["samples_ms"]["query"], bins=30, alpha=0.6, label="query (answer)")
        ax.set_xlabel("ms")
        ax.legend()
    ax.set_title("Warm single-user latency")
    scale = report.get("scale") or []
    engines = list(dict.fromkeys(r.get("engine", "") for r in scale))
    (build_ax, query_ax), size_ax = (axes[0][1], axes[1][0]), axes[1][1]
    for i, engine in enumerate(engines):
        color = f"C{i}"  # one colour per engine in every panel
        runs = [r for r in scale if r.get("engine", "") == engine]
        ns = [r["n"] for r in runs]
        build_ax.plot(ns, [r["build_s"] for r in runs], "o-", c=color, label=f"{engine} build")
        ex = (report.get("extrapolation") or {}).get(engine) or {}
        if ex:
            xs = [int(n) for n in ex["build_minutes"]]
            seconds = [60 * m for m in ex["build_minutes"].values()]
            build_ax.plot(xs, seconds, "x--", c=color, label=f"{engine} extrapolated")
        for pct, style in (("p50", "o-"), ("p95", "^:")):
            ms = [r["query"][f"{pct}_ms"] for r in runs]
            query_ax.plot(ns, ms, style, c=color, label=f"{engine} {pct}")
        rss = [r["memory_after_queries"]["rss_mb"] for r in runs]
        size_ax.plot(ns, rss, "o-", c=color, label=f"{engine} RSS (MB)")
    if scale:
        ns = sorted({r["n"] for r in scale})
        disk = {r["n"]: r["index_bytes"] / 1e6 for r in scale}
        size_ax.plot(ns, [disk[n] for n in ns], "s--", c="grey", label="index on disk (MB)")
        for ax in (build_ax, query_ax, size_ax):
            ax.set_xscale("log")
            ax.set_xlabel("reports")
            ax.legend()
        build_ax.set_yscale("log")
        build_ax.set_ylabel("s")
        query_ax.set_ylabel("ms")
    build_ax.set_title("Index build time")
    query_ax.set_title("Query latency by corpus size")
    size_ax.set_title("Size and memory")
    fig.suptitle(f"rag benchmarks — {report['meta']['machine']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
