"""Scanned reports: pages of a real report rendered here to images, read back by the real OCR.

The scans are made in the test with Debian's WenQuanYi Micro Hei at 12 pt on an
A4 page at 200 dpi (what a 200-dpi scanner gives), saved as an image-only PDF page
and as a PNG, and indexed with the real model. OCR costs seconds a page on two
cores, so the pages hold a few lines each.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("rapidocr_onnxruntime", reason="the ocr extra: pip install -e '.[ocr]'")
pytest.importorskip("pypdfium2", reason="the ocr extra: pip install -e '.[ocr]'")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.scans import (  # noqa: E402
    A4,
    FONT_PATH,
    LINE_PX,
    MARGIN,
    cer,
    paragraphs_of,
    plain,
    png,
    render,
    scanned_pdf,
    sentences,
)
from rag import ocr  # noqa: E402
from rag.cli import _page_bars  # noqa: E402
from rag.config import PROJECT_ROOT, Settings  # noqa: E402
from rag.document_view import CitedSpan, document_view_html, scan_view  # noqa: E402
from rag.limits import IngestLimits  # noqa: E402
from rag.loaders import PAGE_BREAK, UnreadableError, extract_text, parse_rich  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.types import OcrLine  # noqa: E402
from rag.ui import ChatHandlers  # noqa: E402

CORPUS = PROJECT_ROOT / "evals" / "corpus"
MAX_CER = 0.02

pytestmark = pytest.mark.skipif(not FONT_PATH.exists(), reason="needs fonts-wqy-microhei")


def report_paragraphs(name: str) -> list[str]:
    return paragraphs_of((CORPUS / name).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ocr_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAG_CACHE_DIR", str(folder))
        yield folder / "ocr"


@pytest.fixture(scope="module")
def figure_page() -> tuple[Image.Image, list[str]]:
    """The opening of 海拉尔区's 2013 report: a heading and two paragraphs full of figures."""
    paragraphs = report_paragraphs("hailar_2013_district.txt")
    heading = next(p for p in paragraphs if re.match(r"一、", p))
    body = paragraphs[paragraphs.index(heading) + 1 :]
    return render([[("para", heading), ("para", sentences(body[0], 1)),
                    ("para", sentences(body[1], 3))]])  # fmt: skip


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory, figure_page, ocr_cache: Path) -> Path:  # noqa: ANN001
    docs = tmp_path_factory.mktemp("scans")
    scanned_pdf(docs / "scan.pdf", [figure_page[0]], "Hailar District Government Work Report 2013")
    png(docs / "scan.png", figure_page[0])
    return docs


@pytest.fixture(scope="module")
def scan_pipeline(scans: Path, embeddings, tmp_path_factory) -> Pipeline:  # noqa: ANN001
    settings = Settings().override(
        embed_model="bundled", docs_dir=scans, index_dir=tmp_path_factory.mktemp("index"), llm=None
    )
    return Pipeline(settings, embeddings=embeddings)


# --------------------------------------------------------------------------- tests


def test_a_figure_on_a_scanned_page_is_cited_with_its_page(scan_pipeline: Pipeline) -> None:
    report = (CORPUS / "hailar_2013_district.txt").read_text(encoding="utf-8")
    for source, page in (("scan.pdf", 2), ("scan.png", 1)):
        answer = scan_pipeline.query("全年社会消费品零售总额完成多少？", source=source)
        assert not answer.abstained, answer.text
        cite = answer.citations[0]
        assert (cite.source, cite.page) == (source, page)
        assert scan_pipeline.store.texts[source][cite.start : cite.end] == cite.quote
        figures = re.findall(r"零售总额完成([\d.]+亿元)", cite.quote)
        # The figure the answer gives is the one the report prints.
        assert figures and figures[0] in answer.text and f"零售总额完成{figures[0]}" in report


def test_ocr_reads_the_rendered_page_within_2_percent_cer(scans: Path, figure_page) -> None:  # noqa: ANN001
    extracted = extract_text(scans / "scan.png")
    rate = cer(extracted.text, figure_page[1])
    print(f"CER on the rendered page: {rate:.2%}")
    assert rate <= MAX_CER
    assert extracted.pages == [0] and extracted.ocr_lines
    for line in extracted.ocr_lines:
        assert line.page == 1 and line.confidence >= ocr.MIN_CONFIDENCE
        assert line.start is not None and extracted.text[line.start : line.end] == line.text
        assert 0 <= line.box[0] < line.box[2] <= 1 and 0 <= line.box[1] < line.box[3] <= 1
    # Paragraphs come back one per line, as the report has them.
    assert len(extracted.text.split("\n")) == len(figure_page[1])


