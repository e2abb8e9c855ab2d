"""Scans made here: report text drawn on A4 pages as a 200-dpi scanner would give them.

Used by the OCR tests and ``benchmarks/ocr_eval.py``: Debian's WenQuanYi Micro Hei
(``fonts-wqy-microhei``) at 12 pt, one-inch margins, paragraphs indented by two
characters, saved as image-only PDF pages (JPEG, as scanners write them) or PNG.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
DPI = 200
A4 = (round(8.27 * DPI), round(11.69 * DPI))
MARGIN = DPI  # one inch
FONT_PX = round(12 / 72 * DPI)  # 12 pt
LINE_PX = round(FONT_PX * 1.6)
PARAGRAPH_GAP = round(FONT_PX * 0.4)


def paragraphs_of(text: str) -> list[str]:
    """A report's non-empty lines, without their indentation."""
    return [p for p in (line.strip(" \u3000\r") for line in text.splitlines()) if p]


def sentences(paragraph: str, count: int) -> str:
    """The first ``count`` sentences of a paragraph."""
    return "".join(re.findall(r"[^。]*。", paragraph)[:count])


def _font(scale: float = 1.0) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), round(FONT_PX * scale))


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float, indent: float) -> list[str]:
    """Lines of at most ``width`` pixels, the first one ``indent`` shorter."""
    lines, line = [], ""
    for ch in text:
        room = width - (indent if not lines else 0)
        if line and font.getlength(line + ch) > room:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line] if line else lines


def render(
    blocks: list[list[tuple[str, str]]], size: tuple[int, int] = A4
) -> tuple[Image.Image, list[str]]:
    """One page: each block is a column (side by side) of ("title"|"para", text) items.

    A title is centred over the whole page, above the columns. Returns the page
    and its texts in reading order, as the reference.
    """
    font, title_font = _font(), _font(1.5)
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    gutter = 2 * FONT_PX
    column_width = (size[0] - 2 * MARGIN - gutter * (len(blocks) - 1)) / len(blocks)
    reference: list[str] = []
    top = MARGIN
    for number, block in enumerate(blocks):
        x, y = MARGIN + number * (column_width + gutter), top
        for kind, text in block:
            if kind == "title":
                width = title_font.getlength(text)
                draw.text(((size[0] - width) / 2, y), text, font=title_font, fill=0)
                y += round(title_font.size * 2.2)
                top = y
            else:
                indent = 2 * FONT_PX
                for i, line in enumerate(wrap(text, font, column_width, indent)):
                    draw.text((x + (indent if i == 0 else 0), y), line, font=font, fill=0)
                    y += LINE_PX
                y += PARAGRAPH_GAP
            reference.append(text)
    return page, reference


def render_pages(paragraphs: list[str], size: tuple[int, int] = A4) -> list[Image.Image]:
    """A whole report, page after page; a paragraph may go on over a page break."""
    font = _font()
    width, indent = size[0] - 2 * MARGIN, 2 * FONT_PX
    pages: list[Image.Image] = []
    y = size[1]
    draw: ImageDraw.ImageDraw | None = None
    for paragraph in paragraphs:
        for i, line in enumerate(wrap(paragraph, font, width, indent)):
            if draw is None or y + LINE_PX > size[1] - MARGIN:
                pages.append(Image.new("L", size, 255))
                draw, y = ImageDraw.Draw(pages[-1]), MARGIN
            draw.text((MARGIN + (indent if i == 0 else 0), y), line, font=font, fill=0)
            y += LINE_PX
        y += PARAGRAPH_GAP
    return pages


def scanned_pdf(path: Path, scans: list[Image.Image], cover: str | None = None) -> Path:
    """Image-only pages (JPEG), after a first page with a text layer when ``cover`` is given."""
    from fpdf import FPDF

    pdf = FPDF()  # A4
    pdf.set_font("Helvetica", size=14)
    if cover:
        pdf.add_page()
        pdf.multi_cell(0, 8, cover, new_x="LMARGIN", new_y="NEXT")
    for scan in scans:
        jpeg = io.BytesIO()
        scan.convert("RGB").save(jpeg, "JPEG", quality=90)
        pdf.add_page()
        pdf.image(io.BytesIO(jpeg.getvalue()), x=0, y=0, w=210, h=297)
    pdf.output(str(path))
    return path


def png(path: Path, image: Image.Image) -> Path:
    image.save(path, "PNG")
    return path


def plain(text: str) -> str:
    return "".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(read: str, reference: str | list[str]) -> float:
    """Character error rate, whitespace aside (OCR places line breaks, not the page)."""
    truth = plain("".join(reference))
    return edit_distance(plain(read), truth) / len(truth)
