"""Text out of each supported file format: what gets chunked, embedded and quoted.

Plain text is decoded exactly (UTF-8, UTF-8 with BOM, GB18030 or UTF-16 with BOM), so offsets
index the original file, unless it is hard-wrapped: then, as a PDF's lines are, its
lines are joined back into paragraphs. Other formats are converted once, deterministically,
and the converted text is what citations quote: PDF through ``pypdf`` (its text
layer, page by page), Word through ``python-docx`` (paragraphs and tables in
order), HTML through the standard library's ``html.parser``; PDF pages without a text
layer and images through OCR (``rag.ocr``, the optional ``ocr`` extra). Headings of Word
and HTML files become Markdown ``#`` lines, which the chunker reads as sections.

Every loader counts what it reads against :class:`rag.limits.IngestLimits` and
stops at the first limit crossed. PDF, Word and HTML are parsed in a separate
process (:mod:`rag.parse_worker`) with a memory cap and a timeout; plain text
is decoded here.
"""

from __future__ import annotations

import bisect
import codecs
import io
import logging
import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

from rag import ocr
from rag.limits import IngestLimits, LimitExceeded, ReadBudget
from rag.types import OcrLine

TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, ".pdf", ".docx", ".html", ".htm", *ocr.IMAGE_SUFFIXES)
PAGE_BREAK = "\n\f\n"  # between PDF pages: a blank line to the chunker (none where a sentence
# runs on to the next page)
_ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK, common for Chinese files
_SENTENCE_END = tuple("。！？；;!?：:")
_CJK = re.compile(r"[\u3000-\u9fff\uf900-\uffef]")
_HEADING_LINE = re.compile(r"^\s*([一二三四五六七八九十]+、|第[一二三四五六七八九十]+[章节部分]|#)")
# What starts a line of its own: a heading, a paragraph's ordinal lead (一是, （一）, （1）),
# a list item or a table row.
_LINE_START = re.compile(
    rf"{_HEADING_LINE.pattern}"
    r"|^\s*([一二三四五六七八九十]+是|[（(][一二三四五六七八九十\d]+[)）]|[-*+•]\s|\d+(?:[.)]\s|、)|\|)"
)
# A page's running number, printed at its foot or head: "— 3 —", "- 3 -", "第3页 共20页",
# "3/20", "Page 3 of 20", a bare "3". It is no part of the text it would be glued to.
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-—–－]+\s*\d{1,4}\s*[-—–－]+|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"
    r"|\d{1,4}(?:\s*/\s*\d{1,4})?|page\s+\d{1,4}(?:\s+of\s+\d{1,4})?)\s*$",
    re.I,
)
_WRAPPED_LINE = 0.75  # a line this close to the full width was wrapped, not ended
_WRAPPED_SHARE = 0.3  # a plain text file with this share of wrapped lines is hard-wrapped
_WRAPPED_MIN_LINES = 10  # fewer lines say too little about how a file was written
# Markdown's inline marks, which no reader of a quotation wants to see: **bold**, __bold__,
# `code`, [a link](url) and ![an image](url) read as their words. Headings (#) stay: the
# chunker reads their depth.
_MARKDOWN_INLINE = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)|\*\*|__|`")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)""", re.I)
_HTML_PIECE = 1 << 16  # characters fed to the HTML parser between two checks of the limits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractedText:
    """A document's text; for a PDF, ``pages[i]`` is the offset where page ``i + 1`` starts.

    ``ocr_lines``: the lines of the pages read by OCR (rag.ocr), with their boxes.
    """

    text: str
    pages: list[int] | None = None
    ocr_lines: list[OcrLine] | None = None


class UnreadableError(ValueError):
    """The file cannot give text; the message says why, for the skipped-files list."""


def decode(data: bytes) -> str | None:
    """Decode bytes as text, or ``None`` when they are not text (NUL bytes, no encoding fits).

    UTF-16 with its byte order mark is what Windows Notepad saves as "Unicode"; its NUL
    bytes are half its ASCII characters, not a sign of a binary file.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
        return None if "\x00" in text else text
    if b"\x00" in data:
        return None
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def page_of(pages: list[int] | None, offset: int) -> int | None:
    """The 1-based page holding ``offset``, or ``None`` for documents without pages."""
    return max(bisect.bisect_right(pages, offset), 1) if pages else None


def extract_text(
    path: Path, data: bytes | None = None, limits: IngestLimits | None = None
) -> ExtractedText:
    """The text of ``path`` (``data``: its bytes, when already read), within ``limits``
    (default: from the environment).

    Raises :class:`UnreadableError` with a reason a person can act on.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableError(f"unsupported file type {suffix or '(none)'}")
    if data is None:
        data = path.read_bytes()
    if not data:
        raise UnreadableError("empty (0 bytes)")
    limits = limits or IngestLimits.from_env()
    if suffix in TEXT_SUFFIXES:
        result = _plain_text(data, limits)
        if suffix == ".md":
            result = ExtractedText(_MARKDOWN_INLINE.sub(lambda m: m.group(1) or "", result.text))
    else:
        from rag.parse_worker import parse_isolated  # imports this module: import it late

        result = parse_isolated(suffix, data, limits, ocr.page_progress(path.name))
    if not result.text.strip():
        raise UnreadableError("no text in it")
    return _in_simplified(result)


def _in_simplified(result: ExtractedText) -> ExtractedText:
    """A document written in traditional characters (Hong Kong's, Macao's or Taiwan's), read
    in simplified ones, character for character, so every offset still indexes the file.

    Why: the questions are read in simplified characters, and so are the figures' units
    (億元 is 亿元), the dictionary's headwords and the time cues: over the corpus reports
    written in traditional characters, half the Chinese questions were answered "not found".
    A simplified document (a traditional-only character now and then: 快砲) is kept as it is.
    """
    # Imported late: its table (≈0.5 s, once a process) is read only when a file is.
    from rag.simplified import is_traditional, to_simplified

    if not is_traditional(result.text):
        return result
    lines = result.ocr_lines and [replace(line, text=to_simplified(line.text))
                                  for line in result.ocr_lines]
    return replace(result, text=to_simplified(result.text), ocr_lines=lines)


def _plain_text(data: bytes, limits: IngestLimits) -> ExtractedText:
    """A .txt or .md file, decoded in this process (fast, and its cost is its size)."""
    if len(data) > 4 * limits.max_chars:  # UTF-8 needs at most 4 bytes a character
        raise UnreadableError(limits.exceeded("characters", "max_chars"))
    text = decode(data)
    if text is None:
        raise UnreadableError("not a text file (binary or unknown encoding)")
    try:
        ReadBudget(limits).add(len(text), text.count("\n") + 1)
    except LimitExceeded as exc:
        raise UnreadableError(str(exc)) from None
    return ExtractedText(_unwrapped(text))


def _unwrapped(text: str) -> str:
    """``text`` itself, or, when it is hard-wrapped (pdftotext's output, a mail, an editor's
    fixed width), its paragraphs joined back into lines: a sentence cut at every line end
    cannot be cited whole, nor its words matched across the cut (the seven corpus reports
    wrapped at 38 characters: first citation right 48.6 % before this, 92.6 % after).

    A file counts as wrapped when at least :data:`_WRAPPED_SHARE` of its lines end
    mid-sentence at about the common full width (the 90th percentile of line lengths);
    one paragraph a line, as most reports are, is never that, and is kept exactly.
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    lengths = sorted(len(line) for line in lines if line)
    if len(lengths) < _WRAPPED_MIN_LINES:
        return text
    width = lengths[int(0.9 * (len(lengths) - 1))]
    cut = sum(_ends_wrapped(line, width) for line in lines)
    return _reflow(text, width) if cut >= _WRAPPED_SHARE * len(lengths) else text


def parse_rich(
    suffix: str, data: bytes, limits: IngestLimits, progress: ocr.Progress | None = None
) -> ExtractedText:
    """A PDF, Word, HTML or image file, parsed in this process (the parse worker calls this);
    ``progress(done, total)`` after each page OCR reads."""
    budget = ReadBudget(limits)
    try:
        if suffix == ".pdf":
            return _pdf(data, budget, progress)
        if suffix == ".docx":
            return ExtractedText(_docx(data, budget))
        if suffix in ocr.IMAGE_SUFFIXES:
            return _image(data, progress)
        return ExtractedText(_html(data, budget))
    except LimitExceeded as exc:
        raise UnreadableError(str(exc)) from None


# --------------------------------------------------------------------------- PDF


def _pdf(data: bytes, budget: ReadBudget, progress: ocr.Progress | None) -> ExtractedText:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableError("encrypted PDF (needs a password); save an unprotected copy")
        budget.pages(_declared_pages(reader))  # before walking the page tree (25 s at 100k)
        budget.pages(len(reader.pages))  # the declared count may lie; the tree does not
        texts, cut = [], []
        for page in reader.pages:
            lines = _without_page_number((page.extract_text() or "").split("\n"))
            text = _reflow("\n".join(lines))
            budget.add(len(text) + len(PAGE_BREAK), text.count("\n") + 1)
            texts.append(text)
            cut.append(_page_cut(lines))
    except (UnreadableError, LimitExceeded, MemoryError):  # MemoryError: see parse_worker
        raise
    except Exception as exc:  # pypdf reports damage (and unsupported ciphers) in many types
        raise UnreadableError(f"damaged or unsupported PDF ({type(exc).__name__}: {exc})") from exc
    scanned = [i + 1 for i, t in enumerate(texts) if _visible(t) < ocr.MIN_TEXT_CHARS]
    read: dict[int, ocr.OcrPage] = {}
    if scanned and ocr.available():
        try:
            read = ocr.read_pdf_pages(data, scanned, progress)
        except ocr.OcrError as exc:
            raise UnreadableError(str(exc)) from exc
    elif any(not texts[n - 1].strip() for n in scanned):
        log.warning("PDF pages without a text layer are left out; to read them: %s", ocr.HINT)
    # A short text layer (a page number over a scan, a cover title) stays unless OCR reads more.
    read = {n: page for n, page in read.items() if _visible(page.text) > _visible(texts[n - 1])}
    for number, page in read.items():
        texts[number - 1] = page.text
        cut[number - 1] = False
    if not any(t.strip() for t in texts):
        hint = "no text found by OCR" if ocr.available() else f"enable OCR: {ocr.HINT}"
        raise UnreadableError(f"PDF without a text layer (scanned?); {hint}")
    # A sentence the page's end cut goes on at the next page's top, unless that starts anew
    # (pages are numbered from 1: page n + 1 is followed by page n + 2, which OCR may read).
    joins = [
        _glue(before, after) if cut[n] and n + 2 not in read and before and after
        and not _LINE_START.match(after) else PAGE_BREAK
        for n, (before, after) in enumerate(zip(texts, texts[1:], strict=False))
    ]
    return _paged(texts, read, joins)


def _without_page_number(lines: list[str]) -> list[str]:
    """A page's lines without the page number at its foot or head."""
    lines = [line for line in lines if line.strip()]
    if lines and _PAGE_NUMBER.match(lines[-1]):
        lines = lines[:-1]
    if lines and _PAGE_NUMBER.match(lines[0]):
        lines = lines[1:]
    return lines


def _page_cut(lines: list[str]) -> bool:
    """Whether a page ends mid-sentence, its last line running to the full width."""
    width = max((len(line.strip()) for line in lines), default=0)
    return bool(lines) and _ends_wrapped(lines[-1].strip(), width)


def _visible(text: str) -> int:
    return len("".join(text.split()))


def _image(data: bytes, progress: ocr.Progress | None) -> ExtractedText:
    """An image is read by OCR, one page per frame."""
    if not ocr.available():
        raise UnreadableError(f"an image needs OCR; enable it with {ocr.HINT}")
    try:
        read = ocr.read_image(data, progress)
    except ocr.OcrError as exc:
        raise UnreadableError(str(exc)) from exc
    return _paged([page.text for page in read], dict(enumerate(read, start=1)))


def _paged(
    texts: list[str], read: dict[int, ocr.OcrPage], joins: list[str] | None = None
) -> ExtractedText:
    """Pages joined by ``joins`` (default ``PAGE_BREAK``); the OCR lines re-based onto the
    joined text."""
    joins = [*(joins or [PAGE_BREAK] * (len(texts) - 1)), ""]
    pages: list[int] = []
    lines: list[OcrLine] = []
    pos = 0
    for number, (text, join) in enumerate(zip(texts, joins, strict=True), start=1):
        pages.append(pos)
        if number in read:
            lines += read[number].shifted(pos)
        pos += len(text) + len(join)
    return ExtractedText("".join(t + j for t, j in zip(texts, joins, strict=True)), pages,
                         lines if read else None)


def _declared_pages(reader: object) -> int:
    """The page count the file states (``/Count``), read without walking the page tree."""
    try:
        count = reader.root_object["/Pages"]["/Count"]  # type: ignore[attr-defined]
    except Exception:  # a damaged tree: counting the real pages will say more
        return 0
    return count if isinstance(count, int) else 0


def _reflow(page: str, width: int | None = None) -> str:
    """Join the visual lines of a wrapped paragraph, so a sentence is not cut at each line end.

    A line is joined to the next when it ends mid-sentence and runs (nearly) to the full
    ``width`` (default: the page's longest line), unless the next line starts a heading,
    an ordinal lead, a list item or a table row; short lines (titles, the ends of
    paragraphs) keep their breaks.
    """
    lines = [line.strip() for line in page.replace("\r\n", "\n").split("\n")]
    if width is None:
        width = max((len(line) for line in lines), default=0)
    out: list[str] = []
    joinable = False
    for line in lines:
        if joinable and line and not _LINE_START.match(line):
            out[-1] += _glue(out[-1], line) + line
        else:
            out.append(line)
        joinable = _ends_wrapped(line, width)
    return "\n".join(out).strip()


def _glue(before: str, after: str) -> str:
    """What joins two wrapped lines: nothing next to CJK, nor inside a number or a figure in
    Chinese text (``2`` + ``5.0%``), nor before punctuation that closes a word (``%``,
    ``)``, ``,``) or inside a number cut at its point (``266.`` + ``5``); else the space the
    wrap took, as between two English words."""
    if _CJK.match(before[-1]) or _CJK.match(after[0]) or after[0] in "%)]}.,;:!?":
        return ""
    letters = before[-1].isalpha() and after[0].isalpha()
    if _CJK.search(before) and not letters:
        return ""
    decimal = before[-1] in ".," and before[-2:-1].isdigit() and after[0].isdigit()
    return "" if decimal else " "


def _ends_wrapped(line: str, width: int) -> bool:
    """Whether ``line`` was cut by the wrap: it ends mid-sentence near the full width."""
    return bool(line) and len(line) >= _WRAPPED_LINE * width and not line.endswith(_SENTENCE_END)


# --------------------------------------------------------------------------- Word


def _docx(data: bytes, budget: ReadBudget) -> str:
    """Paragraphs one per line (so a citation's line is its paragraph), tables row by row.

    Each style is resolved once: python-docx looks a paragraph's style up by
    scanning all the styles, which made a file of 40,000 paragraphs take minutes.
    """
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        levels: dict[str | None, int] = {}  # style id -> heading level
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells: list[str] = []
                    for cell in row.cells:  # a merged cell repeats; keep it once
                        text = " ".join(cell.text.split())
                        if not cells or cells[-1] != text:
                            cells.append(text)
                    lines.append(" | ".join(cells))
                    budget.add(len(lines[-1]))
            else:
                style_id = block._p.style  # the id only; ``block.style`` does the slow lookup
                if style_id not in levels:
                    style = block.style
                    levels[style_id] = _heading_level((style.name if style else "") or "")
                level = levels[style_id]
                text = block.text.replace("\n", " ").strip()
                lines.append(f"{'#' * level} {text}" if level and text else text)
                budget.add(len(lines[-1]))
    except (LimitExceeded, MemoryError):
        raise
    except Exception as exc:  # zip, lxml and python-docx report a corrupt package in many types
        raise UnreadableError(f"damaged Word file ({type(exc).__name__}: {exc})") from exc
    return "\n".join(lines)


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return min(int(match.group(1)), 6) if match else 0


# --------------------------------------------------------------------------- HTML


class _HtmlText(HTMLParser):
    """Visible text; block elements end lines, ``<h1>``–``<h6>`` become ``#`` headings."""

    _BLOCKS = {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
        "table", "title", "tr", "ul",
    }  # fmt: skip
    _HIDDEN = {"script", "style", "noscript", "template", "svg", "head"}

    def __init__(self, budget: ReadBudget) -> None:
        super().__init__(convert_charrefs=True)
        self.budget = budget
        self.lines: list[str] = []
        self._line: list[str] = []
        self._hidden = 0
        self._in_title = False

    def _end_line(self) -> None:
        text = " ".join("".join(self._line).split())
        if text.strip("# |"):  # not an empty heading or table row
            self.lines.append(text)
            self.budget.add(len(text))
        self._line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS or re.fullmatch(r"h[1-6]", tag):
            self._end_line()
            if tag[0] == "h" and tag[1:].isdigit():
                self._line.append("#" * int(tag[1]) + " ")
        elif tag in ("td", "th"):
            self._line.append(" | " if self._line else "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS or re.fullmatch(r"h[1-6]", tag):
            self._end_line()

    def handle_data(self, data: str) -> None:
        if not self._hidden or self._in_title:
            self._line.append(data)

    def text(self) -> str:
        self._end_line()
        return "\n".join(self.lines)


def _html(data: bytes, budget: ReadBudget) -> str:
    declared = _META_CHARSET.search(data[:4096])
    text = None
    if declared and not data.startswith(codecs.BOM_UTF8):  # a BOM outranks the declaration
        try:
            text = data.decode(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            text = None
    if text is None:
        text = decode(data)
    if text is None:
        raise UnreadableError("not an HTML file (binary or unknown encoding)")
    parser = _HtmlText(budget)
    for start in range(0, len(text), _HTML_PIECE):
        parser.feed(text[start : start + _HTML_PIECE])
        budget.check_time()
    parser.close()
    return parser.text()
