"""The numbers a text states, compared by value so that a reply cannot invent one.

A model may write 93.8亿 where the passage has 9,380,000,000, or 5.4 % as 百分之5.4:
NFKC, thousands separators and digit-group spaces removed, ``%`` and
``万/亿/million/billion`` understood, so that only a number no passage states fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from rag.llm.reply import MARKER
from rag.numbers import SCALES
from rag.text import normalize_numbers

_SCALES = SCALES | {  # the Chinese scale words, and the English a reply may use
    "trillion": Decimal(10) ** 12,
    "billion": Decimal(10) ** 9,
    "million": Decimal(10) ** 6,
    "thousand": Decimal(10) ** 3,
}
_NUMBER = re.compile(
    r"(?P<pre>百分之)?(?<![\d.])(?P<value>\d+(?:\.\d+)?)"
    r"(?:\s*(?P<scale>万亿|亿|千万|百万|万|千|trillion|billion|million|thousand))?"
    r"(?:\s*(?P<pct>%|percent|per cent|percentage points?|个百分点|百分点))?"
)


@dataclass(frozen=True)
class Number:
    """A number as written (``text``) and what it must match: ``key`` with its ``kind``."""

    text: str
    key: Decimal  # the scaled value when a scale word follows (93.8亿 → 9380000000)
    raw: Decimal
    kind: str  # "%" , "pp" (percentage points) or ""


def numbers_in(text: str) -> list[Number]:
    """The numbers of ``text`` (citation markers excluded)."""
    norm = normalize_numbers(MARKER.sub(" ", text))
    out = []
    for m in _NUMBER.finditer(norm):
        try:
            raw = Decimal(m["value"])
        except InvalidOperation:  # pragma: no cover - the pattern only admits decimals
            continue
        pct = m["pct"] or ""
        kind = "pp" if "点" in pct or "point" in pct else "%" if pct or m["pre"] else ""
        key = raw * _SCALES[m["scale"]] if m["scale"] else raw
        out.append(Number(m[0].strip(), key, raw, kind))
    return out


@dataclass
class NumberSet:
    """The numbers a passage states, by value and by (value, kind)."""

    values: set[Decimal] = field(default_factory=set)
    pairs: set[tuple[Decimal, str]] = field(default_factory=set)

    @classmethod
    def of(cls, text: str) -> NumberSet:
        found = cls()
        for n in numbers_in(text):
            for value in {n.raw, n.key}:
                found.values.add(value)
                found.pairs.add((value, n.kind))
        return found

    def has(self, number: Number) -> bool:
        """A plain number matches any stated value; ``5.4%`` needs a stated percentage."""
        if number.kind:
            return (number.key, number.kind) in self.pairs
        return number.key in self.values