def test_a_pdf_page_with_a_text_layer_keeps_it(scans: Path, figure_page) -> None:  # noqa: ANN001
    extracted = extract_text(scans / "scan.pdf")
    assert extracted.pages is not None and len(extracted.pages) == 2
    first, second = extracted.text.split(PAGE_BREAK)
    assert first == "Hailar District Government Work Report 2013"
    assert cer(second, figure_page[1]) <= MAX_CER
    assert extracted.ocr_lines and {line.page for line in extracted.ocr_lines} == {2}
    assert all(line.start >= extracted.pages[1] for line in extracted.ocr_lines)


def test_a_page_read_once_is_not_read_again(scans: Path, ocr_cache: Path, monkeypatch) -> None:  # noqa: ANN001
    before = extract_text(scans / "scan.png")
    assert len(list(ocr_cache.glob("*.json"))) >= 2  # the PNG and the rendered PDF page

    def no_ocr(pixels: object) -> None:
        raise AssertionError("the page was read again instead of taken from the cache")

    monkeypatch.setattr(ocr, "_recognise", no_ocr)  # in this process: read here, not in a worker
    data = (scans / "scan.png").read_bytes()
    assert parse_rich(".png", data, IngestLimits.from_env()) == before


@pytest.fixture(scope="module")
def short_page() -> tuple[Image.Image, list[str]]:
    """Three lines of 深圳's 2016 report, on the top of an A4 page."""
    paragraphs = report_paragraphs("shenzhen_2016_city.txt")
    body = next(p for p in paragraphs if len(re.findall(r"\d", p)) > 10)
    page, reference = render([[("para", sentences(body, 2)[:100])]])
    return page.crop((0, 0, A4[0], MARGIN + 5 * LINE_PX)), reference


