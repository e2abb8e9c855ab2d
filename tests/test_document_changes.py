"""Adding and removing documents, through the Python API and the CLI side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings
from rag.documents import DocumentError, add_document, list_documents, remove_document
from rag.pipeline import Pipeline, PipelineHolder

ROADS = "道路建设\n全年新修农村公路12公里，改造危桥3座。\n"
SEWAGE = "环境治理\n全年新建污水处理厂2座，日处理能力达到3万吨。\n"
QUESTION = "新建了几座污水处理厂？"


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    docs, uploads = tmp_path / "docs", tmp_path / "uploads"
    docs.mkdir()
    uploads.mkdir()
    (docs / "roads.txt").write_text(ROADS, encoding="utf-8")
    (uploads / "sewage.txt").write_text(SEWAGE, encoding="utf-8")
    return docs, tmp_path / "index", uploads


def _holder(docs: Path, index_dir: Path, embeddings) -> PipelineHolder:  # noqa: ANN001
    settings = Settings().override(docs_dir=docs, index_dir=index_dir, llm=None)
    return PipelineHolder(lambda: Pipeline(settings, embeddings=embeddings))


def test_api_add_then_remove(folders, embeddings) -> None:  # noqa: ANN001
    docs, index_dir, uploads = folders
    holder = _holder(docs, index_dir, embeddings)
    assert holder.get().query(QUESTION).abstained  # not in the documents yet

    added = add_document(holder, uploads / "sewage.txt")
    assert (added.action, added.name) == ("added", "sewage.txt") and added.chunks >= 1
    assert (docs / "sewage.txt").read_text(encoding="utf-8") == SEWAGE
    answer = holder.get().query(QUESTION)
    assert not answer.abstained and answer.citations[0].source == "sewage.txt"
    assert "2座" in answer.citations[0].quote
    assert [d.name for d in list_documents(holder.get())] == ["roads.txt", "sewage.txt"]
    assert add_document(holder, uploads / "sewage.txt").action == "unchanged"

    removed = remove_document(holder, "sewage.txt")
    assert removed.action == "removed" and not (docs / "sewage.txt").exists()
    assert holder.get().sources == ["roads.txt"]
    after = holder.get().query(QUESTION)
    assert all(c.source != "sewage.txt" for c in after.citations)
    assert not list(docs.rglob(".*"))  # nothing set aside is left behind

    with pytest.raises(DocumentError, match="roads.txt"):  # the message lists what exists
        remove_document(holder, "nosuch.txt")


def test_cli_add_list_remove(folders, embeddings, monkeypatch, capsys) -> None:  # noqa: ANN001
    import rag.embeddings
    from rag.cli import main

    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda settings: embeddings)
    docs, index_dir, uploads = folders
    flags = ["--docs", str(docs), "--index-dir", str(index_dir)]

    assert main([*flags, "add", str(uploads / "sewage.txt")]) == 0
    assert "Added sewage.txt" in capsys.readouterr().out
    assert main([*flags, "list"]) == 0
    listing = capsys.readouterr().out
    assert "roads.txt" in listing and "sewage.txt" in listing and "2 documents" in listing
    assert main([*flags, "remove", "sewage.txt"]) == 0
    assert "Removed sewage.txt" in capsys.readouterr().out
    assert not (docs / "sewage.txt").exists()

    assert main([*flags, "remove", "nosuch.txt"]) == 2
    error = capsys.readouterr().err
    assert "nosuch.txt" in error and "roads.txt" in error
    assert main([*flags, "add", str(uploads / "missing.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
