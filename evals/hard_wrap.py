"""Hard-wrap plain text reports, as pdftotext or a fixed-width copy writes them, to check that
a wrapped report is answered as well as its one-paragraph-a-line original
(``make eval-wrapped``: the seven corpus reports wrapped at 38 characters, then their eval).

    python -m evals.hard_wrap SOURCE_DIR TARGET_DIR [WIDTH]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_PIECE = re.compile(r"[A-Za-z0-9.%,·+\-]+|.", re.S)  # a wrap never cuts a number or a word


def hard_wrap(text: str, width: int) -> str:
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


def main(argv: list[str]) -> None:
    source, target = Path(argv[0]), Path(argv[1])
    width = int(argv[2]) if len(argv) > 2 else 38
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        (target / path.name).write_text(hard_wrap(text, width), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
