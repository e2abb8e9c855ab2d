"""Offline OCR of scanned PDF pages and images, in reading order, each line with its box.

RapidOCR (``rapidocr-onnxruntime`` 1.4, whose wheel carries the PP-OCRv4 Chinese
detection and recognition models, so nothing is downloaded) reads the lines;
``pypdfium2`` renders PDF pages. Both are the optional extra ``ocr``. Pages are
turned upright first (90°/180°/270°), lines are ordered by columns and joined
into paragraphs, and lines read with low confidence are kept out of the text, so
that an answer never quotes a figure the model was unsure of. Each page's
reading is cached as JSON under ``RAG_CACHE_DIR/ocr/`` by the hash of its pixels,
so indexing again does not read it again.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.types import OcrLine

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

HINT = "pip install -e '.[ocr]'"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MIN_CONFIDENCE = 0.5  # below this a line is flagged and left out of the text
MIN_TEXT_CHARS = 20  # a PDF page with fewer visible characters has no usable text layer
DPI = 200  # keeps 9-point characters about 25 pixels high
MAX_SIDE = 2400  # pixels: bounds memory and time (an A4 page at 200 dpi is 2339 high)
MAX_PIXELS = 64_000_000  # an image larger than this is refused before decoding it whole
CACHE_VERSION = "rapidocr-1.4.4/ppocrv4/2"  # change to re-read every cached page
_M_ARENA_MAX = -8  # glibc's mallopt parameter number
_ORIENT_SIDE = 1024  # the page is turned upright from a reading at this size
_SENTENCE_END = tuple("。！？；;!?：:")
_HEADING = re.compile(r"^\s*([一二三四五六七八九十]+、|第[一二三四五六七八九十]+[章节部分])")
_CJK = re.compile(r"[\u3000-\u9fff\uf900-\uffef]")
_DIGIT_MARK = re.compile(r"(?<=\d)[，．](?=\d)")  # 2，000 / 3．5: a digit group is never full width

Progress = Callable[[int, int], None]  # (pages done, pages to read)
PageReport = Callable[[str, int, int], None]  # (file name, pages done, pages to read)
_page_report: ContextVar[PageReport | None] = ContextVar("ocr_page_report", default=None)


class OcrError(ValueError):
    """A file OCR cannot read, or a limit it would exceed; the message says what to do."""


@dataclass(frozen=True)
class OcrPage:
    """One page's recognised text in reading order; ``lines`` offsets index ``text``."""

    text: str
    lines: list[OcrLine]

    def shifted(self, offset: int) -> list[OcrLine]:
        """The lines with offsets into a document in which this page starts at ``offset``."""
        return [
            line if line.start is None or line.end is None
            else replace(line, start=line.start + offset, end=line.end + offset)
            for line in self.lines
        ]  # fmt: skip


def available() -> bool:
    """Whether the ``ocr`` extra is installed."""
    try:
        import pypdfium2  # noqa: F401
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def reporting_pages(report: PageReport) -> Iterator[None]:
    """Within this block (in this thread), ``report(name, done, total)`` after each page read.

    OCR runs many calls below whoever shows its progress (an upload, ``rag index``:
    documents, index build, loader, parse worker); the one showing it sets this
    instead of every layer passing a callback along.
    """
    token = _page_report.set(report)
    try:
        yield
    finally:
        _page_report.reset(token)


def page_progress(name: str) -> Progress | None:
    """The progress callback for reading file ``name``, when someone shows it."""
    report = _page_report.get()
    return None if report is None else partial(report, name)


# --------------------------------------------------------------------------- limits and cache


def _limit(name: str, default: float) -> float:
    """A positive number from the environment (same names as the other ingest limits)."""
    value = os.environ.get(name, "")
    try:
        number = float(value) if value.strip() else default
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}; unset it or fix it")
    return number


def max_pages() -> int:
    return int(_limit("RAG_MAX_PAGES", 2000))


