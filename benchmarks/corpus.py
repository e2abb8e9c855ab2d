"""A synthetic corpus of N work reports derived from the seed, for scale benchmarks.

Method (deterministic: report ``i`` depends only on the seed text, ``i`` and ``seed``)::

    rng = random.Random(f"{seed}:{i}")

1. **Structure.** The seed is split into lines. Headings (``一、…``), short lines
   (cover, list items, under 40 characters) and the first line of each run stay
   where they are; they delimit *segments* of body paragraphs.
2. **Shuffle and recombine.** Within each segment the body paragraphs are put in a
   random order, and inside each paragraph the sentences after the first (the
   topic sentence) are shuffled too, so chunk boundaries and neighbours differ from
   report to report while every paragraph keeps its topic.
3. **Perturb every number.** Each run of Arabic digits (``93.8``, ``5.4``, ``714``)
   is replaced: a four-digit year (1900–2099) is shifted by one per-report offset in
   [-5, 5], so dates stay consistent within a report; any other number is scaled by
   its own factor drawn uniformly from [0.5, 1.5] and written with the same number
   of decimals (integers stay integers and never drop to 0). Chinese numerals
   (``一是``, ``六届``) are ordinals and are left alone. Some figures become
   implausible (a 31st day may turn into a 40th, a share may pass 100 %): this is
   load for the index, not a report to read.
4. **Rename places.** The town ``京东`` (in ``京东镇``, ``京东发展``…) becomes a generated
   two-character name, unique per report; each village of the seed (``高兴村``,
   ``塘南村``…) becomes a generated two-character village name, consistent within
   the report. The town chief's name becomes a generated one as well.
5. **Plant facts.** Selected reports get one extra sentence
   ``<镇><村>村新建了<Y>个智慧停车场。`` inserted at a random sentence boundary of a
   random body paragraph, with a village name and a count ``Y`` that occur in no
   other report. The matching question is ``<镇><村>村新建了多少个智慧停车场？``;
   retrieval hits when a retrieved chunk contains the planted sentence.

The corpus is written to a folder the caller chooses (a temporary one in the
benchmark); it is never committed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TOWN = "京东"
VILLAGES = ("高兴", "月坊", "塘南", "何兴", "梁万", "黄城", "桃胜")
CHIEF = "魏 翔"
_HEADING = re.compile(r"^\s*[一二三四五六七八九十]+、")
_SHORT_LINE = 40
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SENTENCE = re.compile(r"[^。！？；]*[。！？；]|[^。！？；]+$")
_YEAR = re.compile(r"(?:19|20)\d\d")
# Common characters that read as place names; two of them make a town or village.
_NAME_CHARS = (
    "安宝北碧滨昌长辰春翠丹东芳丰凤福阜富港高光广桂海汉和河恒红鸿虹华怀淮黄汇吉嘉江金锦"
    "景静康兰澜乐丽莲林临柳龙隆鹿罗茂梅美明南宁平浦其奇清庆秋泉瑞山尚韶盛石寿舒顺松泰"
    "棠桃天亭通同万旺文西溪霞祥湘新兴秀旭阳杨怡益银永涌玉元源远悦云泽樟昭中竹紫"
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"


@dataclass(frozen=True)
class PlantedFact:
    """A sentence planted in one report, and the question that asks for it."""

    source: str  # file name of the report
    sentence: str
    question: str
    answer: str  # the planted count, as written


@dataclass(frozen=True)
class Report:
    name: str
    text: str
    planted: PlantedFact | None


def _unique_names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = "".join(rng.sample(_NAME_CHARS, 2))
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


@lru_cache(maxsize=4)
def _town_pairs(seed: int) -> list[str]:
    pairs = [a + b for a in _NAME_CHARS for b in _NAME_CHARS if a != b]
    random.Random(f"{seed}:towns").shuffle(pairs)
    return pairs


def town_name(index: int, seed: int = 0) -> str:
    """The generated town of report ``index``: distinct reports get distinct towns."""
    pairs = _town_pairs(seed)
    lap = index // len(pairs)
    return pairs[index % len(pairs)] + (str(lap) if lap else "")


def _perturb_numbers(text: str, rng: random.Random, year_shift: int) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group()
        if "." not in token and len(token) == 4 and _YEAR.fullmatch(token):
            return str(int(token) + year_shift)
        decimals = len(token.split(".")[1]) if "." in token else 0
        value = float(token) * rng.uniform(0.5, 1.5)
        if decimals:
            return f"{value:.{decimals}f}"
        return str(max(1, round(value)) if float(token) >= 1 else round(value))

    return _NUMBER.sub(replace, text)


def _segments(lines: list[str]) -> list[tuple[bool, list[str]]]:
    """Runs of lines: (True, body paragraphs that may move) or (False, fixed lines)."""
    out: list[tuple[bool, list[str]]] = []
    for i, line in enumerate(lines):
        movable = i > 0 and len(line) >= _SHORT_LINE and not _HEADING.match(line)
        if out and out[-1][0] == movable:
            out[-1][1].append(line)
        else:
            out.append((movable, [line]))
    return out


def _shuffle_sentences(paragraph: str, rng: random.Random) -> str:
    sentences = _SENTENCE.findall(paragraph)
    if len(sentences) < 3 or "".join(sentences) != paragraph:
        return paragraph
    head, rest = sentences[0], sentences[1:]
    if not rest[-1].endswith(tuple("。！？；")):
        return paragraph  # an unterminated tail must stay last
    rng.shuffle(rest)
    return head + "".join(rest)


def _rename(text: str, town: str, villages: dict[str, str], chief: str) -> str:
    for old, new in villages.items():
        text = text.replace(old + "村", new + "村")
    return text.replace(TOWN, town).replace(CHIEF, chief)


def _plant(lines: list[str], sentence: str, rng: random.Random) -> list[str]:
    body = [i for i, line in enumerate(lines) if len(line) >= 200 and not _HEADING.match(line)]
    if not body:
        return [*lines, sentence]
    i = rng.choice(body)
    cuts = [m.end() for m in _SENTENCE.finditer(lines[i]) if m.group().endswith("。")]
    cut = rng.choice(cuts) if cuts else len(lines[i])
    out = list(lines)
    out[i] = lines[i][:cut] + sentence + lines[i][cut:]
    return out


def make_report(seed_text: str, index: int, seed: int = 0, plant: bool = False) -> Report:
    """Report ``index`` of the synthetic corpus (see the module docstring)."""
    rng = random.Random(f"{seed}:{index}")
    lines = seed_text.replace("\r\n", "\n").split("\n")
    trailing_newline = lines and lines[-1] == ""
    if trailing_newline:
        lines = lines[:-1]
    out: list[str] = []
    for movable, run in _segments(lines):
        if movable:
            run = [_shuffle_sentences(p, rng) for p in run]
            rng.shuffle(run)
        out.extend(run)
    year_shift = rng.randint(-5, 5)
    out = [_perturb_numbers(line, rng, year_shift) for line in out]
    town = town_name(index, seed)
    taken = {town}
    villages = dict(zip(VILLAGES, _unique_names(rng, len(VILLAGES), taken), strict=True))
    chief = rng.choice(_SURNAMES) + " " + rng.choice(_NAME_CHARS)
    out = [_rename(line, town, villages, chief) for line in out]
    planted = None
    name = f"report_{index:05d}.txt"
    if plant:
        village = _unique_names(rng, 1, taken)[0]
        count = str(100 + index)  # distinct per report
        sentence = f"{town}镇{village}村新建了{count}个智慧停车场。"
        question = f"{town}镇{village}村新建了多少个智慧停车场？"
        out = _plant(out, sentence, rng)
        planted = PlantedFact(name, sentence, question, count)
    return Report(name, "\n".join(out) + ("\n" if trailing_newline else ""), planted)


def planted_indices(n: int, plants: int) -> set[int]:
    """Which of ``n`` reports get a planted fact: ``plants`` of them, evenly spread."""
    plants = max(0, min(plants, n))
    return {round(j * n / plants) for j in range(plants)} if plants else set()


def generate(
    seed_text: str,
    n: int,
    out_dir: Path,
    seed: int = 0,
    plants: int = 20,
    indices: Iterable[int] | None = None,
) -> list[Report]:
    """Write reports ``0..n-1`` (or ``indices``) into ``out_dir``; return them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = planted_indices(n, plants)
    reports = []
    for i in indices if indices is not None else range(n):
        report = make_report(seed_text, i, seed, plant=i in chosen)
        (out_dir / report.name).write_text(report.text, encoding="utf-8")
        reports.append(report)
    return reports


if __name__ == "__main__":  # a look at one generated report: python -m benchmarks.corpus 3
    import sys

    from rag.config import PROJECT_ROOT

    seed_file = sorted((PROJECT_ROOT / "seeds").glob("*.txt"))[0]
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    report = make_report(seed_file.read_text(encoding="utf-8"), number, 0, plant=True)
    print(report.text)
    print("planted:", report.planted)
