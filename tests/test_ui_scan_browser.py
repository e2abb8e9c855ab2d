"""A scanned page in Debian's Chromium: its citation opens the page image with the line boxed.

One app for the module over a private documents folder holding one scan: a few
lines of a real report drawn on the top of an A4 page (see benchmarks/scans.py),
read by the real OCR when the app builds its index.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, OUTPUT

from benchmarks.app_process import AppStartError, app_env, running_app
from rag.config import PROJECT_ROOT

pytest.importorskip("rapidocr_onnxruntime", reason="the ocr extra: pip install -e '.[ocr]'")

from benchmarks.scans import A4, FONT_PATH, LINE_PX, MARGIN, paragraphs_of, png, render  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not FONT_PATH.exists(), reason="needs fonts-wqy-microhei"),
]

START_TIMEOUT_S = 600.0
TIMEOUT_MS = 120_000
REPORT = PROJECT_ROOT / "evals" / "corpus" / "shenzhen_2016_city.txt"


@pytest.fixture(scope="module")
def scan_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A documents folder with one scanned page, and the sentence drawn on it with a figure."""
    paragraph = next(
        p for p in paragraphs_of(REPORT.read_text(encoding="utf-8"))
        if len(re.findall(r"\d", p)) > 10
    )  # fmt: skip
    sentence = re.findall(r"[^。]*。", paragraph)[0]
    page, _ = render([[("para", sentence)]])
    docs = tmp_path_factory.mktemp("scan-docs")
    png(docs / "scan.png", page.crop((0, 0, A4[0], MARGIN + 4 * LINE_PX)))
    return docs, sentence


@pytest.fixture(scope="module")
def app(scan_text: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (run `make browser`)")
    root = tmp_path_factory.mktemp("scan-app")
    env = app_env(
        RAG_DOCS_DIR=str(scan_text[0]), RAG_INDEX_DIR=str(root / "index"), RAG_EMBED_MODEL="bundled"
    )
    try:
        with running_app(env, root / "app.log", START_TIMEOUT_S) as running:
            running.wait_ready(START_TIMEOUT_S - (time.time() - running.started))
            yield running.url
    except AppStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def page(app: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
        page.goto(app)
        page.locator("#status").get_by_text("Ready:").wait_for(timeout=TIMEOUT_MS)
        yield page
        browser.close()


def test_a_scanned_citation_opens_its_page_with_the_cited_line_boxed(
    page: Any, scan_text: tuple[Path, str]
) -> None:
    from playwright.sync_api import expect

    sentence = scan_text[1]
    figure = re.findall(r"\d[\d.]*[万亿]*元", sentence)[0]
    # The question is the sentence's own wording up to its first figure.
    box = page.locator("#question textarea")
    box.fill(sentence.split(figure)[0].rstrip("，,") + "是多少？")
    box.press("Enter")
    bot = page.locator('#chatbot [data-testid="bot"]').first
    link = bot.locator(".rag-cite-meta a.rag-open").first
    expect(link).to_be_visible(timeout=TIMEOUT_MS)
    assert "scan.png" in bot.locator(".rag-cite-meta").first.inner_text()
    link.click()

    image = page.locator("#doc-view .rag-scan img")
    expect(image).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => { const i = document.querySelector('#doc-view .rag-scan img');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT_MS,
    )
    hits = page.locator("#doc-view .rag-scan-hit")
    assert hits.count() >= 1
    # Each box sits where its line's fractions of the page put it, on the image as drawn.
    img = image.bounding_box()
    for i in range(hits.count()):
        hit = hits.nth(i)
        x0, y0, x1, y1 = (float(v) for v in hit.get_attribute("data-box").split(","))
        rect = hit.bounding_box()
        assert rect["width"] > 20 and rect["height"] > 5
        assert abs(rect["x"] - (img["x"] + x0 * img["width"])) < 2
        assert abs(rect["y"] - (img["y"] + y0 * img["height"])) < 2
        assert abs(rect["width"] - (x1 - x0) * img["width"]) < 3
        assert "confidence" in hit.get_attribute("title")
    caption = page.locator("#doc-view .rag-scan figcaption").inner_text()
    assert re.fullmatch(r"OCR text \(page 1, confidence (0\.\d\d|1\.00)\).*", caption), caption
    expect(page.locator("#doc-view mark.rag-doc-hit")).to_be_visible()
    expect(page.locator("#doc-view .rag-doc-ocr")).to_have_text(caption.split(" · ")[0])
    OUTPUT.mkdir(exist_ok=True)
    page.locator("#doc-view").screenshot(path=str(OUTPUT / "ui_scan_view.png"))


def test_an_uploaded_scan_shows_its_ocr_progress_page_by_page(
    page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from benchmarks.scans import scanned_pdf

    # Pages full of text: each takes the OCR seconds, so its progress is there to be seen
    # (a one-line page was read between two of the browser's looks at the message).
    lines = [p for p in paragraphs_of(REPORT.read_text(encoding="utf-8")) if len(p) > 60][5:11]
    pages = [render([[("para", x) for x in lines[n : n + 3]]])[0] for n in (0, 3)]
    pdf = scanned_pdf(tmp_path / "two_pages.pdf", pages)
    page.locator("#documents").get_by_text("Documents · 文档管理").click()
    page.locator("#upload input[type=file]").set_input_files(str(pdf))
    # While the worker reads the pages, the upload's progress names the file and the page.
    message = page.locator("#upload-message")
    expect(message).to_contain_text(
        re.compile(r"[12]/2 pages .*OCR two_pages\.pdf · 正在识别扫描页"), timeout=TIMEOUT_MS
    )
    expect(message).to_contain_text("Added two_pages.pdf", timeout=TIMEOUT_MS)
