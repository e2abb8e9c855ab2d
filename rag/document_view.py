"""The document view: a whole indexed document as escaped text, the cited span highlighted.

Clicking a citation in the chat opens it here, so a reader sees what surrounds
the quote. Only the index's own text is shown (what citations quote, exactly),
so ``text[start:end]`` is the highlighted span; headings are set off without
their Markdown ``#`` marks, PDF pages are numbered.

A quote from a scanned page was read by OCR, and may be misread: above the text
the view shows the page itself with the cited lines boxed, so a reader can check
the reading against the scan, and says how sure the OCR was.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from rag.chunking import _HEADING
from rag.page_image import PageImageError, page_image_uri
from rag.types import OcrLine

log = logging.getLogger(__name__)

_HASHES = re.compile(r"^(\s*)#{1,6}\s+", re.M)
EMPTY_VIEW = (
    '<div class="rag-doc-empty">Click a citation [n] to read it in its document. '
    "点击引用编号查看原文。</div>"
)


@dataclass(frozen=True)
class CitedSpan:
    """What a citation link carries: the document and the span to show."""

    source: str
    start: int
    end: int

    def encode(self) -> str:
        return json.dumps([self.source, self.start, self.end], ensure_ascii=False)

    @classmethod
    def decode(cls, value: str) -> CitedSpan | None:
        """From a link's value (JSON, maybe followed by ``|`` and a click counter); else None."""
        try:
            source, start, end = json.loads(str(value).rsplit("|", 1)[0])
        except (ValueError, TypeError):
            return None
        if not isinstance(source, str) or not all(isinstance(x, int) for x in (start, end)):
            return None
        return cls(source, start, end)


def strip_heading_marks(text: str) -> str:
    """``text`` without Markdown heading marks at line starts (Word/HTML headings carry them)."""
    return _HASHES.sub(r"\1", text)


@dataclass(frozen=True)
class ScanView:
    """A cited span on a page read by OCR: the page image (if it can be shown) and its lines."""

    page: int
    cited: list[OcrLine]  # the lines the span overlaps, in reading order
    unsure: list[OcrLine]  # the page's low-confidence lines, left out of the text
    image: str | None = None  # the page as a data: URI
    problem: str = ""  # why there is no image

    @property
    def confidence(self) -> float:
        """The weakest reading among the cited lines: what the quote's reliability rests on."""
        return min(line.confidence for line in self.cited)

    @property
    def badge(self) -> str:
        return f"OCR text (page {self.page}, confidence {self.confidence:.2f})"


def scan_view(
    lines: list[OcrLine] | None, span: CitedSpan, file: Path, sha256: str | None = None
) -> ScanView | None:
    """The OCR lines ``span`` cites and its page's image; None when no OCR line is cited
    (a document or a page with a text layer)."""
    cited = [
        line for line in lines or []
        if line.start is not None and line.end is not None
        and line.start < max(span.end, span.start + 1) and line.end > span.start
    ]  # fmt: skip
    if not cited:
        return None
    page = cited[0].page
    cited = [line for line in cited if line.page == page]
    unsure = [line for line in lines or [] if line.page == page and line.low_confidence]
    try:
        image = page_image_uri(file, page, cited[0].rotation, sha256)
    except PageImageError as exc:
        log.warning("No page image for %s page %d: %s", file.name, page, exc)
        return ScanView(page, cited, unsure, problem=f"The scanned page cannot be shown: {exc}.")
    return ScanView(page, cited, unsure, image)


def _box_html(line: OcrLine, kind: str, note: str) -> str:
    x0, y0, x1, y1 = line.box
    style = (
        f"left:{100 * x0:.2f}%;top:{100 * y0:.2f}%;"
        f"width:{100 * (x1 - x0):.2f}%;height:{100 * (y1 - y0):.2f}%"
    )
    title = f"{note}, confidence {line.confidence:.2f}: {line.text}"
    return (
        f'<div class="rag-scan-box {kind}" style="{style}" title="{html.escape(title)}" '
        f'data-box="{",".join(f"{v:.4f}" for v in line.box)}" '
        f'data-confidence="{line.confidence:.4f}"></div>'
    )


def _scan_html(scan: ScanView) -> str:
    """The page image with the cited lines boxed and the unsure lines marked, or why not."""
    if scan.image is None:
        return f'<div class="rag-scan-missing">{html.escape(scan.problem)}</div>'
    boxes = [_box_html(line, "rag-scan-hit", "cited") for line in scan.cited]
    boxes += [_box_html(line, "rag-scan-unsure", "not used in answers") for line in scan.unsure]
    caption = html.escape(scan.badge)
    if scan.unsure:
        caption += (
            f' · <span class="rag-scan-unsure-note">{len(scan.unsure)} line'
            f'{"s" if len(scan.unsure) != 1 else ""} read with low confidence, '
            "not used in answers (dashed)</span>"
        )
    return (
        f'<figure class="rag-scan" data-page="{scan.page}"><div class="rag-scan-page">'
        f'<img src="{scan.image}" alt="Scanned page {scan.page}">{"".join(boxes)}</div>'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _line_html(text: str, ls: int, le: int, start: int, end: int, badge: str = "") -> str:
    line = text[ls:le]
    heading = bool(_HEADING.match(line))
    lo, hi = max(start, ls) - ls, min(end, le) - ls
    if lo < hi:
        hit = strip_heading_marks(line[lo:hi]) if heading and lo == 0 else line[lo:hi]
        mark = (
            f'<span class="rag-doc-ocr">{html.escape(badge)}</span> '
            if badge and ls <= start else ""
        )  # fmt: skip
        body = (
            html.escape(strip_heading_marks(line[:lo]) if heading else line[:lo])
            + mark
            + f'<mark class="rag-doc-hit">{html.escape(hit)}</mark>'
            + html.escape(line[hi:])
        )
    else:
        body = html.escape(strip_heading_marks(line) if heading else line)
    tag = "rag-doc-h" if heading else "rag-doc-p"
    return f'<div class="{tag}">{body or "&nbsp;"}</div>'


def document_view_html(
    title: str,
    span: CitedSpan,
    text: str,
    section: str = "",
    line: int = 0,
    page: int | None = None,
    scan: ScanView | None = None,
) -> str:
    """The document ``text`` with ``span`` highlighted, under a header saying where it is;
    for a span read by OCR, the scanned page above the text (see :func:`scan_view`)."""
    start, end = max(0, span.start), min(len(text), span.end)
    where = [f"page {page}" if page is not None else f"line {line}"]
    if section:
        where.insert(0, html.escape(strip_heading_marks(section)))
    header = (
        f'<div class="rag-doc-head"><div class="rag-doc-title">{html.escape(title)}</div>'
        f'<div class="rag-doc-meta">{html.escape(span.source)} · {" · ".join(where)}</div></div>'
    )
    parts, pos, page_no = [], 0, 1
    for raw in text.split("\n"):
        ls, le = pos, pos + len(raw)
        pos = le + 1
        if raw == "\f":
            page_no += 1
            parts.append(f'<div class="rag-doc-page">— page {page_no} —</div>')
            continue
        parts.append(_line_html(text, ls, le, start, end, scan.badge if scan else ""))
    body = "".join(parts)
    figure = _scan_html(scan) if scan is not None else ""
    return (
        f'<div class="rag-doc" data-source="{html.escape(span.source)}">{header}{figure}'
        f'<div class="rag-doc-body" tabindex="0">{body}</div></div>'
    )

