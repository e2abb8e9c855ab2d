"""A document's display title and its cover block, read from the document itself.

People know a report by its title (京东镇2023年政府工作报告), not by the file
name it happens to be stored under. The title comes from, in order: a PDF's
metadata title, an HTML ``<title>``, the title line of the cover block (the
lines before the first heading or salutation), completed with the place and
year of the delivery line (``2023年3月31日在京东镇第六届…会议上``) when the
title line alone is generic; the file name is the last resort.
"""

from __future__ import annotations

import html
import io
import logging
import re
from dataclasses import replace
from pathlib import Path

from rag.chunking import _HEADING, _TITLE_WORDS
from rag.loaders import decode
from rag.types import Answer

log = logging.getLogger(__name__)

_COVER_LINES = 12  # a cover block is a handful of lines; past this it is the body
_MAX_TITLE_CHARS = 40
_MAX_COVER_LINE_CHARS = 60  # a longer line is body text
_CLOSING_LINES = 4  # a sign-off: a closing phrase, the issuing body, the date
_MAX_CLOSING_LINE_CHARS = 30
_SALUTATION = re.compile(r"^(各位代表|同志们|各位委员)")
_SPACED_CJK = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_DELIVERY = re.compile(
    r"(?P<year>\d{4})年\d{1,2}月\d{1,2}日在(?P<place>(?!第)[\u4e00-\u9fff]{2,12}?)?"
    r"(?:第[一二三四五六七八九十百\d]+届|全国)"
)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_YEAR = re.compile(r"\d{4}年")
_ENDS_IN_WORD = re.compile(r"[^\W_]$")  # a letter, digit or CJK character; no punctuation
# The body a report speaks for, by the formula every government work report uses
# ("我代表深圳市人民政府向大会作政府工作报告"); its place is the report's subject.
_ISSUER = re.compile(r"我代表(?P<place>[\u4e00-\u9fff]{2,12}?)(?:人民政府|管理委员会|管委会)")
_OPENING_CHARS = 500  # the formula opens the speech, right after the salutation


def _clean(line: str) -> str:
    """A line without heading marks, its inner spaces between characters (政 府 工 作) gone."""
    return _SPACED_CJK.sub("", line.strip().lstrip("#").strip().strip("-—").strip())


def cover_lines(text: str) -> list[str]:
    """The lines of the cover block: before the first heading or salutation, at most a few."""
    lines: list[str] = []
    for raw in text.splitlines()[: _COVER_LINES * 2]:
        line = raw.strip()
        if not line:
            continue
        if (
            _SALUTATION.match(line)
            or (_HEADING.match(line) and not line.startswith("#"))
            or len(line) > _MAX_COVER_LINE_CHARS
        ):
            break
        lines.append(line)
        if len(lines) >= _COVER_LINES:
            break
    return lines


def cover_end(text: str) -> int:
    """The offset where the cover block ends (0 when the document has none).

    Sentences before it are the title, the date and the speaker: they answer
    questions about the report itself, but make poor "closest passages".
    """
    lines = cover_lines(text)
    if not lines or not any(_TITLE_WORDS.search(_clean(line).split("——")[0]) for line in lines):
        return 0
    last = lines[-1]
    return text.find(last) + len(last)


def closing_start(text: str) -> int:
    """The offset where the document's sign-off begins (``len(text)`` when it has none): the
    short lines after its last paragraph, such as ``特此报告。`` / the issuing body / the date."""
    end = len(text.rstrip())
    start = end
    for _ in range(_CLOSING_LINES):
        line_start = text.rfind("\n", 0, start - 1) + 1 if start > 0 else 0
        line = text[line_start:start].strip()
        if not line or len(line) > _MAX_CLOSING_LINE_CHARS:
            break
        if line_start == 0:
            return len(text)  # short lines only: no body for them to close
        start = line_start
    return start if start < end else len(text)


def title_from_text(text: str) -> str:
    """The title line of the cover block, with place and year when it lacks them; or ""."""
    lines = [_clean(line) for line in cover_lines(text)]
    title = ""
    rest: list[str] = []
    for line in lines:
        head, _, tail = line.partition("——")
        if not title and len(head) <= _MAX_TITLE_CHARS and _TITLE_WORDS.search(head):
            title = head
            rest.append(tail)
        elif title:
            rest.append(line)
    if not title:
        return ""
    delivery = next((m for m in map(_DELIVERY.search, rest) if m), None)
    if delivery is None:
        return title
    year = "" if _YEAR.search(title) else f"{delivery['year']}年"
    place = delivery["place"] or ""
    return f"{'' if place in title else place}{year}{title}"


def subject_of(text: str) -> str:
    """What the whole document is about, as its own text names it: the cover's title line,
    or else a first line that reads as a bare title (short, no closing punctuation: an
    encyclopedia article's ``六耳铃``); but the place of the body a report speaks for when the
    title does not name it (``# 政府工作报告`` over ``我代表大鹏新区管理委员会…`` → 大鹏新区);
    "" when there is none of these.

    Why: a document's later sentences speak of its subject without naming it (``花期从10月
    起…``); counting the subject's words as theirs keeps the one sentence that happens to
    name it from outranking the one that states what was asked.
    """
    issuer = _ISSUER.search(text[:_OPENING_CHARS])
    place = issuer["place"] if issuer else ""
    title = title_from_text(text)
    if not title:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        heading = _HEADING.match(first) and not first.startswith("#")  # "一、…": a section's
        first = _clean(first)
        if not heading and len(first) <= _MAX_TITLE_CHARS and _ENDS_IN_WORD.search(first):
            title = first
    # A bare "政府工作报告" names no place; the body's "我代表大鹏新区管理委员会" does, and
    # the place is what the report's every sentence speaks of.
    return title if place in title else place


def _pdf_title(path: Path) -> str:
    from pypdf import PdfReader

    try:
        with path.open("rb") as f:
            meta = PdfReader(io.BytesIO(f.read())).metadata
        return str(meta.title or "").strip() if meta else ""
    except Exception:  # pypdf reports damage in many types; the title is a nicety
        log.debug("No PDF title in %s", path, exc_info=True)
        return ""


def _html_title(path: Path) -> str:
    try:
        text = decode(path.read_bytes()[:65536]) or ""
    except OSError:
        return ""
    match = _HTML_TITLE.search(text)
    return " ".join(html.unescape(match.group(1)).split()) if match else ""


def document_title(name: str, text: str, path: Path | None = None) -> str:
    """The title to show for document ``name`` (its text; ``path``: the file, when at hand)."""
    suffix = Path(name).suffix.lower()
    if path is not None and path.is_file():
        title = (
            _pdf_title(path)
            if suffix == ".pdf"
            else _html_title(path)
            if suffix in (".html", ".htm")
            else ""
        )
        if title:
            return title[:120]
    return title_from_text(text) or name


def document_titles(texts: dict[str, str], docs_dir: Path) -> dict[str, str]:
    """Every document's title, by name."""
    return {name: document_title(name, text, docs_dir / name) for name, text in texts.items()}


def with_titles(answer: Answer, titles: dict[str, str]) -> Answer:
    """``answer`` with each citation's document title filled in."""
    if not answer.citations:
        return answer
    cited = [replace(c, title=c.title or titles.get(c.source, c.source)) for c in answer.citations]
    return replace(answer, citations=cited)
