"""The eval harness end to end on three real questions, and its question-file checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.config import Settings
from rag.evaluation import QuestionFileError, load_questions, run_eval

COVID = {
    "id": "t-covid",
    "question": "全年开展了多少轮全员核酸检测？",
    "lang": "zh",
    "kind": "number",
    "answers": [["73"]],
    "gold": "全年开展73轮全员核酸检测",
    "section": "covid",
}
VACCINE = {
    "id": "t-vaccine",
    "question": "What was the COVID vaccination coverage rate?",
    "lang": "en",
    "kind": "number",
    "answers": [["93.9%"]],
    "gold": "覆盖率达到93.9%",
    "section": "covid",
}
UNANSWERABLE = {
    "id": "t-unans",
    "question": "What is the capital of France?",
    "lang": "en",
    "kind": "unanswerable",
    "answers": [],
    "gold": None,
    "section": "none",
}


def _write(path: Path, items: list[object]) -> Path:
    lines = [
        item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in items
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_run_eval_end_to_end(tmp_path: Path, embeddings, capsys) -> None:  # noqa: ANN001
    questions = _write(tmp_path / "q.jsonl", [COVID, VACCINE, UNANSWERABLE])
    settings = Settings().override(index_dir=tmp_path / "index")
    code = run_eval(settings, questions, baselines=True, out_dir=tmp_path, embeddings=embeddings)
    assert code == 0

    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    systems = [report["ours_retrieval"], *report["baselines"]]
    assert [s["name"] for s in systems] == ["ours", "langchain-tutorial", "bm25-only", "dense-only"]
    for system in systems:
        assert system["n"] == 2
        assert 0.0 <= system["hit@5"] <= 1.0
        assert 0.0 <= system["mrr"] <= 1.0
    summary = report["summary"]
    assert summary["n"] == 3 and summary["n_answerable"] == 2
    assert 0.0 <= summary["hit@5"] <= 1.0
    covid = next(q for q in report["questions"] if q["id"] == "t-covid")
    assert covid["correct"] and not covid["abstained"]
    assert "t-covid" not in {f["id"] for f in summary["failures"] if "wrong answer" in f["reasons"]}
    assert report["config"]["question_file"] == str(questions)
    assert report["config"]["model"]

    for name in ("report.md", "report.png"):
        assert (tmp_path / name).stat().st_size > 0
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "langchain-tutorial" in markdown and "## Failures" in markdown
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "bm25-only" in printed and "By kind" in printed


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        (json.dumps({**COVID, "question": ""}), "'question' must be text"),
        (json.dumps({**COVID, "answers": [["73"], []]}), "'answers'"),
        (json.dumps({**COVID, "answers": "73"}), "'answers'"),
        (json.dumps({**COVID, "gold": None}), "needs a 'gold' span"),
        (json.dumps({**COVID, "gold_extra": "x"}), "'gold_extra'"),
        (json.dumps(COVID), "duplicate id"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path / "q.jsonl", [COVID, "", line])
    with pytest.raises(QuestionFileError, match=message) as caught:
        load_questions(path)
    assert f"{path}:3:" in str(caught.value)


def test_valid_file_loads_and_bad_file_exits_2(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    good = load_questions(_write(tmp_path / "good.jsonl", [COVID, UNANSWERABLE]))
    assert [q.answerable for q in good] == [True, False]
    bad = _write(tmp_path / "bad.jsonl", [COVID, "{"])
    assert run_eval(Settings().override(index_dir=tmp_path / "index"), bad, out_dir=tmp_path) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()
