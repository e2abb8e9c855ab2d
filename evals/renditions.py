"""The corpus reports as users drop them in, to check each is answered as well as its
one-paragraph-a-line original: hard-wrapped at a fixed width (pdftotext's output, a
fixed-width copy), typeset as a PDF, saved as Word, as a government web page or as Markdown
(``make eval-wrapped``, ``eval-pdf``, ``eval-docx``, ``eval-html``, ``eval-md``); and the Chinese
questions as a reader in Hong Kong or Taiwan writes them, in traditional characters, or
as a Chinese input method in full-width mode types them (``make eval-traditional``,
``eval-fullwidth``); and every question as people type it to a chatbot, with a greeting and
a thanks (``make eval-chatty``); and the reports in traditional characters, as Hong Kong,
Macao or Taiwan write theirs (``make eval-traditional-docs``).

    python -m evals.renditions KIND SOURCE DEST   (KIND: wrapped, pdf, docx, html, md,
    traditional, fullwidth, chatty, traditional-docs)

writes each report of SOURCE_DIR to TARGET_DIR/docs and the corpus questions, pointed at
those files, to TARGET_DIR/questions.jsonl.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections import Counter, defaultdict
from html import escape
from pathlib import Path

from rag.simplified import spelling_pairs

QUESTIONS = Path(__file__).resolve().parent / "corpus_questions.jsonl"
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # installed by `make browser`
_HEADING = re.compile(r"^[一二三四五六七八九十]+、")
_SUBHEADING = re.compile(r"^[（(][一二三四五六七八九十]+[)）]")
_TOPIC = re.compile(r"^([^。！？]{2,16}。)(?=.)")  # "疫情防控科学精准。" opening a paragraph
_PIECE = re.compile(r"[A-Za-z0-9.%,·+\-]+|.", re.S)  # a wrap never cuts a number or a word


def hard_wrap(text: str, width: int = 38) -> str:
    """``text`` in lines of at most ``width`` characters (a longer number or word keeps its
    own line), each paragraph's indentation dropped."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for piece in _PIECE.findall(paragraph.strip()):
            if line and len(line) + len(piece) > width:
                out.append(line.rstrip())
                line = piece.lstrip()
            else:
                line += piece
        out.append(line)
    return "\n".join(out) + "\n"


