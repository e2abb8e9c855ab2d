"""Users' own documents: PDF, Word, HTML, GBK and UTF-16 text, made here, indexed with the real
model."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from rag.config import DocumentSettings, ModelSettings, Settings
from rag.embeddings import model_identity
from rag.loaders import PAGE_BREAK, extract_text
from rag.pipeline import Pipeline
from rag.store.base import IndexSpec
from rag.store.build import build, embedding_text, ensure_index
from rag.store.layout import LoadedIndex, current_build
from rag.types import Answer
from rag.ui import ChatHandlers

MAX_UPLOAD_BYTES = DocumentSettings().max_upload_bytes

MODEL = model_identity("bundled", ModelSettings().backend)  # what the suite embeds with
FILLER = (
    "The council met every month to review the budget, and the minutes of each meeting were "
    "published on the town website so that every resident could read them in full."
)
MUSEUM = "The lighthouse museum received 18,500 visitors in its first year."
RESERVOIR = "The Stone Valley reservoir now holds 3.2 million cubic metres of water."
PARKS = "The town opened 7 new pocket parks along the river embankment."
SEWAGE = "全镇新建污水处理厂2座，日处理能力达到1.5万吨。"
ROADS = "全镇新修农村公路12公里，硬化村道8条。"


def make_pdf(path: Path, page_two: str = MUSEUM) -> Path:
    """Two pages of English text (no CJK font needed); ``page_two`` is the fact on page 2."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Harbor Town Annual Report", new_x="LMARGIN", new_y="NEXT")
    # FILLER wraps over two lines; extraction makes it one sentence again.
    pdf.multi_cell(0, 6, FILLER, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.multi_cell(0, 6, page_two, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def make_docx(path: Path, extra: str | None = None) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Water supply", level=1)
    document.add_paragraph("The waterworks were modernised during the year.")
    document.add_paragraph(RESERVOIR)
    if extra:
        document.add_paragraph(extra)
    document.save(str(path))
    return path


def make_encrypted_pdf(path: Path) -> Path:
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    pdf = FPDF()
    pdf.set_encryption(
        owner_password="owner", user_password="secret", encryption_method=EncryptionMethod.RC4
    )
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Confidential figures.", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path) -> Path:
    """A page with only a drawing on it, as a scan without OCR has only an image."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path


def make_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_pdf(folder / "harbor.pdf")
    make_docx(folder / "water.docx")
    (folder / "parks.html").write_text(
        "<html><head><title>Parks</title><script>var x = '7 parks';</script></head><body>"
        f"<h1>Green spaces</h1><p>{PARKS}</p></body></html>",
        encoding="utf-8",
    )
    (folder / "sewage.txt").write_bytes(f"环境治理\n{SEWAGE}\n".encode("gbk"))
    # Windows Notepad saves "Unicode" as UTF-16 with a byte order mark.
    (folder / "roads.txt").write_bytes(f"交通建设\n{ROADS}\n".encode("utf-16"))
    return folder


@pytest.fixture(scope="module")
def doc_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("documents")
    return Settings().override(
        embed_model="bundled", docs_dir=make_docs(root / "docs"), index_dir=root / "index"
    )


@pytest.fixture(scope="module")
def doc_pipeline(doc_settings: Settings, embeddings) -> Pipeline:  # noqa: ANN001
    return Pipeline(doc_settings, embeddings=embeddings)


def _first(answer: Answer, source: str) -> None:
    assert not answer.abstained, answer.text
    assert answer.citations[0].source == source


# --------------------------------------------------------------------------- extraction


def test_pdf_text_keeps_page_offsets(tmp_path: Path) -> None:
    extracted = extract_text(make_pdf(tmp_path / "a.pdf"))
    assert extracted.pages is not None and len(extracted.pages) == 2
    page_two = extracted.text[extracted.pages[1] :]
    assert page_two.startswith(MUSEUM)
    assert extracted.text[: extracted.pages[1]].endswith(PAGE_BREAK)
    assert FILLER in extracted.text  # the wrapped lines are one sentence again


def test_docx_and_html_text(doc_settings: Settings) -> None:
    docx_text = extract_text(doc_settings.documents.docs_dir / "water.docx")
    assert docx_text.pages is None
    assert docx_text.text.splitlines()[0] == "# Water supply"
    assert RESERVOIR in docx_text.text.splitlines()
    html_text = extract_text(doc_settings.documents.docs_dir / "parks.html").text
    assert "# Green spaces" in html_text and PARKS in html_text and "var x" not in html_text


# --------------------------------------------------------------------------- answers


def test_pdf_fact_on_page_two_is_cited_with_its_page(doc_pipeline: Pipeline) -> None:
    answer = doc_pipeline.query("How many visitors did the lighthouse museum receive?")
    _first(answer, "harbor.pdf")
    cite = answer.citations[0]
    assert cite.page == 2 and "18,500" in cite.quote
    assert doc_pipeline.store.texts["harbor.pdf"][cite.start : cite.end] == cite.quote


def test_word_fact_is_cited_with_its_paragraph(doc_pipeline: Pipeline) -> None:
    answer = doc_pipeline.query("How much water does the reservoir hold?", source="water.docx")
    _first(answer, "water.docx")
    cite = answer.citations[0]
    assert cite.quote == RESERVOIR and cite.page is None
    assert cite.line == 3  # heading, first paragraph, this one
    assert cite.section == "Water supply"


def test_html_fact_is_cited(doc_pipeline: Pipeline) -> None:
    answer = doc_pipeline.query("How many pocket parks did the town open?")
    _first(answer, "parks.html")
    assert answer.citations[0].quote == PARKS


def test_gbk_text_fact_is_cited(doc_pipeline: Pipeline) -> None:
    answer = doc_pipeline.query("新建了几座污水处理厂？")
    _first(answer, "sewage.txt")
    assert "污水处理厂2座" in answer.citations[0].quote and answer.citations[0].line == 2


def test_utf16_text_fact_is_cited(doc_pipeline: Pipeline) -> None:
    answer = doc_pipeline.query("新修了多少公里农村公路？")
    _first(answer, "roads.txt")
    assert answer.citations[0].quote == "全镇新修农村公路12公里，硬化村道8条。"
    assert "12公里" in answer.text


def test_question_limited_to_one_document(doc_pipeline: Pipeline) -> None:
    answer = doc_pipeline.query("How many visitors did the museum receive?", source="parks.html")
    assert all(c.source == "parks.html" for c in answer.citations)


def test_cli_and_ui_show_the_page(doc_pipeline: Pipeline) -> None:
    from rag.cli import where
    from rag.ui import citations_html

    answer = doc_pipeline.query("How many visitors did the lighthouse museum receive?")
    assert where(answer.citations[0]) == "harbor.pdf p.2"
    assert "page 2" in citations_html(answer)
    docx_answer = doc_pipeline.query("How much water does the reservoir hold?")
    assert where(docx_answer.citations[0]) == "water.docx:3"


# --------------------------------------------------------------------------- incremental


class CountingEmbeddings(Embeddings):
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _texts_of(index: LoadedIndex, source: str | None = None) -> set[str]:
    """The texts embedded for the chunks, sentences and clauses (of one source)."""
    rows = [i for i, s in enumerate(index.sentences) if source in (None, s.source)]
    texts = {embedding_text(c.section, c.text) for c in index.chunks if source in (None, c.source)}
    texts |= {index.sentences[i].text for i in rows}
    for owner, start, end in index.clause_spans.tolist():
        if owner in rows:
            s = index.sentences[owner]
            texts.add(s.text[start - s.start : end - s.start])
    return texts


def test_changing_one_file_embeds_only_its_pieces(tmp_path: Path, embeddings) -> None:  # noqa: ANN001
    docs = make_docs(tmp_path / "docs")
    counting = CountingEmbeddings(embeddings)
    first = ensure_index(IndexSpec(docs, tmp_path / "index", MODEL), counting)
    assert counting.embedded == first.manifest["embedded"] == len(_texts_of(first)) > 0
    again = ensure_index(IndexSpec(docs, tmp_path / "index", MODEL), counting)
    assert again.manifest == first.manifest

    make_pdf(docs / "harbor.pdf", "The lighthouse museum received 21,300 visitors last year.")
    counting.embedded = 0
    second = ensure_index(IndexSpec(docs, tmp_path / "index", MODEL), counting)
    expected = len(_texts_of(second, "harbor.pdf") - _texts_of(first))
    assert second.manifest["embedded"] == counting.embedded == expected > 0
    assert expected < second.manifest["chunks"] + second.manifest["sentences"]
    page_two = [s for s in second.sentences if "21,300" in s.text]
    assert [s.page for s in page_two] == [2]

    make_docx(docs / "water.docx", extra="A second pumping station opened in May.")
    counting.embedded = 0
    third = ensure_index(IndexSpec(docs, tmp_path / "index", MODEL), counting)
    expected = len(_texts_of(third, "water.docx") - _texts_of(second))
    assert third.manifest["embedded"] == counting.embedded == expected > 0


# --------------------------------------------------------------------------- unreadable files


def _broken_docs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    make_docx(folder / "good.docx")
    make_encrypted_pdf(folder / "locked.pdf")
    make_scanned_pdf(folder / "scan.pdf")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02\xff\xfe binary")
    (folder / "corrupt.docx").write_bytes(b"PK\x03\x04 this is no zip archive")
    return folder


def test_unreadable_files_are_skipped_with_reasons(tmp_path: Path, embeddings) -> None:  # noqa: ANN001
    docs = _broken_docs(tmp_path / "docs")
    path, skipped = build(IndexSpec(docs, tmp_path / "index", MODEL), embeddings)
    reasons = {s.name: s.reason for s in skipped}
    assert sorted(reasons) == ["binary.txt", "corrupt.docx", "empty.txt", "locked.pdf", "scan.pdf"]
    assert "password" in reasons["locked.pdf"]
    assert "text layer" in reasons["scan.pdf"]
    assert "empty" in reasons["empty.txt"]
    assert "not a text file" in reasons["binary.txt"]
    assert "damaged Word file" in reasons["corrupt.docx"]
    assert path == current_build(tmp_path / "index")
    loaded = ensure_index(IndexSpec(docs, tmp_path / "index", MODEL), embeddings)
    assert set(loaded.manifest["sources"]) == {"good.docx"}
    assert sorted(s.name for s in loaded.skipped) == sorted(reasons)


def test_cli_index_prints_the_skipped_files(
    tmp_path: Path,
    embeddings,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import rag.embeddings
    from rag.cli import main

    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda settings: embeddings)
    docs = _broken_docs(tmp_path / "docs")
    args = ["--docs", str(docs), "--index-dir", str(tmp_path / "index"), "--model", "bundled"]
    assert main([*args, "index"]) == 0
    out = capsys.readouterr().out
    assert "skipped locked.pdf: encrypted PDF" in out and "skipped empty.txt" in out
    assert "Index ready: " in out and "from 1 documents" in out


# --------------------------------------------------------------------------- upload in the UI


def _sewage_handlers(tmp_path: Path, embeddings: Embeddings) -> tuple[Settings, ChatHandlers]:
    """The UI's handlers over a folder holding only the sewage report."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "sewage.txt").write_text(f"环境治理\n{SEWAGE}\n", encoding="utf-8")
    settings = Settings().override(
        embed_model="bundled", docs_dir=docs, index_dir=tmp_path / "index"
    )
    return settings, ChatHandlers(lambda: Pipeline(settings, embeddings=embeddings))


def test_upload_indexes_and_swaps_the_pipeline(tmp_path: Path, embeddings) -> None:  # noqa: ANN001
    settings, handlers = _sewage_handlers(tmp_path, embeddings)
    docs = settings.documents.docs_dir
    assert handlers.status()["sources"] == ["sewage.txt"]
    before = handlers.holder.get()

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    ticks: list[tuple[int, int]] = []
    pdf = str(make_pdf(uploads / "harbor.pdf"))
    message = handlers.add_document(pdf, lambda done, total: ticks.append((done, total)))
    assert message.startswith("Added harbor\\.pdf"), message  # Markdown-escaped
    assert (docs / "harbor.pdf").read_bytes() == (uploads / "harbor.pdf").read_bytes()
    assert ticks and ticks[-1][0] == ticks[-1][1]  # the progress bar reached its end
    assert handlers.holder.get() is not before  # swapped in, no restart
    assert handlers.status()["sources"] == ["harbor.pdf", "sewage.txt"]
    answer = handlers.answer("How many visitors did the lighthouse museum receive?", [], None)
    assert answer.citations[0].source == "harbor.pdf" and answer.citations[0].page == 2
    assert "already indexed" in handlers.add_document(str(uploads / "harbor.pdf"))

    (uploads / "tool.exe").write_bytes(b"MZ")
    assert "not a supported type" in handlers.add_document(str(uploads / "tool.exe"))
    (uploads / "empty.docx").write_bytes(b"")
    assert "cannot be indexed" in handlers.add_document(str(uploads / "empty.docx"))
    with (uploads / "huge.pdf").open("wb") as handle:
        handle.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: costs no disk
    assert "the limit is 20 MB" in handlers.add_document(str(uploads / "huge.pdf"))
    assert sorted(p.name for p in docs.iterdir()) == ["harbor.pdf", "sewage.txt"]


def test_a_failed_upload_changes_nothing_and_says_so_in_one_line(
    tmp_path: Path, embeddings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture  # noqa: ANN001
) -> None:
    """Not a refusal: the index build itself fails (here the embedding step, out of memory)."""
    import logging

    import rag.store.build

    settings, handlers = _sewage_handlers(tmp_path, embeddings)
    docs = settings.documents.docs_dir
    before = handlers.holder.get()
    index_before = current_build(settings.store.index_dir)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    upload = make_docx(uploads / "water_[v2].docx")

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("cannot allocate 2 GiB for the embedding batch")

    monkeypatch.setattr(rag.store.build, "embed_texts", out_of_memory)
    with caplog.at_level(logging.ERROR, logger="rag"):
        message = handlers.add_document(str(upload))
    assert message == (
        "添加 water\\_\\[v2\\]\\.docx 时出错，未做任何更改。 Something went wrong adding "
        "water\\_\\[v2\\]\\.docx; nothing was changed; details in the server log."
    )  # the name as plain text in Markdown, and nothing of the error itself
    assert "\n" not in message and "MemoryError" not in message and str(tmp_path) not in message
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "Traceback" in logged and "cannot allocate 2 GiB" in logged  # the details: in the log

    # Nothing changed: the folder, the live index, the pipeline served; the old document answers.
    assert sorted(p.name for p in docs.iterdir()) == ["sewage.txt"]
    assert current_build(settings.store.index_dir) == index_before
    assert handlers.holder.get() is before and handlers.status()["sources"] == ["sewage.txt"]
    answer = handlers.answer("全镇新建了几座污水处理厂？", [], None)
    assert not answer.abstained and "2座" in answer.text
    assert answer.citations[0].source == "sewage.txt"

    # Once the cause is gone, the same upload goes through (the change lock was released).
    monkeypatch.undo()
    assert handlers.add_document(str(upload)).startswith("Added water\\_\\[v2\\]\\.docx")
    reservoir = handlers.answer("How much water does the Stone Valley reservoir hold?", [], None)
    assert reservoir.citations[0].source == "water_[v2].docx" and "3.2" in reservoir.text
