"""Incremental means incremental: a refresh reads only the files that changed.

A file whose size and modification time match the live build's record is taken from
the build unread; a file written moments ago is not trusted on its time alone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import rag.ingest
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.store.base import IndexSpec
from rag.store.build import ensure_index
from rag.store.layout import SOURCES, current_build

REPORTS = {
    f"report_{i}.txt": f"第{i}部分\n全年新建污水处理厂{i + 2}座，新修农村公路{i + 10}公里。\n"
    for i in range(4)
}


def _age(path: Path, seconds: float = 60.0) -> None:
    """Give ``path`` a modification time in the past (files written by a test are racy)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _write_aged_reports(docs: Path) -> None:
    for name, text in REPORTS.items():
        (docs / name).write_text(text, encoding="utf-8")
        _age(docs / name)


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files actually parsed, in order (the real parser still runs)."""
    seen: list[str] = []
    parse = rag.ingest.extract_text

    def counting(path: Path, data: bytes):  # noqa: ANN202
        seen.append(path.name)
        return parse(path, data)

    monkeypatch.setattr(rag.ingest, "extract_text", counting)
    return seen


def _spec(docs: Path, index_dir: Path) -> IndexSpec:
    return IndexSpec.from_settings(Settings().override(docs_dir=docs, index_dir=index_dir))


def test_a_refresh_reads_only_the_new_or_changed_file(
    tmp_path: Path, embeddings, reads: list[str]  # noqa: ANN001
) -> None:
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    _write_aged_reports(docs)
    spec = _spec(docs, index_dir)
    ensure_index(spec, embeddings)
    assert sorted(reads) == sorted(REPORTS)

    reads.clear()
    ensure_index(spec, embeddings)  # nothing changed: nothing read
    assert reads == []

    (docs / "new.txt").write_text("新增报告\n全年植树造林500亩。\n", encoding="utf-8")
    _age(docs / "new.txt")
    loaded = ensure_index(spec, embeddings)
    assert reads == ["new.txt"]
    assert set(loaded.texts) == set(REPORTS) | {"new.txt"}
    assert loaded.texts["report_1.txt"] == REPORTS["report_1.txt"]

    reads.clear()
    changed = REPORTS["report_2.txt"].replace("4座", "9座")  # same size, new content
    (docs / "report_2.txt").write_text(changed, encoding="utf-8")
    _age(docs / "report_2.txt", 30.0)
    loaded = ensure_index(spec, embeddings)
    assert reads == ["report_2.txt"]
    assert loaded.texts["report_2.txt"] == changed

    reads.clear()
    (docs / "report_3.txt").unlink()
    loaded = ensure_index(spec, embeddings)
    assert reads == [] and "report_3.txt" not in loaded.texts


def test_a_file_written_just_now_is_read_again_next_time(
    tmp_path: Path, embeddings, reads: list[str]  # noqa: ANN001
) -> None:
    """Same size, same coarse time, new bytes: only re-reading can tell."""
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    fresh = docs / "fresh.txt"
    fresh.write_text(REPORTS["report_0.txt"], encoding="utf-8")
    spec = _spec(docs, index_dir)
    ensure_index(spec, embeddings)
    stamp = os.stat(fresh).st_mtime_ns
    text = REPORTS["report_0.txt"].replace("2座", "7座")
    fresh.write_text(text, encoding="utf-8")
    os.utime(fresh, ns=(stamp, stamp))  # indistinguishable by size and time
    reads.clear()
    assert ensure_index(spec, embeddings).texts["fresh.txt"] == text
    assert reads == ["fresh.txt"]


def test_damaged_source_records_mean_every_file_is_read_again(
    tmp_path: Path, embeddings, reads: list[str]  # noqa: ANN001
) -> None:
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    _write_aged_reports(docs)
    settings = Settings().override(docs_dir=docs, index_dir=index_dir, llm=None)
    ensure_index(_spec(docs, index_dir), embeddings)
    build_dir = current_build(index_dir)
    assert build_dir is not None
    (build_dir / SOURCES).write_text('{"name": 1}\nnot json\n', encoding="utf-8")
    reads.clear()
    answer = Pipeline(settings, embeddings=embeddings).query("新建了几座污水处理厂？")
    assert sorted(reads) == sorted(REPORTS)  # the records were ignored, the files read
    assert not answer.abstained and "座" in answer.citations[0].quote


def test_a_just_written_file_is_recorded_untrusted_and_the_records_still_load(
    tmp_path: Path, embeddings, reads: list[str]  # noqa: ANN001
) -> None:
    """A file read right after it was written has no stamp in the records: only that
    file is read again, and the records of the others are used (no warning)."""
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    _write_aged_reports(docs)
    (docs / "fresh.txt").write_text("新增报告\n全年植树造林500亩。\n", encoding="utf-8")
    spec = _spec(docs, index_dir)
    ensure_index(spec, embeddings)
    reads.clear()
    ensure_index(spec, embeddings)
    assert reads == ["fresh.txt"]
