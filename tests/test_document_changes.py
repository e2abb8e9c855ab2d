"""Adding and removing documents, through the Python API and the CLI side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings
from rag.documents import DocumentError, add_document, list_documents, remove_document
from rag.pipeline import Pipeline, PipelineHolder
from rag.ui import ChatHandlers

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


def test_cli_add_that_fails_unexpectedly_says_so_in_one_line_and_changes_nothing(
    folders, embeddings, monkeypatch, capsys  # noqa: ANN001
) -> None:
    import rag.embeddings
    import rag.store.build
    from rag.cli import main

    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda settings: embeddings)
    docs, index_dir, uploads = folders
    flags = ["--docs", str(docs), "--index-dir", str(index_dir)]
    assert main([*flags, "list"]) == 0  # the index of roads.txt, built before the failure
    capsys.readouterr()
    real_embed = rag.store.build.embed_texts

    def out_of_memory(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise MemoryError("no room for the vectors")

    monkeypatch.setattr(rag.store.build, "embed_texts", out_of_memory)
    assert main([*flags, "add", str(uploads / "sewage.txt")]) == 1
    error = capsys.readouterr().err
    assert "rag add failed unexpectedly (MemoryError: no room for the vectors)" in error
    assert "as they were" in error and "Traceback" not in error
    assert sorted(p.name for p in docs.iterdir()) == ["roads.txt"]  # the copy was taken back

    monkeypatch.setattr(rag.store.build, "embed_texts", real_embed)
    assert main([*flags, "ask", "新修了多少公里农村公路？"]) == 0  # the old index still answers
    assert "12公里" in capsys.readouterr().out


def test_a_document_is_replaced_only_when_asked_and_the_old_one_is_kept(
    folders, embeddings, capsys, monkeypatch  # noqa: ANN001
) -> None:
    import rag.documents
    import rag.embeddings
    from rag.cli import main

    docs, index_dir, uploads = folders
    # Both replacements in one second (a fast machine): the second must not overwrite the first.
    monkeypatch.setattr(rag.documents.time, "strftime", lambda fmt: "20261201-120000")
    holder = _holder(docs, index_dir, embeddings)
    (uploads / "roads.txt").write_text(ROADS.replace("12公里", "99公里"), encoding="utf-8")
    with pytest.raises(DocumentError, match="--replace"):
        add_document(holder, uploads / "roads.txt")
    assert (docs / "roads.txt").read_text(encoding="utf-8") == ROADS  # nothing overwritten

    replaced = add_document(holder, uploads / "roads.txt", replace=True)
    assert replaced.action == "updated"
    kept = list((docs / ".versions").iterdir())
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == ROADS
    assert "99公里" in holder.get().query("全年新修农村公路多少公里？").text
    assert holder.get().sources == ["roads.txt"]  # the kept version is not indexed

    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda settings: embeddings)
    flags = ["--docs", str(docs), "--index-dir", str(index_dir)]
    (uploads / "roads.txt").write_text(ROADS, encoding="utf-8")
    assert main([*flags, "add", str(uploads / "roads.txt")]) == 2
    assert "--replace" in capsys.readouterr().err
    assert main([*flags, "add", "--replace", str(uploads / "roads.txt")]) == 0
    assert "Updated roads.txt" in capsys.readouterr().out
    kept = sorted((docs / ".versions").iterdir())  # roads.txt.<stamp>, roads.txt.<stamp>-2
    old, newer = ROADS, ROADS.replace("12公里", "99公里")
    assert [k.read_text(encoding="utf-8") for k in kept] == [old, newer]


def test_the_page_cannot_change_documents_when_exposed_without_login(folders, embeddings):  # noqa: ANN001
    from rag.ui import CHANGES_OFF, ChatHandlers

    docs, index_dir, uploads = folders
    handlers = ChatHandlers(_holder(docs, index_dir, embeddings))
    handlers.changes_allowed = False  # what build_ui sets for --host 0.0.0.0 without RAG_AUTH
    assert handlers.add_document(str(uploads / "sewage.txt")) == CHANGES_OFF
    assert handlers.remove_document("roads.txt") == CHANGES_OFF
    assert not (docs / "sewage.txt").exists() and (docs / "roads.txt").exists()


def test_an_index_folder_that_cannot_be_written_serves_the_last_build_with_a_warning(
    folders, embeddings, monkeypatch  # noqa: ANN001
) -> None:
    """As root every folder is writable, so the refusal a read-only folder gives (opening
    the build lock: EACCES) is raised where the build opens it; all else is real."""
    import errno

    import rag.store.build

    docs, index_dir, uploads = folders
    settings = Settings().override(docs_dir=docs, index_dir=index_dir, llm=None)
    Pipeline(settings, embeddings=embeddings)  # the last good build: roads.txt only
    (docs / "sewage.txt").write_text(SEWAGE, encoding="utf-8")  # changed since

    def read_only(folder: Path):  # noqa: ANN202
        raise PermissionError(errno.EACCES, "Permission denied", str(folder / ".lock"))

    monkeypatch.setattr(rag.store.build, "_build_lock", read_only)
    served = Pipeline(settings, embeddings=embeddings)
    warning = served.store.warning or ""
    assert "cannot be updated" in warning and "sewage.txt" in warning
    assert served.sources == ["roads.txt"]
    answer = served.query("新修了多少公里农村公路？")
    assert not answer.abstained and "12公里" in answer.citations[0].quote
    assert ChatHandlers(PipelineHolder(lambda: served)).status()["warning"] == warning
