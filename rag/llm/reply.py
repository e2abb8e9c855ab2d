"""The model's reply as sentences and citation markers.

Verification works sentence by sentence, and a sentence is trusted only through the
``[n]`` markers it carries, so both the splitting and the marker syntax (full-width
brackets, lists and ranges such as ``[1, 3]`` or ``[2-4]``) live in one place.
"""

from __future__ import annotations

import re
import unicodedata

MARKER = re.compile(
    r"[\[［【]\s*([0-9０-９]{1,3}(?:\s*[,，、;；\-–~～]\s*[0-9０-９]{1,3})*)\s*[\]］】]"
)
_LEADING_MARKERS = re.compile(rf"^\s*(?:{MARKER.pattern}\s*)+")
_SENTENCE_END = re.compile(r"[。！？!?]+[”’\"')）」』]*|\.(?=\s|$|[\[［【])")
_BULLET = re.compile(r"^\s*(?:[-*•·]\s+|\d{1,2}[.)]\s+|\d{1,2}、|[(（]\d{1,2}[)）]\s*|#+\s+)")


def split_reply(text: str) -> list[str]:
    """The reply's sentences; markers written after a full stop stay with their sentence."""
    sentences: list[str] = []
    for line in text.replace("**", "").splitlines():
        line = _BULLET.sub("", line, count=1)
        pieces, pos = [], 0
        for m in _SENTENCE_END.finditer(line):
            pieces.append(line[pos : m.end()])
            pos = m.end()
        pieces.append(line[pos:])
        for piece in pieces:
            lead = _LEADING_MARKERS.match(piece)
            if lead and sentences:
                sentences[-1] += lead[0].strip()
                piece = piece[lead.end() :]
            if piece.strip():
                sentences.append(piece.strip())
    return sentences


def marker_numbers(inside: str) -> list[int]:
    """``1, 3`` → [1, 3]; ``2-4`` → [2, 3, 4] (a range of at most ten)."""
    out: list[int] = []
    for part in re.split(r"\s*[,，、;；]\s*", unicodedata.normalize("NFKC", inside)):
        ends = [int(n) for n in re.findall(r"\d+", part)]
        if len(ends) == 2 and 0 <= ends[1] - ends[0] < 10:
            out.extend(range(ends[0], ends[1] + 1))
        else:
            out.extend(ends)
    return out


def cited_numbers(sentence: str) -> list[int]:
    """The passage numbers a sentence cites, in order, repeated as written."""
    return [n for m in MARKER.finditer(sentence) for n in marker_numbers(m[1])]
