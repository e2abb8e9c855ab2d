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
    scale = report.get("scale") or []
    if scale:
        out += "\n\n| N reports | chunks | sentences | build | chunks/s | index on disk | RSS "
        out += "serving / peak (build) | query p50 / p95 | BM25 · dense sentences (ms/q) "
        out += "| hit@5 (planted) | one more report: texts embedded / alone |\n"
        out += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        for r in scale:
            inc = r["incremental"]
            breakdown = (r.get("query_profile") or {}).get("ms_per_question", {})
            out += (
                f"| {r['n']} | {r['chunks']:,} | {r['sentences']:,} | {_fmt(r['build_s'], ' s')} "
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
    ex = report.get("extrapolation") or {}
    if ex:
        minutes = ", ".join(f"N={n}: {m:,.0f} min" for n, m in ex["build_minutes"].items())
        out += (
            f"\n\nEmbedding cost ({ex['basis']}): {ex['ms_per_embedded_text']} ms per embedded "
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
    ns = [r["n"] for r in scale]
    ax = axes[0][1]
    if scale:
        ax.plot(ns, [r["build_s"] for r in scale], "o-", label="build (measured)")
        ex = report.get("extrapolation") or {}
        if ex:
            xs = [int(n) for n in ex["build_minutes"]]
            ax.plot(xs, [60 * m for m in ex["build_minutes"].values()], "x--", label="extrapolated")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("reports")
        ax.set_ylabel("s")
        ax.legend()
    ax.set_title("Index build time")
    ax = axes[1][0]
    if scale:
        ax.plot(ns, [r["query"]["p50_ms"] for r in scale], "o-", label="p50")
        ax.plot(ns, [r["query"]["p95_ms"] for r in scale], "o-", label="p95")
        ax.set_xscale("log")
        ax.set_xlabel("reports")
        ax.set_ylabel("ms")
        ax.legend()
    ax.set_title("Query latency by corpus size")
    ax = axes[1][1]
    if scale:
        ax.plot(ns, [r["index_bytes"] / 1e6 for r in scale], "o-", label="index on disk (MB)")
        ax.plot(ns, [r["memory_after_queries"]["rss_mb"] for r in scale], "o-", label="RSS (MB)")
        ax.set_xscale("log")
        ax.set_xlabel("reports")
        ax.legend()
    ax.set_title("Size and memory")
    fig.suptitle(f"rag benchmarks — {report['meta']['machine']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
