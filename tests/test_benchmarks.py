"""``python -m benchmarks.run`` end to end on a tiny corpus, and the synthetic corpus itself.

No timing is asserted: only that the run completes and its JSON has the expected shape.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from rag.config import PROJECT_ROOT

if str(PROJECT_ROOT) not in sys.path:  # `benchmarks` is a folder of the repo, not installed
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.corpus import generate, make_report, planted_indices, town_name  # noqa: E402


def test_reports_are_deterministic_and_distinct(seed_text: str) -> None:
    first, again = make_report(seed_text, 3, plant=True), make_report(seed_text, 3, plant=True)
    assert first == again
    other = make_report(seed_text, 4, plant=True)
    assert other.text != first.text
    assert len({town_name(i) for i in range(2000)}) == 2000


def test_places_renamed_and_numbers_perturbed(seed_text: str) -> None:
    report = make_report(seed_text, 7)
    assert "京东" not in report.text
    assert not re.search("(高兴|月坊|塘南|何兴|梁万|桃胜)村", report.text)
    assert town_name(7) + "镇" in report.text
    assert "93.8亿元" in seed_text and "93.8亿元" not in report.text
    assert sorted(report.text.splitlines()) != sorted(seed_text.splitlines())


def test_planted_fact_is_unique_and_askable(seed_text: str, tmp_path: Path) -> None:
    reports = generate(seed_text, 6, tmp_path, plants=3)
    planted = [r.planted for r in reports if r.planted]
    assert len(planted) == 3 == len(planted_indices(6, 3))
    for fact in planted:
        assert fact.question.endswith("智慧停车场？") and fact.answer in fact.sentence
        holders = [p for p in tmp_path.iterdir() if fact.sentence in p.read_text("utf-8")]
        assert [p.name for p in holders] == [fact.source]
    assert len({f.answer for f in planted}) == len({f.sentence for f in planted}) == 3


def test_tiny_benchmark_run_writes_well_formed_json(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "benchmarks.run",
        "--sizes", "2", "--engines", "torch,onnx",
        "--questions", "5", "--plants", "2", "--seed-lines", "9",
        "--skip-cold-start", "--skip-ui", "--many-docs", "4", "--many-questions", "2",
        "--milvus-sizes", "0", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| measure | value | target | met |" in done.stdout
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert (out / "bench.png").stat().st_size > 0 and (out / "bench.md").is_file()

    assert {
        "meta", "targets", "model_load_s", "index_build", "query_latency", "memory",
        "cold_start", "ui", "scale", "approximate_vs_exact", "extrapolation",
        "index_build_by_engine", "engine_ratios",
    } <= set(report)  # fmt: skip
    build = report["index_build"]
    assert build["embedded"] >= build["chunks"] + build["sentences"] > 0
    assert build["faiss_index"] == "IndexFlatIP"
    latency = report["query_latency"]
    assert latency["questions"] == 5
    for part in ("query", "embed_query_floor"):
        assert latency[part]["n"] == 5 and latency[part]["p95_ms"] >= latency[part]["p50_ms"] > 0
    assert latency["ratio_p50"] > 0
    assert report["memory"]["bench_peak_rss_mb"] > 0
    assert report["cold_start"] == {"skipped": "--skip-cold-start"}
    assert report["ui"] == {"skipped": "--skip-ui"}
    assert report["milvus_vs_faiss"] == {"skipped": "--milvus-sizes 0"}  # its own test below

    many = report["many_documents"]
    assert many["documents"] == 4 and many["questions"] == 2
    assert many["add_one_document"]["files_read"] == 1  # only the new document is read
    assert many["query"]["p95_ms"] >= many["query"]["p50_ms"] > 0

    # Each engine builds the same seed lines in its own process, so the same texts.
    builds = report["index_build_by_engine"]
    assert [b["engine"] for b in builds] == ["torch", "onnx"]
    assert len({(b["chunks"], b["sentences"]) for b in builds}) == 1
    for b in builds:
        assert b["seconds"] > 0 and b["model_load_s"] > 0 and b["memory"]["peak_rss_mb"] > 0

    torch_run, scale = report["scale"]  # both engines of N = 2, torch first
    assert (torch_run["n"], torch_run["engine"], scale["engine"]) == (2, "torch", "onnx")
    assert torch_run["chunks"] == scale["chunks"] and torch_run["embedded"] == scale["embedded"]
    ratios = {(r["corpus"], r["measure"]): r for r in report["engine_ratios"]}
    assert {c for c, _ in ratios} == {f"seeds/ ({builds[0]['embedded']} texts)", "N=2"}
    p95 = ratios[("N=2", "query p95")]
    assert (p95["torch"], p95["onnx"]) == (torch_run["query"]["p95_ms"], scale["query"]["p95_ms"])
    assert p95["onnx_over_torch"] == round(p95["onnx"] / p95["torch"], 3)
    assert "| N=2 | index build |" in done.stdout

    assert scale["n"] == 2 and scale["planted_questions"] == 2
    assert 0.0 <= scale["hit_at_5"] <= 1.0
    assert scale["index_bytes"] > 0 and scale["chunks_per_s"] > 0
    assert scale["query"]["n"] == 2 + 5
    assert scale["query_profile"]["ms_per_question"]["query total (Pipeline.retrieve)"] > 0
    increment = scale["incremental"]
    assert 0 < increment["embedded"] <= increment["report_alone_embedded"], increment
    assert increment["at_most_the_report_alone"]
    assert increment["chunks_after"] == scale["chunks"] + increment["report_chunks"]
    sentences = report["approximate_vs_exact"]["sentences"]
    assert sentences["index"] == "IndexIVFScalarQuantizer"
    assert 0 < sentences["recall_at_k"] <= sentences["score_recall_at_k"] <= 1
    assert sentences["scan_ms_per_query"] > 0 and sentences["ann_ms_per_query"] > 0
    chunks = report["approximate_vs_exact"]["chunks"]
    assert chunks["index"] == "IndexIVFFlat" and chunks["reconstruct_n_works"]
    assert 0.0 <= chunks["recall_at_k_default"] <= chunks["score_recall_at_k_default"] <= 1
    for engine in ("torch", "onnx"):
        assert report["extrapolation"][engine]["build_minutes"]["1000"] > 0


def test_rag_env_lets_a_caller_override_the_defaults(tmp_path: Path) -> None:
    from benchmarks.common import rag_env

    env = rag_env(tmp_path / "docs", tmp_path / "index", RAG_LOG_LEVEL="INFO")
    assert env["RAG_LOG_LEVEL"] == "INFO" and env["RAG_DOCS_DIR"] == str(tmp_path / "docs")
    assert rag_env(tmp_path, tmp_path)["RAG_LOG_LEVEL"] == "WARNING"
    assert "RAG_AUTH" not in rag_env(tmp_path, tmp_path, RAG_X="1")


def test_milvus_vs_faiss_runs_tiny_in_its_own_process(tmp_path: Path) -> None:
    """``make bench``'s FAISS vs Milvus Lite step at N = 1 (real model, FAISS, Milvus Lite).

    At this size every IVF list is probed, so IVF forced must agree with exact search.
    """
    from benchmarks.common import Config, Progress
    from benchmarks.report import Results
    from benchmarks.run import bench_milvus

    results = Results(tmp_path / "out", {})
    (tmp_path / "out").mkdir()
    config = Config(milvus_sizes=(1,), milvus_questions=3)
    [m] = bench_milvus(config, tmp_path, results, Progress(role="test"))
    assert (m["reports"], m["questions"]) == (1, 1 + 3)
    assert m["chunks"] > 0 and m["sentences"] > 0
    assert m["distinct_texts_embedded"] >= m["chunks"] + m["sentences"]
    for store in ("faiss", "milvus_lite"):
        assert m["build"][store]["store_s"] > 0
        query = m["query"][store]
        assert query["n"] == 4 and query["p95_ms"] >= query["p50_ms"] > 0
    assert m["build"]["milvus_lite"]["model_s"] == 0  # the memo: FAISS embedded everything
    exact, ivf = m["milvus_lite"], m["milvus_lite_ivf_forced"]
    assert {i["kind"] for i in exact["indexes"].values()} == {"FLAT"}
    assert {i["kind"] for i in ivf["indexes"].values()} == {"IVF_FLAT"}
    for found in (exact, ivf):
        assert found["recall_dense_at_10_counting_ties"] == 1.0
        assert found["top_sentence_as_relevant_as_exact"] == 1.0
    assert ivf["query"]["n"] == 4 and ivf["reindex_s"] > 0
    assert m["memory"]["process_with_milvus_lite_mb"] > m["memory"]["process_after_faiss_mb"] > 0
    assert m["lexical"]["tokens"]["questions"] == 3
    assert m["lexical"]["tokens"]["mean_overlap_at_10"] == 1.0
    assert len(m["load_average_at_start"]) == len(m["load_average"]) == 3
