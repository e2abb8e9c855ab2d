"""Proper names a question asks about that the documents never mention.

"上海2022年GDP增长多少？" asked of a town's report found the town's own GDP sentence, which
shares every word but the place, and answered with it. A report that never names 上海 says
nothing about Shanghai, whatever its sentences share with the question. The names are
CC-CEDICT's headwords that are only ever proper nouns (places, people, bodies: 上海,
加拿大, 珠穆朗玛峰), never a common word too (成功 is also "success") nor a language (英文).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from rag.glossary import dictionary_lines

_ENTRY = re.compile(r"\S+ (?P<word>\S+) \[(?P<reading>[^\]]*)\] /(?P<glosses>.*)/\s*$")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]{2,8}")
_NOT_A_NAME = re.compile(r"\b(language|script|dialect|people|nationality|surname|given name)\b",
                         re.I)
# Question words go first: 胡充华为什么 holds 为什么, not the company 华为.
_QUESTION_WORDS = re.compile(r"为什么|什么|多少|哪些|哪个|哪里|怎么|如何|是否|谁")
_LONGEST = 8


@functools.cache
def proper_names() -> frozenset[str]:
    """CC-CEDICT's Chinese headwords whose every entry is a proper noun (≈0.5 s, once)."""
    proper: set[str] = set()
    common: set[str] = set()
    for line in dictionary_lines():
        entry = _ENTRY.match(line)
        if entry is None or not _CJK_WORD.fullmatch(entry["word"]):
            continue
        glosses = [
            g for g in entry["glosses"].split("/")
            if g and not g.startswith(("(", "CL:", "see ", "variant of", "old variant"))
        ]
        if (
            glosses
            and entry["reading"][:1].isupper()
            and all(g[0].isupper() for g in glosses)
            and not _NOT_A_NAME.search(entry["glosses"])
        ):
            proper.add(entry["word"])
        else:
            common.add(entry["word"])
    return frozenset(proper - common)


def names_in(question: str) -> list[str]:
    """The proper names in a Chinese ``question``, longest first from the left."""
    names = proper_names()
    text = _QUESTION_WORDS.sub(" ", question)
    found, i = [], 0
    while i < len(text):
        for n in range(min(_LONGEST, len(text) - i), 1, -1):
            if text[i : i + n] in names:
                found.append(text[i : i + n])
                i += n
                break
        else:
            i += 1
    return found


def absent_names(question: str, texts: Iterable[str]) -> list[str]:
    """The proper names a Chinese ``question`` asks about that none of ``texts`` mentions.

    Chinese only: an English name reaches Chinese through the dictionary's glosses, which
    miss the documents' own spellings too often (Guangming is 光明, a common word; the
    reports' Rio is 里约) to say "never mentioned"."""
    texts = list(texts)
    return [name for name in names_in(question) if not any(name in t for t in texts)]
