"""One page of a scanned document as a small image, for the document view to draw boxes on.

The view shows where OCR read a cited line, so it needs the page as OCR saw it:
upright (turned by the rotation OCR recorded) and scaled to the view's width.
A PDF page is rendered by ``pypdfium2``, an image file is opened as it is (a TIFF
frame per page). The result is a ``data:`` URI, so the page needs no file server;
recent pages are kept, so clicking citations on the same page renders it once.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag import ocr

log = logging.getLogger(__name__)

VIEW_WIDTH = 900  # pixels: sharp in the view's column; a full page of text is ~220 KB of JPEG
_QUALITY = 80


class PageImageError(ValueError):
    """The page cannot be shown; the message says why and what to do, in one line."""


def page_image_uri(path: Path, page: int, rotation: int, sha256: str | None = None) -> str:
    """Page ``page`` (1-based) of ``path``, upright, as a JPEG ``data:`` URI.

    ``sha256``: the file's hash when it was indexed; a file changed since is refused,
    since its page would not match the boxes read from the old one.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        raise PageImageError(
            f"{path.name} is no longer in {path.parent} ({exc.strerror}); "
            "put it back to see the scanned page"
        ) from None
    return _render(str(path), stat.st_mtime_ns, stat.st_size, page, rotation, sha256)


@lru_cache(maxsize=16)
def _render(
    path: str, mtime_ns: int, size: int, page: int, rotation: int, sha256: str | None
) -> str:
    """The page as a data URI; the file's time and size make a changed file a new key."""
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PageImageError(f"{name} cannot be read ({exc.strerror})") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise PageImageError(
            f"{name} changed since it was indexed; re-index to see its scanned page"
        )
    if not ocr.available():
        raise PageImageError(f"showing a scanned page needs the OCR extra: {ocr.HINT}")
    image = _pdf_page(data, page) if name.lower().endswith(".pdf") else _image_frame(data, page)
    image = image.rotate(-rotation, expand=True) if rotation % 360 else image
    if image.width > VIEW_WIDTH:
        image = image.resize((VIEW_WIDTH, round(image.height * VIEW_WIDTH / image.width)))
    out = io.BytesIO()
    image.convert("L" if image.mode in ("1", "L", "LA") else "RGB").save(
        out, "JPEG", quality=_QUALITY
    )
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _pdf_page(data: bytes, page: int) -> Any:
    """A PDF page rendered a little wider than the view (as OCR renders it, then scaled)."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise PageImageError(f"the PDF cannot be rendered ({exc})") from None
    try:
        if not 1 <= page <= len(document):
            raise PageImageError(f"the PDF has no page {page}; re-index it")
        pdf_page = document[page - 1]
        size = pdf_page.get_size()
        # Wide enough either way up; never larger than OCR rendered it (an odd page shape).
        scale = min(1.2 * VIEW_WIDTH / min(size), ocr.MAX_SIDE / max(size))
        return pdf_page.render(scale=scale, grayscale=True).to_pil()
    finally:
        document.close()


def _image_frame(data: bytes, page: int) -> Any:
    """Frame ``page`` of an image file, turned as its EXIF says (as OCR read it)."""
    from PIL import Image, ImageOps

    try:
        image = Image.open(io.BytesIO(data))
        image.seek(page - 1)
        image.draft("RGB", (2 * VIEW_WIDTH, 2 * VIEW_WIDTH))  # a JPEG decodes at a fraction
        image = ImageOps.exif_transpose(image)
        image.thumbnail((2 * VIEW_WIDTH, 2 * VIEW_WIDTH))
        return image.convert("RGB")
    except EOFError:
        raise PageImageError(f"the image has no page {page}; re-index it") from None
    except Exception as exc:  # Pillow reports damage in many types
        raise PageImageError(f"the image cannot be opened ({type(exc).__name__})") from None
