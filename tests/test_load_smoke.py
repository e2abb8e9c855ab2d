"""``benchmarks.load`` for a few seconds: concurrent API clients, an upload, right answers.

The short run still starts the real app over a private copy of the documents, drives
it with three clients at once and uploads a document half-way through the page's own
HTTP API, so a server that mixes up concurrent requests, fails under them, or answers
wrongly once a document is added, fails here. The checker itself is tested on wrong
answers first: a soak that cannot fail proves nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings

if str(PROJECT_ROOT) not in sys.path:  # `benchmarks` is a folder of the repo, not installed
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.load import (  # noqa: E402
    DEFAULT_QUESTION_FILES,
    GENERIC_ERROR_MARK,
    PLANTED_NAME,
    KnownQuestion,
    classify,
    run_load,
    seed_questions,
    summarise,
    table,
    verdict,
)

SMOKE_SECONDS = 10.0
SMOKE_CLIENTS = 3
SMOKE_QUESTIONS = 24  # spread over the seed's eval set; the reference answers come first

COVID = KnownQuestion("covid", "全年开展了多少轮全员核酸检测？", [["73轮", "73 轮"]])
GROWTH = KnownQuestion("growth", "2023年地区生产总值预期增长多少？", [["8%"]])
INDUSTRY = KnownQuestion("industry", "规上工业增加值去年涨了多少？", [["6.8%"]])
NOBODY = KnownQuestion("unans", "镇上有多少家米其林餐厅？", [])


def test_the_checker_fails_wrong_and_crossed_answers() -> None:
    """Without this, "zero wrong answers" below could just mean the check never fires."""
    from rag.ui import GENERIC_ERROR

    assert GENERIC_ERROR_MARK in GENERIC_ERROR
    questions = [COVID, INDUSTRY, GROWTH, NOBODY]
    refs = [
        "73轮\n全年开展73轮全员核酸检测。[1]",
        "6.8%\n规模以上工业增加值增长6.8%;[1]",
        "8%左右\n地区生产总值增长8%左右;[1]",
        "文档中没有找到这个问题的答案。",
    ]

    def check(text: str, own: int, abstained: bool = False) -> str:
        return classify({"text": text, "abstained": abstained}, own, refs, questions)[0]

    assert check(refs[0], 0) == "ok" and check(refs[3], 3, abstained=True) == "ok"
    # The planted upload's hijack: a confident answer without the question's fact.
    outcome, detail = classify({"text": "4,646 (负载测试灯塔).", "abstained": False}, 0, refs,
                               questions)
    assert outcome == "wrong" and "covid" in detail and "73轮" in detail
    assert check("73轮 …", 0, abstained=True) == "wrong"  # the fact, but given up on
    assert check("镇上有3家。[1]", 3) == "wrong"  # an unanswerable question answered
    # The 6.8 % answer contains "8%" too: only the comparison with the references tells.
    assert check(refs[1], 2) == "crosstalk"
    assert check(refs[2], 0) == "crosstalk"
    assert check("全年开展73轮。[1]", 0) == "unstable"
    assert check(GENERIC_ERROR, 0) == "error"
    assert classify(None, 0, refs, questions)[0] == "error"


def test_a_run_with_a_wrong_answer_or_a_failed_upload_fails() -> None:
    """The exit status follows :func:`verdict`: one wrong answer is enough."""
    from benchmarks.load import Sample

    samples = [Sample(0, 0, 0.1, "ok"), Sample(1, 0, 0.2, "wrong", detail="x", phase="after")]
    report = {**summarise(samples, 1.0, [COVID]), "stuck_clients": [],
              "upload": {"ok": True, "planted_found": True}}
    assert report["wrong"] == 1 and report["by_phase"]["after"]["wrong"] == 1
    assert verdict(report) == ["1 wrong answers"]
    assert verdict({**report, "wrong": 0}) == []
    assert "the upload failed" in verdict(
        {**report, "wrong": 0, "upload": {"ok": False, "message": "HTTP 500"}})[0]
    assert "not found" in verdict(
        {**report, "wrong": 0, "upload": {"ok": True, "planted_found": False}})[0]
    assert verdict({**report, "wrong": 0, "upload": {}}) == [
        "the upload failed: never started"]
    assert verdict({**report, "wrong": 0, "errors": 2}) == ["2 errors"]


def test_the_question_set_is_the_seeds_eval_set() -> None:
    questions = seed_questions()
    assert len(questions) >= 150 and len({q.id for q in questions}) == len(questions)
    assert any(not q.answerable for q in questions)  # abstentions are checked too
    assert any(q.question.isascii() for q in questions)
    with_examples = seed_questions(DEFAULT_QUESTION_FILES)  # `make load`: + the page's examples
    assert len(with_examples) > len(questions)
    assert {q.question for q in with_examples} >= {q.question for q in questions}
    spread = seed_questions(limit=SMOKE_QUESTIONS)
    assert len(spread) == SMOKE_QUESTIONS and len({q.id.split("-")[0] for q in spread}) >= 5


def test_load_smoke(settings: Settings, pipeline, tmp_path: Path) -> None:  # noqa: ANN001
    """Three clients for a few seconds against a real server, an upload in the middle:
    no errors, no wrong answers, the uploaded fact found; the documents untouched."""
    out = tmp_path / "load.json"
    env = {  # the session's documents and built index, copied: no build at start-up
        "RAG_DOCS_DIR": str(settings.documents.docs_dir),
        "RAG_INDEX_DIR": str(settings.store.index_dir),
        "RAG_EMBED_MODEL": settings.model.name,
    }
    docs_before = sorted(p.name for p in settings.documents.docs_dir.iterdir())
    report = run_load(SMOKE_SECONDS, SMOKE_CLIENTS, out=out, env=env, upload_at=0.3,
                      questions=seed_questions(limit=SMOKE_QUESTIONS))
    print("\n" + table(report))

    assert report["passed"], report["failures"]
    assert report["errors"] == 0 and report["wrong"] == 0 and report["crosstalk"] == 0
    assert report["stuck_clients"] == []
    assert report["questions"] >= SMOKE_QUESTIONS // 2  # most are answered right alone
    assert set(report["per_client_requests"]) == set(range(SMOKE_CLIENTS))  # all took part
    assert sum(q["asked"] for q in report["per_question"]) == report["requests"]
    upload = report["upload"]
    assert upload["ok"] and upload["planted_found"], upload
    assert report["by_phase"]["before"]["requests"] > 0
    assert report["by_phase"]["after"]["requests"] > 0, "no question was asked after the upload"
    assert sorted(p.name for p in settings.documents.docs_dir.iterdir()) == docs_before
    assert PLANTED_NAME not in docs_before

    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(report))
    for key in ("p50", "p95", "max"):
        assert isinstance(saved["latency_ms"][key], float) and saved["latency_ms"][key] > 0
    assert saved["latency_ms"]["p50"] <= saved["latency_ms"]["p95"] <= saved["latency_ms"]["max"]
    assert saved["throughput_rps"] > 0
    assert saved["server_memory_mib"]["peak_rss"] >= saved["server_memory_mib"]["rss_when_ready"]
    assert saved["server_memory_mib"]["peak_rss"] > 100  # a model and an index are loaded
    assert saved["url"].startswith("http://127.0.0.1:")
    assert table(report).endswith("PASSED")


def test_summary_of_no_requests_is_well_formed() -> None:
    report = summarise([], 1.0, [COVID])
    assert report["requests"] == 0 and report["latency_ms"]["p50"] is None
    json.dumps(report)
    shown = table({**report, "clients": 1, "seconds": 1.0, "server_concurrency_limit": 4,
                   "questions": 1, "server_memory_mib": {"rss_when_ready": None, "peak_rss": None},
                   "failures": verdict({**report, "stuck_clients": []})})
    assert "n/a" in shown and shown.endswith("FAILED: no request was answered")


def test_bad_arguments_are_refused_before_any_server_starts() -> None:
    with pytest.raises(ValueError, match="upload_at"):
        run_load(1.0, 1, upload_at=1.5)
    with pytest.raises(ValueError, match="seconds"):
        run_load(0.0, 1)


def test_a_request_queued_across_the_upload_counts_as_during_it() -> None:
    from benchmarks.load import UploadClock

    clock = UploadClock()
    assert clock.phase(1.0, 2.0) == "before"  # no upload yet
    clock.started, clock.finished = 10.0, 12.0
    assert clock.phase(8.0, 9.5) == "before"
    assert clock.phase(9.0, 13.0) == "during"  # sent before, answered after the swap
    assert clock.phase(11.0, 11.5) == "during"
    assert clock.phase(12.0, 12.3) == "after"
    clock.finished = None
    assert clock.phase(11.0, 30.0) == "during"  # the upload still running
