"""Text primitives shared by the whole package: language, Chinese bigrams, tokens, numbers.

One definition of each, so that retrieval, answer scoring, the LLM checks and the
eval all see the same words and the same numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[a-z]+|[\u3400-\u9fff\uf900-\ufaff]+")
_THOUSANDS = re.compile(r"(?<=\d)[, ](?=\d{3}(?!\d))")


def is_chinese(text: str) -> bool:
    """Whether ``text`` is written in Chinese (a fifth of its non-space characters or more)."""
    cjk = len(CJK.findall(text))
    return cjk > 0 and cjk >= 0.2 * len(re.sub(r"\s", "", text))


def bigrams(run: str) -> Iterator[str]:
    """The character bigrams of one run of Chinese characters."""
    return (run[i : i + 2] for i in range(len(run) - 1))


def lexical_tokens(text: str) -> list[str]:
    """BM25 tokens: numbers and Latin words whole; Chinese runs as characters and bigrams."""
    tokens: list[str] = []
    for run in _TOKEN.findall(text.lower()):
        if run[0] >= "\u3400":
            tokens.extend(run)
            tokens.extend(bigrams(run))
        else:
            tokens.append(run)
    return tokens


def normalize_numbers(text: str) -> str:
    """NFKC, lower case, no thousands separators or spaces between digit groups.

    The reports write ``1,234``, ``1 234`` and full-width ``１２３４`` for one number.
    """
    return _THOUSANDS.sub("", unicodedata.normalize("NFKC", text).lower())
