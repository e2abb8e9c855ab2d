"""`rag chat`, `rag list`, an unknown --source, `rag eval --from-feedback`, run as a user would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import SEED, copy_seeds

from benchmarks.app_process import app_env
from rag.cli import main
from rag.config import PROJECT_ROOT
from rag.evaluation import load_questions
from rag.feedback import Feedback, read_feedback, record_feedback

TIMEOUT_S = 600  # a fresh process loads the model; the machine is shared
TITLE = "京东镇2023年政府工作报告"
SECOND = "hailar_2013_district.txt"
SECOND_REPORT = PROJECT_ROOT / "evals" / "corpus" / SECOND


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A private documents folder (the seed and the cover of a second real report) and index
    (started from the built one, when there is one)."""
    root = tmp_path_factory.mktemp("cli")
    docs = copy_seeds(root / "docs")
    excerpt = "\n".join(SECOND_REPORT.read_text(encoding="utf-8").splitlines()[:14]) + "\n"
    (docs / SECOND).write_text(excerpt, encoding="utf-8")
    index = root / "index"
    if (PROJECT_ROOT / "index" / "CURRENT").is_file():
        shutil.copytree(PROJECT_ROOT / "index", index, ignore=shutil.ignore_patterns("*.lock"))
    return docs, index


def rag(folders: tuple[Path, Path], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    docs, index = folders
    return subprocess.run(
        [sys.executable, "-m", "rag", "--docs", str(docs), "--index-dir", str(index), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=PROJECT_ROOT,
        env=app_env(RAG_EMBED_MODEL="bundled"),
    )


def quiet(stderr: str) -> bool:
    """Nothing on stderr but our own progress bar while the index builds: no "Loading
    weights", no library logging."""
    pieces = [p.strip() for p in stderr.replace("\r", "\n").splitlines() if p.strip()]
    return all(p.startswith("Embedding:") for p in pieces)


def test_chat_answers_piped_questions_with_one_load(folders: tuple[Path, Path]) -> None:
    questions = "全年开展了多少轮全员核酸检测？\n\n那疫苗接种呢？\nexit\n新增数字经济企业多少家？\n"
    run = rag(folders, "chat", stdin=questions)
    assert run.returncode == 0, run.stderr
    assert quiet(run.stderr)
    out = run.stdout
    assert "全年开展73轮全员核酸检测" in out
    assert "11万" in out or "93.9%" in out  # the follow-up, read in context
    assert out.count("Sources:") == 2  # "exit" ended the session before the third question
    assert f"[1] {TITLE} · {SEED.name}:" in out


def test_list_shows_titles(folders: tuple[Path, Path]) -> None:
    run = rag(folders, "list")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # the index is built by now: not even a progress bar
    lines = run.stdout.splitlines()
    name, title, kind, size, chunks, _when = lines[0].split("\t")
    assert (name, title, kind) == (SEED.name, TITLE, "txt")
    assert size.endswith(" lines") and int(size.split()[0]) > 50
    assert chunks.endswith(" chunks") and int(chunks.split()[0]) > 10
    assert lines[1].split("\t")[:3] == [SECOND, "海拉尔区2013年政府工作报告", "txt"]
    assert lines[-1] == "2 documents"


def test_an_unknown_source_lists_the_documents(folders: tuple[Path, Path]) -> None:
    run = rag(folders, "ask", "全年开展了多少轮全员核酸检测？", "--source", "nosuch.txt")
    assert run.returncode == 2 and run.stdout == ""
    assert "no document named 'nosuch.txt'" in run.stderr
    assert SEED.name in run.stderr and TITLE in run.stderr


def test_remove_takes_a_document_out(folders: tuple[Path, Path]) -> None:
    run = rag(folders, "remove", SECOND)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"Removed {SECOND} (")
    assert not (folders[0] / SECOND).exists()  # gone from the folder once the index is rebuilt
    run = rag(folders, "ask", "海拉尔区全年地区生产总值完成多少亿元？", "--source", SECOND)
    assert run.returncode == 2 and f"no document named {SECOND!r}" in run.stderr


def test_feedback_becomes_draft_eval_questions(tmp_path: Path, capsys: pytest.CaptureFixture
                                               ) -> None:
    verdicts = [("全年开展了多少轮全员核酸检测？", "up"), ("京东镇有几所中学？", "down")] * 5
    threads = [
        threading.Thread(
            target=record_feedback,
            args=(tmp_path, Feedback(q, f"answer to {q}", v, [{"source": SEED.name}])),
        )
        for q, v in verdicts
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = tmp_path / "feedback.jsonl"
    entries = read_feedback(path)
    assert len(entries) == 10 and {e["verdict"] for e in entries} == {"up", "down"}

    assert main(["eval", "--from-feedback", str(path)]) == 0
    drafts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(drafts) == 1  # the 👎 question once, the 👍 one not at all
    draft = drafts[0]
    assert draft["question"] == "京东镇有几所中学？" and draft["lang"] == "zh"
    assert draft["answers"] == [] and draft["draft"] is True
    assert draft["rejected_sources"] == [SEED.name]

    out = tmp_path / "drafts.jsonl"
    assert main(["eval", "--from-feedback", str(path), "--out", str(out)]) == 0
    real = (PROJECT_ROOT / "evals" / "questions.jsonl").read_text(encoding="utf-8").splitlines()[0]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(real + "\n" + out.read_text(encoding="utf-8"), encoding="utf-8")
    assert [q.id for q in load_questions(mixed)] == [json.loads(real)["id"]]  # drafts wait


def test_a_broken_feedback_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text('{"question": "q", "verdict": "down"}\n{not json\n', encoding="utf-8")
    assert main(["eval", "--from-feedback", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2 is not JSON" in err and len(err.strip().splitlines()) == 1
