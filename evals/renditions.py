"""The corpus reports as users drop them in, to check each is answered as well as its
one-paragraph-a-line original: hard-wrapped at a fixed width (pdftotext's output, a
fixed-width copy) or typeset as a PDF (``make eval-wrapped``, ``make eval-pdf``).

    python -m evals.renditions wrapped|pdf SOURCE_DIR TARGET_DIR

writes each report of SOURCE_DIR to TARGET_DIR/docs and the corpus questions, pointed at
those files, to TARGET_DIR/questions.jsonl.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

QUESTIONS = Path(__file__).resolve().parent / "corpus_questions.jsonl"
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # installed by `make browser`
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
    """``text`` as an A4 PDF, a paragraph a line, wrapped by the page width."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("wqy", "", str(FONT))
    pdf.set_font("wqy", size=11)
    pdf.add_page()
    for paragraph in text.split("\n"):
        if paragraph.strip():
            pdf.multi_cell(0, 6, paragraph.strip(), new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def main(kind: str, source: Path, target: Path) -> None:
    docs = target / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    names = {}
    for path in sorted(source.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if kind == "wrapped":
            names[path.name] = path.name
            (docs / path.name).write_text(hard_wrap(text), encoding="utf-8")
        else:
            names[path.name] = path.with_suffix(".pdf").name
            typeset(text, docs / names[path.name])
        print(f"{kind}: {names[path.name]}", flush=True)
    with open(target / "questions.jsonl", "w", encoding="utf-8") as out:
        for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
            question = json.loads(line)
            question["doc"] = names.get(question["doc"], question["doc"])
            out.write(json.dumps(question, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("wrapped", "pdf"):
        sys.exit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
