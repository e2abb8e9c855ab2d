"""``benchmarks.load`` for a few seconds: concurrent API clients get their own answers.

The short run still starts the real app and drives it with four clients at once, so a
server that mixes up concurrent requests, or fails under them, fails here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rag.config import PROJECT_ROOT, Settings

if str(PROJECT_ROOT) not in sys.path:  # `benchmarks` is a folder of the repo, not installed
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.load import (  # noqa: E402
    GENERIC_ERROR_MARK,
    QUESTIONS,
    classify,
    run_load,
    summarise,
    table,
)

SMOKE_SECONDS = 8.0
SMOKE_CLIENTS = 4


def test_the_checker_catches_an_answer_given_to_the_wrong_request() -> None:
    """Without this, "zero cross-talk" below could just mean the check never fires."""
    from rag.ui import GENERIC_ERROR

    assert GENERIC_ERROR_MARK in GENERIC_ERROR
    questions = [
        ("全年开展了多少轮全员核酸检测？", "73"),
        ("规上工业增加值去年涨了多少？", "6.8%"),
        ("2023年地区生产总值预期增长多少？", "8%"),
    ]
    refs = [
        "全年开展73轮全员核酸检测。[1]",
        "规模以上工业增加值增长6.8%;[1]",
        "地区生产总值增长8%左右;[1]",
    ]
    assert classify({"text": refs[0], "abstained": False}, 0, refs, questions)[0] == "ok"
    # The 6.8 % answer contains "8%" too: only the comparison with the references tells.
    outcome, detail = classify({"text": refs[1], "abstained": False}, 2, refs, questions)
    assert outcome == "crosstalk" and "规上工业增加值" in detail
    assert classify({"text": refs[2], "abstained": False}, 0, refs, questions)[0] == "crosstalk"
    assert classify({"text": "全年开展73轮。[1]"}, 0, refs, questions)[0] == "unstable"
    assert classify({"text": GENERIC_ERROR}, 0, refs, questions)[0] == "error"
    assert classify(None, 0, refs, questions)[0] == "error"
    assert len(QUESTIONS) >= 20 and len({q for q, _ in QUESTIONS}) == len(QUESTIONS)
    assert any(q.isascii() for q, _ in QUESTIONS) and not all(q.isascii() for q, _ in QUESTIONS)


def test_load_smoke(settings: Settings, pipeline, tmp_path: Path) -> None:  # noqa: ANN001
    """Four clients for a few seconds against a real server: no errors, no cross-talk."""
    out = tmp_path / "load.json"
    env = {  # the session's documents and already built index: no build at start-up
        "RAG_DOCS_DIR": str(settings.docs_dir),
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_EMBED_MODEL": settings.embed_model,
    }
    report = run_load(SMOKE_SECONDS, SMOKE_CLIENTS, out=out, env=env)
    print("\n" + table(report))

    assert report["errors"] == 0, report["problems"]
    assert report["crosstalk"] == 0, report["problems"]
    assert report["stuck_clients"] == []
    assert report["requests"] >= SMOKE_CLIENTS
    assert set(report["per_client_requests"]) == set(range(SMOKE_CLIENTS))  # all took part
    assert sum(q["asked"] for q in report["per_question"]) == report["requests"]

    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(report))
    for key in ("p50", "p95", "max"):
        assert isinstance(saved["latency_ms"][key], float) and saved["latency_ms"][key] > 0
    assert saved["latency_ms"]["p50"] <= saved["latency_ms"]["p95"] <= saved["latency_ms"]["max"]
    assert saved["throughput_rps"] > 0
    assert saved["server_memory_mib"]["peak_rss"] >= saved["server_memory_mib"]["rss_when_ready"]
    assert saved["server_memory_mib"]["peak_rss"] > 100  # a model and an index are loaded
    assert saved["url"].startswith("http://127.0.0.1:")


def test_summary_of_no_requests_is_well_formed() -> None:
    report = summarise([], 1.0, QUESTIONS)
    assert report["requests"] == 0 and report["latency_ms"]["p50"] is None
    json.dumps(report)
    assert "n/a" in table(
        {
            **report,
            "clients": 1,
            "seconds": 1.0,
            "server_concurrency_limit": 4,
            "server_memory_mib": {"rss_when_ready": None, "peak_rss": None},
        }
    )