@pytest.mark.parametrize("turn", [90, 180])
def test_a_rotated_page_is_read_upright(
    turn: int, short_page, ocr_cache: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    image, reference = short_page
    extracted = extract_text(png(tmp_path / "turned.png", image.rotate(turn, expand=True)))
    assert cer(extracted.text, reference) <= MAX_CER, extracted.text
    assert extracted.ocr_lines and {line.rotation for line in extracted.ocr_lines} == {turn}


def test_two_columns_are_read_one_after_the_other(ocr_cache: Path, tmp_path: Path) -> None:
    paragraphs = report_paragraphs("national_2018_guowuyuan.txt")
    long = [p for p in paragraphs if len(p) > 200]
    left, right = sentences(long[0], 1)[:60], sentences(long[1], 1)[:60]
    page, reference = render([[("title", "政府工作报告"), ("para", left)], [("para", right)]])
    page = page.crop((0, 0, A4[0], MARGIN + 12 * LINE_PX))
    extracted = extract_text(png(tmp_path / "columns.png", page))
    text = plain(extracted.text)
    assert cer(extracted.text, reference) <= MAX_CER, extracted.text
    assert text.startswith("政府工作报告")
    assert text.index(plain(left)[-8:]) < text.index(plain(right)[:8])  # left column whole first


def test_low_confidence_lines_are_flagged_and_kept_out_of_the_text() -> None:
    reading = {
        "version": ocr.CACHE_VERSION, "width": 1000, "height": 1000, "rotation": 0,
        "lines": [
            ["全年新增就业岗位1.2万个，", 0.98, 100, 100, 900, 130],
            ["城镇登记失业率为3.1%。", 0.31, 100, 150, 420, 180],
            ["财政收入增长6%。", 0.97, 100, 200, 380, 230],
        ],
    }  # fmt: skip
    page = ocr.layout(reading, page=3)
    assert "3.1%" not in page.text and "1.2万个" in page.text and "6%" in page.text
    unsure = [line for line in page.lines if line.low_confidence]
    assert [line.text for line in unsure] == ["城镇登记失业率为3.1%。"]
    assert unsure[0].start is None and unsure[0].page == 3


def test_page_and_time_limits_name_their_setting(
    ocr_cache: Path, short_page, monkeypatch  # noqa: ANN001
) -> None:
    image = short_page[0]
    tiff = io.BytesIO()
    image.save(tiff, "TIFF", save_all=True, append_images=[image])
    data = tiff.getvalue()
    monkeypatch.setenv("RAG_MAX_PAGES", "1")
    with pytest.raises(ocr.OcrError, match=r"2 pages to OCR, more than RAG_MAX_PAGES=1"):
        ocr.read_image(data)
    monkeypatch.setenv("RAG_MAX_PAGES", "many")
    with pytest.raises(ValueError, match="RAG_MAX_PAGES must be a positive number"):
        ocr.read_image(data)
    monkeypatch.delenv("RAG_MAX_PAGES")
    monkeypatch.setenv("RAG_MAX_PARSE_SECONDS", "0.001")
    with pytest.raises(ocr.OcrError, match=r"after 1 of 2 pages \(RAG_MAX_PARSE_SECONDS=0.001\)"):
        ocr.read_image(data)
    monkeypatch.delenv("RAG_MAX_PARSE_SECONDS")
    pages = ocr.read_image(data)  # page 1 is cached, and page 2 is the same pixels
    assert len(pages) == 2 and pages[0].text == pages[1].text
    assert {line.page for line in pages[1].lines} == {2}


def test_without_the_ocr_extra_the_skip_says_how_to_enable_it(
    tmp_path: Path, short_page, monkeypatch  # noqa: ANN001
) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # as if not installed
    assert not ocr.available()
    scan = scanned_pdf(tmp_path / "scan.pdf", [short_page[0]])
    limits = IngestLimits.from_env()  # parsed here: the parse worker has the extra installed
    with pytest.raises(UnreadableError, match=r"text layer.*pip install -e '\.\[ocr\]'"):
        parse_rich(".pdf", scan.read_bytes(), limits)
    with pytest.raises(UnreadableError, match=r"pip install -e '\.\[ocr\]'"):
        parse_rich(".png", png(tmp_path / "page.png", short_page[0]).read_bytes(), limits)


def test_full_width_marks_between_digits_are_read_as_digit_marks() -> None:
    reading = {
        "version": ocr.CACHE_VERSION, "width": 1000, "height": 1000, "rotation": 0,
        "lines": [["完成投资1，250．5亿元，增长8%。", 0.95, 100, 100, 900, 130]],
    }  # fmt: skip
    page = ocr.layout(reading, page=1)
    assert page.text == "完成投资1,250.5亿元，增长8%。" == page.lines[0].text


# --------------------------------------------------------------------------- the document view


class _ViewParts(HTMLParser):
    """The page image and the boxes drawn over it, as the browser gets them."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.boxes: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(found["src"])
        if "rag-scan-box" in found.get("class", ""):
            self.boxes.append(found)


def view_parts(view: str) -> tuple[Image.Image | None, list[dict[str, str]]]:
    parts = _ViewParts()
    parts.feed(view)
    assert len(parts.images) <= 1
    if not parts.images:
        return None, parts.boxes
    head, payload = parts.images[0].split(",", 1)
    assert head == "data:image/jpeg;base64"
    return Image.open(io.BytesIO(base64.b64decode(payload))).convert("L"), parts.boxes


def box_style(box: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = (100 * v for v in box)
    return f"left:{x0:.2f}%;top:{y0:.2f}%;width:{x1 - x0:.2f}%;height:{y1 - y0:.2f}%"


def ink(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """The share of dark pixels in ``box`` (fractions of the image)."""
    w, h = image.size
    crop = image.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))
    return float((np.asarray(crop) < 128).mean()) if crop.width and crop.height else 0.0


def cited_lines(lines: list[OcrLine], start: int, end: int) -> list[OcrLine]:
    return [ln for ln in lines if ln.start is not None and ln.start < end and ln.end > start]


def test_the_view_of_a_scanned_citation_shows_the_page_with_the_cited_lines_boxed(
    scan_pipeline: Pipeline,
) -> None:
    handlers = ChatHandlers(lambda: scan_pipeline)
    for source, page in (("scan.pdf", 2), ("scan.png", 1)):
        cite = scan_pipeline.query("全年社会消费品零售总额完成多少？", source=source).citations[0]
        view = handlers.open_document(CitedSpan(source, cite.start, cite.end).encode())
        image, boxes = view_parts(view)
        assert image is not None, view[:500]
        assert abs(image.height / image.width - A4[1] / A4[0]) < 0.01  # the whole page, upright
        lines = cited_lines(scan_pipeline.store.ocr_lines[source], cite.start, cite.end)
        assert lines and {line.page for line in lines} == {page}
        hits = [b for b in boxes if "rag-scan-hit" in b["class"]]
        # One box per cited line, where OCR found it, and the page image has ink there.
        assert [b["style"] for b in hits] == [box_style(line.box) for line in lines]
        for line, hit in zip(lines, hits, strict=True):
            assert f"confidence {line.confidence:.2f}" in hit["title"]
            assert ink(image, line.box) > 0.05 > ink(image, (0.02, 0.02, 0.1, 0.1))
        weakest = min(line.confidence for line in lines)
        badge = f"OCR text (page {page}, confidence {weakest:.2f})"
        # The mark says it next to the cited text, which is highlighted as before.
        assert f'<span class="rag-doc-ocr">{badge}</span> <mark class="rag-doc-hit">' in view
        marked = "".join(re.findall(r'<mark class="rag-doc-hit">(.*?)</mark>', view))
        assert marked == cite.quote.replace("\n", "")


def test_a_text_document_or_a_text_layer_page_has_no_scan_in_its_view(
    scan_pipeline: Pipeline,
) -> None:
    handlers = ChatHandlers(lambda: scan_pipeline)
    cover = scan_pipeline.store.texts["scan.pdf"].index("Hailar")  # page 1: a text layer
    view = handlers.open_document(CitedSpan("scan.pdf", cover, cover + 6).encode())
    assert view_parts(view) == (None, []) and "OCR text" not in view
    assert '<mark class="rag-doc-hit">Hailar</mark>' in view


def test_a_scan_moved_away_or_changed_shows_its_text_and_says_why(
    scan_pipeline: Pipeline, tmp_path: Path
) -> None:
    moved = copy.copy(scan_pipeline)
    moved.settings = scan_pipeline.settings.override(docs_dir=tmp_path)
    handlers = ChatHandlers(lambda: moved)
    line = next(ln for ln in scan_pipeline.store.ocr_lines["scan.png"] if ln.start is not None)
    value = CitedSpan("scan.png", line.start, line.end).encode()
    view = handlers.open_document(value)
    assert view_parts(view) == (None, [])
    assert f"The scanned page cannot be shown: scan.png is no longer in {tmp_path}" in view
    assert f'<mark class="rag-doc-hit">{line.text}</mark>' in view and "OCR text (page 1" in view
    png(tmp_path / "scan.png", Image.new("L", (200, 100), 255))  # another file of that name
    view = handlers.open_document(value)
    assert view_parts(view)[0] is None
    assert "scan.png changed since it was indexed; re-index to see its scanned page" in view


def test_a_rotated_scan_is_shown_upright_with_its_boxes_on_the_ink(
    short_page, ocr_cache: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    path = png(tmp_path / "turned.png", short_page[0].rotate(90, expand=True))
    extracted = extract_text(path)
    lines = [ln for ln in extracted.ocr_lines or [] if ln.start is not None]
    assert lines and {ln.rotation for ln in lines} == {90}
    span = CitedSpan("turned.png", lines[0].start, lines[-1].end)
    scan = scan_view(extracted.ocr_lines, span, path)
    assert scan is not None and scan.cited == lines
    image, boxes = view_parts(document_view_html("t", span, extracted.text, page=1, scan=scan))
    assert image is not None and image.width > image.height  # upright: the crop's landscape shape
    assert len(boxes) == len(lines)
    for line in lines:
        assert ink(image, line.box) > 0.05


def test_low_confidence_lines_are_drawn_flagged_on_their_page(tmp_path: Path) -> None:
    reading = {
        "version": ocr.CACHE_VERSION, "width": 1000, "height": 1000, "rotation": 0,
        "lines": [
            ["全年新增就业岗位1.2万个，", 0.98, 100, 100, 900, 130],
            ["城镇登记失业率为3.1%。", 0.31, 100, 150, 420, 180],
            ["财政收入增长6%。", 0.97, 100, 200, 380, 230],
        ],
    }  # fmt: skip
    page = ocr.layout(reading, page=1)
    path = png(tmp_path / "page.png", Image.new("L", (1000, 1000), 255))
    first = page.lines[0]
    span = CitedSpan("page.png", first.start, first.end)
    scan = scan_view(page.lines, span, path)
    assert scan is not None and [ln.text for ln in scan.unsure] == ["城镇登记失业率为3.1%。"]
    view = document_view_html("t", span, page.text, page=1, scan=scan)
    _, boxes = view_parts(view)
    unsure = [b for b in boxes if "rag-scan-unsure" in b["class"]]
    assert [b["style"] for b in unsure] == [box_style((0.1, 0.15, 0.42, 0.18))]
    assert "not used in answers, confidence 0.31" in unsure[0]["title"]
    assert "1 line read with low confidence, not used in answers" in view
    assert "3.1%" not in view.split('<div class="rag-doc-body"')[1]  # never in the text


# --------------------------------------------------------------------------- progress and cache


def test_ocr_progress_arrives_per_page_through_the_parse_worker(
    ocr_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two whole A4 pages, as a scanner gives them, also within the default memory cap
    (the address space ONNX Runtime reserves once went over it on the second page)."""
    paragraphs = [p for p in report_paragraphs("shenzhen_2016_city.txt") if len(p) > 60][5:7]
    pages = [render([[("para", p[:60])]])[0] for p in paragraphs]
    pdf = scanned_pdf(tmp_path / "two.pdf", pages)
    assert IngestLimits.from_env().parse_memory_mb == IngestLimits().parse_memory_mb
    seen: list[tuple[str, int, int]] = []
    bars = _page_bars()

    def report(name: str, done: int, total: int) -> None:
        seen.append((name, done, total))
        bars(name, done, total)

    with ocr.reporting_pages(report):
        extracted = extract_text(pdf)  # read in the parse worker, reported here
    assert seen == [("two.pdf", 0, 2), ("two.pdf", 1, 2), ("two.pdf", 2, 2)]
    assert {line.page for line in extracted.ocr_lines or []} == {1, 2}
    assert re.search(r"OCR two\.pdf.*2/2", capsys.readouterr().err)  # the CLI's bar
    extract_text(pdf)
    assert len(seen) == 3  # nobody asked for progress: none is sent


def test_a_damaged_cache_entry_is_read_again_and_named(
    short_page, ocr_cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture  # noqa: ANN001
) -> None:
    image = short_page[0]
    narrower = image.crop((0, 0, image.width - 8, image.height))  # pixels no other test reads
    data = png(tmp_path / "page.png", narrower).read_bytes()
    limits = IngestLimits.from_env()
    known = set(ocr_cache.glob("*.json"))
    before = parse_rich(".png", data, limits)  # in this process, so its log is seen here
    (entry,) = set(ocr_cache.glob("*.json")) - known  # this page's reading, just cached
    reading = ocr._load_cached(entry)
    assert reading is not None and reading["lines"]
    damaged = reading | {"lines": [["一行", "0.9", 0, 0, 10, 10]]}  # valid JSON, wrong shape
    entry.write_text(json.dumps(damaged), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rag.ocr"):
        assert parse_rich(".png", data, limits) == before
    assert f"OCR cache entry {entry} is damaged; reading the page again" in caplog.text
    assert ocr._load_cached(entry) is not None  # and written anew


def test_rag_index_shows_each_scanned_page_on_stderr_and_keeps_stdout_clean(
    short_page, tmp_path: Path  # noqa: ANN001
) -> None:
    from benchmarks.app_process import app_env

    docs = tmp_path / "docs"
    docs.mkdir()
    png(docs / "page.png", short_page[0])
    done = subprocess.run(
        [sys.executable, "-m", "rag", "--docs", str(docs), "--index-dir", str(tmp_path / "index"),
         "index"],
        capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT,
        # The model's default cache (the OCR cache goes there too, not to this module's).
        env=app_env(RAG_EMBED_MODEL="bundled", RAG_CACHE_DIR=str(PROJECT_ROOT / ".cache")),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"OCR page\.png: .*1/1", done.stderr), done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith("Index ready: ")
    assert "OCR" not in done.stdout
