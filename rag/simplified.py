"""Chinese written in traditional characters (questions and documents), read in simplified ones.

The reports are in simplified characters; a reader in Hong Kong, Taiwan or abroad asks
"去年經濟增長多少？", and not one of its words matched "经济增长": half the answerable
questions asked that way were answered "not found". CC-CEDICT (already shipped for the
glossary) pairs each headword's traditional and simplified spellings, which gives each
traditional character its simplified one.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator

from rag.glossary import dictionary_lines
from rag.text import CJK


def spelling_pairs() -> Iterator[tuple[str, str]]:
    """CC-CEDICT's headwords as (traditional, simplified) spellings, character by character."""
    for line in dictionary_lines():
        traditional, _, rest = line.partition(" ")
        simplified = rest.partition(" ")[0]
        if not line.startswith("#") and len(traditional) == len(simplified):
            yield from zip(traditional, simplified, strict=True)


@functools.cache
def _simplified_of() -> dict[str, str]:
    """Each traditional character's commonest simplified spelling, for the characters that
    simplified text never uses (乾 stays: simplified writes 乾隆), so that simplified text
    is left exactly as it is (≈0.5 s, once)."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    used: set[str] = set()
    for traditional, simplified in spelling_pairs():
        used.add(simplified)
        spellings[traditional][simplified] += 1
    return {t: c.most_common(1)[0][0] for t, c in spellings.items() if t not in used}


def to_simplified(text: str, keep: Callable[[str], bool] = lambda ch: False) -> str:
    """``text`` with its traditional characters in simplified spelling (過去 → 过去), but
    those ``keep`` accepts (the documents' own: a Wikipedia article's 快砲)."""
    table = _simplified_of()
    return "".join(ch if keep(ch) else table.get(ch, ch) for ch in text)


_TRADITIONAL_SHARE = 0.05  # of a text's Chinese characters; simplified text has ~0


def is_traditional(text: str) -> bool:
    """Whether ``text`` is written in traditional characters: 5 % or more of its Chinese
    characters are ones simplified text never uses (typically 15–30 %)."""
    chinese = CJK.findall(text)
    if len(chinese) < 20:
        return False
    table = _simplified_of()
    return sum(ch in table for ch in chinese) >= _TRADITIONAL_SHARE * len(chinese)