def typeset(text: str, path: Path) -> None:
    """``text`` as an A4 PDF, a paragraph a line, wrapped by the page width, each page
    numbered at its foot ("— 3 —") as government PDFs are."""
    from fpdf import FPDF

    class Numbered(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.cell(0, 10, f"— {self.page_no()} —", align="C")

    pdf = Numbered()
    pdf.add_font("wqy", "", str(FONT))
    pdf.set_font("wqy", size=11)
    pdf.add_page()
    for paragraph in text.split("\n"):
        if paragraph.strip():
            pdf.multi_cell(0, 6, paragraph.strip(), new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def word(text: str, path: Path) -> None:
    """``text`` as a Word file: a paragraph each line, ``一、…`` lines as headings."""
    import docx

    document = docx.Document()
    for paragraph in text.split("\n"):
        if paragraph.strip():
            if _HEADING.match(paragraph.strip()):
                document.add_heading(paragraph.strip(), level=1)
            else:
                document.add_paragraph(paragraph.strip())
    document.save(str(path))


def markdown(text: str, path: Path) -> None:
    """``text`` as Markdown: a ``#`` title, ``一、…`` as ``##`` and ``（一）…`` as ``###``
    headings, a paragraph's short opening sentence in bold, blank lines between paragraphs."""
    out = ["# 政府工作报告"]
    for paragraph in (p.strip() for p in text.split("\n") if p.strip()):
        if _HEADING.match(paragraph):
            out.append(f"## {paragraph}")
        elif _SUBHEADING.match(paragraph):
            out.append(f"### {paragraph}")
        else:
            out.append(_TOPIC.sub(r"**\1**", paragraph, count=1))
    path.write_text("\n\n".join(out) + "\n", encoding="utf-8")


def web_page(text: str, path: Path) -> None:
    """``text`` as a government site publishes it: navigation, a title, indented
    paragraphs (``一、…`` lines in bold), ``&nbsp;`` and a footer around it."""
    paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
    body = "\n".join(
        f'<p style="text-indent:2em"><strong>{escape(p)}</strong></p>'
        if _HEADING.match(p)
        else f'<p style="text-indent:2em">&nbsp;&nbsp;{escape(p)}</p>'
        for p in paragraphs
    )
    path.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>政府工作报告</title></head>'
        '<body><div class="nav">首页 &gt; 政务公开 &gt; 政府工作报告</div>'
        f'<div class="content"><h1>{escape(paragraphs[0])}</h1>\n{body}</div>'
        '<div class="footer">版权所有 © 人民政府办公室</div></body></html>',
        encoding="utf-8",
    )


@functools.cache
def _traditional_of() -> dict[str, str]:
    """Each simplified character's commonest traditional spelling in CC-CEDICT's headwords
    (年 stays 年: its own spelling is the commonest)."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for traditional, simplified in spelling_pairs():
        spellings[simplified][traditional] += 1
    return {s: c.most_common(1)[0][0] for s, c in spellings.items()}


def traditional(text: str) -> str:
    """``text`` in traditional characters (过去五年 → 過去五年)."""
    table = _traditional_of()
    return "".join(table.get(ch, ch) for ch in text)


def full_width(text: str) -> str:
    """``text`` with its ASCII digits, letters, % and . full-width (２０２２年ＧＤＰ)."""
    wide = (ch.isascii() and (ch.isalnum() or ch in "%.") for ch in text)
    return "".join(chr(ord(ch) + 0xFEE0) if w else ch for ch, w in zip(text, wide, strict=True))


_OPENINGS = {
    "zh": ("你好，请问", "我想了解一下，", "根据报告，", "麻烦告诉我"),
    "en": ("Hi, could you tell me: ", "I'd like to know: ", "According to the report, ", "Hello! "),
}
_CLOSINGS = {"zh": ("", "谢谢！"), "en": ("", " Thanks!")}


def chatty(text: str, lang: str) -> str:
    """``text`` as people type it to a chatbot: a greeting, a "could you tell me" or an
    "according to the report" before it, now and then a thanks after it (the same for the
    same question, run after run)."""
    turn = sum(map(ord, text))
    opening = _OPENINGS[lang][turn % 4]
    if opening.endswith(", "):  # "According to the report, how many…"
        text = text[0].lower() + text[1:]
    return opening + text + _CLOSINGS[lang][turn // 4 % 2]


# How each question form rewrites a question of the given language.
QUESTION_FORMS = {
    "traditional": lambda text, lang: traditional(text) if lang == "zh" else text,
    "fullwidth": lambda text, lang: full_width(text) if lang == "zh" else text,
    "chatty": chatty,
}


def main(kind: str, source: Path, target: Path) -> None:
    docs = target / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    names = {}
    for path in sorted(source.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if kind in TEXT_FORMS or kind in QUESTION_FORMS:
            names[path.name] = path.name
            (docs / path.name).write_text(TEXT_FORMS.get(kind, str)(text), encoding="utf-8")
        else:
            names[path.name] = path.with_suffix(f".{kind}").name
            WRITERS[kind](text, docs / names[path.name])
        print(f"{kind}: {names[path.name]}", flush=True)
    with open(target / "questions.jsonl", "w", encoding="utf-8") as out:
        for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
            question = json.loads(line)
            question["doc"] = names.get(question["doc"], question["doc"])
            if kind in QUESTION_FORMS:
                question["question"] = QUESTION_FORMS[kind](question["question"], question["lang"])
            out.write(json.dumps(question, ensure_ascii=False) + "\n")


WRITERS = {"pdf": typeset, "docx": word, "html": web_page, "md": markdown}
# Renditions that stay plain text: hard-wrapped, or written in traditional characters (a
# Hong Kong, Macao or Taiwan report; the questions stay as they are).
TEXT_FORMS = {"wrapped": hard_wrap, "traditional-docs": traditional}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in (*TEXT_FORMS, *QUESTION_FORMS, *WRITERS):
        sys.exit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