def max_seconds() -> float:
    return _limit("RAG_MAX_PARSE_SECONDS", 120.0)


def cache_dir() -> Path:
    from rag.config import PROJECT_ROOT

    root = os.environ.get("RAG_CACHE_DIR")
    return (Path(root).expanduser() if root else PROJECT_ROOT / ".cache") / "ocr"


def _cache_path(pixels: np.ndarray) -> Path:
    digest = hashlib.sha256(f"{CACHE_VERSION}|{pixels.shape}|".encode())
    digest.update(pixels.tobytes())
    return cache_dir() / f"{digest.hexdigest()}.json"


def _load_cached(path: Path) -> dict[str, Any] | None:
    """A page's cached reading; None when absent, of another version or damaged.

    The reading's lines become the text and the boxes the document view draws, so
    a damaged entry is read again rather than trusted (and named in the log).
    """
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("OCR cache entry %s is unreadable (%s); reading the page again", path, exc)
        return None
    if not isinstance(cached, dict) or cached.get("version") != CACHE_VERSION:
        return None
    if not _well_formed(cached):
        log.warning("OCR cache entry %s is damaged; reading the page again", path)
        return None
    return cached


def _well_formed(reading: dict[str, Any]) -> bool:
    """A positive size, a quarter turn, and lines of [text, confidence, x0, y0, x1, y1]."""

    def number(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    width, height, lines = reading.get("width"), reading.get("height"), reading.get("lines")
    if not (number(width) and number(height) and width > 0 and height > 0):
        return False
    if reading.get("rotation") not in (0, 90, 180, 270) or not isinstance(lines, list):
        return False
    return all(
        isinstance(line, list) and len(line) == 6 and isinstance(line[0], str)
        and all(number(v) for v in line[1:]) and 0 <= line[1] <= 1
        and line[2] <= line[4] and line[3] <= line[5]
        for line in lines
    )  # fmt: skip


def _store(path: Path, reading: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_text(json.dumps(reading, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:  # a read-only cache only costs a re-read next time
        log.warning("OCR cache not written (%s): %s", path.parent, exc)


# --------------------------------------------------------------------------- recognition

_engine: Any = None
_engine_lock = threading.Lock()


def _few_malloc_arenas() -> None:
    """Let glibc keep at most two heaps, before ONNX Runtime starts its threads.

    Each thread's own heap reserves 64 MB of address space, which the parse
    worker's cap (``RAG_PARSE_MEMORY_MB``) counts: with one heap per thread an A4
    page peaked at 2.15 GB of address space for 1.1 GB in use, over the 2 GB default.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(_M_ARENA_MAX, 2)


def _ocr_engine() -> Any:
    global _engine
    if _engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise OcrError(f"OCR is not installed; enable it with {HINT}") from exc
        _few_malloc_arenas()
        engine = RapidOCR()
        engine.text_score = 0.0  # keep every line: low confidence is flagged here, not dropped
        engine.max_side_len = MAX_SIDE
        _engine = engine
    return _engine


def _upright_turns(engine: Any, pixels: np.ndarray) -> int:
    """Quarter turns clockwise that make the page upright, from its lines' shape and direction."""
    import cv2
    import numpy as np

    scale = _ORIENT_SIDE / max(pixels.shape[:2])
    small = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    boxes, _ = engine.text_det(small)
    if boxes is None or len(boxes) == 0:
        return 0
    sides = np.array([(np.linalg.norm(b[0] - b[1]), np.linalg.norm(b[0] - b[3])) for b in boxes])
    turns = 0
    if np.sum(sides[:, 1] > 1.5 * sides[:, 0]) > np.sum(sides[:, 0] > 1.5 * sides[:, 1]):
        turns = 1  # lines run top to bottom: the page lies on its side
        small = np.ascontiguousarray(np.rot90(small, k=-1))
        boxes, _ = engine.text_det(small)
        if boxes is None or len(boxes) == 0:
            return turns
    longest = sorted(boxes, key=lambda b: -np.linalg.norm(b[0] - b[1]))[:30]
    # The classifier sees 192×48 pixels: a whole line squeezed that small is read wrong
    # a third of the time, its first few characters almost never.
    heads = [c[:, : 6 * c.shape[0]] for c in engine.get_crop_img_list(small, longest)]
    _, labels, _ = engine.text_cls(heads)
    flipped = sum(score for label, score in labels if label == "180")
    if flipped > sum(score for label, score in labels if label != "180"):
        turns += 2
    return turns % 4


@dataclass(frozen=True)
class _Box:
    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


def _recognise(pixels: np.ndarray) -> dict[str, Any]:
    """Every line of an upright-able page image (BGR), with its box in upright pixels."""
    import numpy as np

    with _engine_lock:
        engine = _ocr_engine()
        try:
            turns = _upright_turns(engine, pixels)
            upright = np.ascontiguousarray(np.rot90(pixels, k=-turns)) if turns else pixels
            result, _ = engine(upright, use_cls=False)  # upright already; see _upright_turns
        except Exception as exc:
            # ONNX Runtime reports an allocation refused (the parse worker's memory cap)
            # as its own error with a traceback inside: say it is memory, in one line.
            if "bad_alloc" in str(exc):
                raise MemoryError("OCR ran out of memory") from None
            raise
    height, width = upright.shape[:2]
    lines = []
    for points, text, score in result or []:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        text = text.strip()
        if text:
            lines.append([text, round(float(score), 4), min(xs), min(ys), max(xs), max(ys)])
    return {"version": CACHE_VERSION, "width": width, "height": height,
            "rotation": 90 * turns, "lines": lines}  # fmt: skip


def read_pixels(pixels: np.ndarray, page: int) -> OcrPage:
    """One page image (H×W×3 BGR or H×W gray), read or taken from the cache."""
    import numpy as np

    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    path = _cache_path(pixels)
    reading = _load_cached(path)
    if reading is None:
        reading = _recognise(pixels)
        _store(path, reading)
    return layout(reading, page)


# --------------------------------------------------------------------------- reading order


def _columns(boxes: list[_Box], char: float) -> list[tuple[float, float]]:
    """Column extents: the text's x range cut at gutters that (almost) no line crosses.

    A centred title over two columns crosses the gutter; so a gutter is where
    coverage drops under a tenth of the busiest x, at least one character wide.
    """
    import numpy as np

    left, right = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
    cover = np.zeros(int(right - left) + 2, dtype=np.int32)
    for b in boxes:
        cover[int(b.x0 - left) : int(b.x1 - left) + 1] += 1
    low = cover <= max(1, 0.1 * cover.max())
    cuts, x = [], 0
    while x < len(low):
        if low[x]:
            end = x
            while end < len(low) and low[end]:
                end += 1
            if x > 0 and end < len(low) and end - x >= char:
                cuts.append((left + x, left + end))
            x = end
        x += 1
    edges = [left] + [v for cut in cuts for v in cut] + [right]
    return [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]


def _rows(boxes: list[_Box]) -> list[list[_Box]]:
    """Boxes on the same visual line (half their height overlapping), top to bottom."""
    rows: list[list[_Box]] = []
    for box in sorted(boxes, key=lambda b: b.middle):
        if rows:
            row = rows[-1]
            top, bottom = min(b.y0 for b in row), max(b.y1 for b in row)
            overlap = min(bottom, box.y1) - max(top, box.y0)
            if overlap >= 0.5 * min(box.height, bottom - top):
                row.append(box)
                continue
        rows.append([box])
    return [sorted(row, key=lambda b: b.x0) for row in rows]


def _segments(boxes: list[_Box], char: float) -> list[tuple[list[list[_Box]], float, float]]:
    """Runs of rows in reading order, each with the left and right edge of its column.

    Lines wider than one column (titles, full-width paragraphs) cut the page into
    bands; inside a band the columns are read left to right.
    """
    columns = _columns(boxes, char)
    if len(columns) == 1:
        return [(_rows(boxes), *columns[0])]
    tolerance = char / 2
    placed: dict[int, list[_Box]] = {i: [] for i in range(len(columns))}
    spanning: list[_Box] = []
    for box in boxes:
        home = [
            i for i, (lo, hi) in enumerate(columns)
            if box.x0 >= lo - tolerance and box.x1 <= hi + tolerance
        ]  # fmt: skip
        (placed[home[0]] if home else spanning).append(box)
    left, right = columns[0][0], columns[-1][1]
    out: list[tuple[list[list[_Box]], float, float]] = []
    cuts = [row for row in _rows(spanning)]
    bounds = [-1.0] + [min(b.y0 for b in row) for row in cuts] + [float("inf")]
    for k in range(len(bounds) - 1):
        for i, (lo, hi) in enumerate(columns):
            band = [b for b in placed[i] if bounds[k] <= b.middle < bounds[k + 1]]
            if band:
                out.append((_rows(band), lo, hi))
        if k < len(cuts):
            if out and out[-1][1] == left and out[-1][2] == right:
                out[-1][0].append(cuts[k])  # consecutive wide rows: one full-width run
            else:
                out.append(([cuts[k]], left, right))
    return out


def _digit_marks(text: str) -> str:
    """``1，250`` is ``1,250``: OCR reads a digit group's comma as full width."""
    return _DIGIT_MARK.sub(lambda m: "," if m.group() == "，" else ".", text)


def _glue(before: str, after: str) -> str:
    """Chinese lines join with nothing between them, other scripts with a space."""
    if not before or not after or _CJK.match(before[-1]) or _CJK.match(after[0]):
        return ""
    return " "


def layout(reading: dict[str, Any], page: int) -> OcrPage:
    """A page's text: paragraphs one per line, in reading order, low-confidence lines left out.

    A paragraph ends after a short line or a heading, and before an indented line
    or a heading (numbered ``一、``, or larger than the body text); on a page whose
    paragraphs are not indented, also after a line ending a sentence.
    """
    width, height, rotation = reading["width"], reading["height"], reading["rotation"]
    boxes = [_Box(_digit_marks(line[0]), *line[1:]) for line in reading["lines"]]
    if not boxes:
        return OcrPage("", [])
    heights = sorted(b.height for b in boxes)
    char = heights[len(heights) // 2]
    parts: list[str] = []
    lines: list[OcrLine] = []
    pos = 0

    def emit(piece: str) -> None:
        nonlocal pos
        parts.append(piece)
        pos += len(piece)

    paragraph_open = False
    for rows, left, right in _segments(boxes, char):
        # Where paragraphs start indented, a full line ending a sentence goes on in the next.
        indents = any(row[0].x0 > left + 0.8 * char for row in rows)
        for row in rows:
            kept = [b for b in row if b.confidence >= MIN_CONFIDENCE]
            row_text = "".join(b.text for b in kept)
            heading = bool(_HEADING.match(row_text)) or max(b.height for b in row) > 1.3 * char
            indented = row[0].x0 > left + 0.8 * char
            if paragraph_open and (heading or indented):
                emit("\n")
                paragraph_open = False
            for box in row:
                frac = (box.x0 / width, box.y0 / height, box.x1 / width, box.y1 / height)
                if box.confidence < MIN_CONFIDENCE:
                    lines.append(OcrLine(page, box.text, box.confidence, frac, rotation))
                    continue
                if paragraph_open:
                    previous = parts[-1] if parts else ""
                    emit(_glue(previous, box.text))
                start = pos
                emit(box.text)
                lines.append(OcrLine(page, box.text, box.confidence, frac, rotation, start, pos))
                paragraph_open = True
            short = row[-1].x1 < right - 1.5 * char
            ends = not indents and row_text.endswith(_SENTENCE_END)
            if paragraph_open and (short or heading or ends):
                emit("\n")
                paragraph_open = False
        if paragraph_open:
            emit("\n")
            paragraph_open = False
    text = "".join(parts)
    trimmed = text.rstrip("\n")
    return OcrPage(trimmed, lines)


# --------------------------------------------------------------------------- files


def _read_all(
    pages: Sequence[tuple[int, Callable[[], np.ndarray]]], what: str, progress: Progress | None
) -> dict[int, OcrPage]:
    """Read pages within the page and time limits, logging each one."""
    limit_pages, limit_seconds = max_pages(), max_seconds()
    if len(pages) > limit_pages:
        raise OcrError(
            f"{len(pages)} pages to OCR, more than RAG_MAX_PAGES={limit_pages}; "
            "split the file or raise the limit"
        )
    started = time.monotonic()
    out: dict[int, OcrPage] = {}
    if progress is not None and pages:
        progress(0, len(pages))  # a first page takes seconds: say at once that OCR is on
    for done, (number, render) in enumerate(pages):
        elapsed = time.monotonic() - started
        if elapsed > limit_seconds:
            raise OcrError(
                f"OCR stopped after {done} of {len(pages)} pages (RAG_MAX_PARSE_SECONDS="
                f"{limit_seconds:g}); the pages read are cached, so indexing again goes on "
                "from there, or raise the limit"
            )
        page_started = time.monotonic()
        out[number] = read_pixels(render(), number)
        log.info(
            "OCR %s page %d (%d/%d): %d lines, %.1f s",
            what, number, done + 1, len(pages), len(out[number].lines),
            time.monotonic() - page_started,
        )  # fmt: skip
        if progress is not None:
            progress(done + 1, len(pages))
    return out


def read_pdf_pages(
    data: bytes, numbers: Sequence[int], progress: Progress | None = None
) -> dict[int, OcrPage]:
    """OCR the given 1-based pages of a PDF that hold an image (a page of drawings is skipped)."""
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c
    except ImportError as exc:
        raise OcrError(f"OCR is not installed; enable it with {HINT}") from exc
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise OcrError(f"PDF pages cannot be rendered for OCR ({exc})") from exc

    def has_image(number: int) -> bool:
        objects = document[number - 1].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])
        return next(iter(objects), None) is not None

    def render(number: int) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            import numpy as np

            page = document[number - 1]
            scale = min(DPI / 72, MAX_SIDE / max(page.get_size()))
            pixels = np.asarray(page.render(scale=scale, grayscale=True).to_numpy())
            return pixels if pixels.ndim == 2 else pixels[:, :, 0]

        return run

    try:
        scans = [(n, render(n)) for n in numbers if has_image(n)]
        return _read_all(scans, "PDF", progress)
    finally:
        document.close()


def read_image(data: bytes, progress: Progress | None = None) -> list[OcrPage]:
    """OCR an image file; each frame of a multi-page TIFF is a page."""
    try:
        from PIL import Image, ImageOps, ImageSequence
    except ImportError as exc:
        raise OcrError(f"OCR is not installed; enable it with {HINT}") from exc
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise OcrError(
                f"image of {image.width}×{image.height} pixels, more than {MAX_PIXELS:,}; "
                "scale it down (300 dpi is plenty)"
            )
        frames = [ImageOps.exif_transpose(frame).convert("RGB")
                  for frame in ImageSequence.Iterator(image)]  # fmt: skip
    except OcrError:
        raise
    except Exception as exc:  # Pillow reports damage in many types
        raise OcrError(f"damaged or unsupported image ({type(exc).__name__}: {exc})") from exc

    def render(frame: Any) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            import numpy as np

            if max(frame.size) > MAX_SIDE:
                frame.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            return np.ascontiguousarray(np.asarray(frame)[:, :, ::-1])  # RGB to BGR

        return run

    pages = _read_all([(i + 1, render(f)) for i, f in enumerate(frames)], "image", progress)
    return [pages[n] for n in sorted(pages)]
