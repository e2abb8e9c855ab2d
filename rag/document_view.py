"""The document view: a whole indexed document as escaped text, the cited span highlighted.

Clicking a citation in the chat opens it here, so a reader sees what surrounds
the quote. Only the index's own text is shown (what citations quote, exactly),
so ``text[start:end]`` is the highlighted span; headings are set off without
their Markdown ``#`` marks, PDF pages are numbered.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

from rag.chunking import _HEADING

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


def _line_html(text: str, ls: int, le: int, start: int, end: int) -> str:
    line = text[ls:le]
    heading = bool(_HEADING.match(line))
    lo, hi = max(start, ls) - ls, min(end, le) - ls
    if lo < hi:
        hit = strip_heading_marks(line[lo:hi]) if heading and lo == 0 else line[lo:hi]
        body = (
            html.escape(strip_heading_marks(line[:lo]) if heading else line[:lo])
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
) -> str:
    """The document ``text`` with ``span`` highlighted, under a header saying where it is."""
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
        parts.append(_line_html(text, ls, le, start, end))
    body = "".join(parts)
    return (
        f'<div class="rag-doc" data-source="{html.escape(span.source)}">{header}'
        f'<div class="rag-doc-body" tabindex="0">{body}</div></div>'
    )

