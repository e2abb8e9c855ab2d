"""An English lead for an answer quoted from a Chinese report, without a language model.

An English reader cannot use "全年开展73轮全员核酸检测,累计检测714万人次" alone. The
lead gives what they can rely on: the asked figure in English words and units
("7.14 million person-times"), what each figure of the quote measures (the words
next to it, glossed word by word from CC-CEDICT), the quote's other key terms
and the section name glossed. Nothing is paraphrased or invented: every English
word is a converted figure or a dictionary gloss of a word of the quote, so the
Chinese quote that follows (with its marker) stays the evidence. For "How many
tests were carried out in total?" on the seed's COVID sentence::

    7.14 million person-times (累计检测: cumulative · detection).
    Other figures quoted: 73 rounds (全员核酸检测: all personnel · nucleic acid · detection).
    Key terms: 圆满 satisfactory; 防控 prevent and control; 任务 mission.
    Section: 疫情防控 (epidemic situation · prevent and control).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.glossary import Glossary, english_lines, english_of
from rag.numbers import CLASSIFIERS, Quantity, quantities
from rag.short_answer import ShortAnswer, pick_span

_CJK = re.compile(r"[\u3400-\u9fff]")
_MAX_WORD = 6
_PARTICLES = set("的了和与及在对是为将把被由从向")
_NEGATIONS = {"未": "not", "不": "not", "无": "no", "没": "not", "非": "non-", "零": "zero"}
_BREAKS = set("，,；;。：:、！？!?“”‘’《》（）()「」 \t")
# Words every report sentence uses; glossing them tells the reader nothing.
_PLAIN_TEXT = """全年 开展 完成 实现 进一步 加强 推进 持续 各项 工作 积极 不断 深入 全面
    切实 着力 坚持 认真 有效 扎实 稳步 大力 努力 其中 以上 左右 共 全镇 全市
    全区 全省 全国 今年 去年 我们 我镇"""
_PLAIN = frozenset(_PLAIN_TEXT.split())
_NUMBERING = re.compile(
    r"^\s*(?:[一二三四五六七八九十]+[、.．是]|[（(][一二三四五六七八九十\d]+[)）]|\d+[.．、])"
)
MAX_TERMS = 6
COUNTERS = set(CLASSIFIERS) | {"轮", "次", "批", "人", "人次", "户", "套", "辆", "台"}


@dataclass(frozen=True)
class Word:
    chinese: str
    english: str | None  # None: the dictionary lacks it (a name, usually)


def segment(text: str) -> list[Word]:
    """``text``'s Chinese words by longest dictionary match (figures and marks skipped)."""
    words: list[Word] = []
    i = 0
    while i < len(text):
        if not _CJK.match(text[i]):
            i += 1
            continue
        for n in range(min(_MAX_WORD, len(text) - i), 0, -1):
            piece = text[i : i + n]
            gloss = _NEGATIONS.get(piece) if n == 1 and piece in _NEGATIONS else english_of(piece)
            if n == 1 and gloss is not None and piece not in _NEGATIONS and gloss != _noun(piece):
                gloss = None  # 镇 "to press down": a lone character's verb sense misleads
            if gloss is not None and (n > 1 or piece not in _PARTICLES):
                words.append(Word(piece, gloss))
                i += n
                break
        else:
            if words and words[-1].english is None:
                words[-1] = Word(words[-1].chinese + text[i], None)
            else:
                words.append(Word(text[i], None))
            i += 1
    return words


def _noun(char: str) -> str | None:
    """A lone character's gloss when its first sense is not a verb (村 → "village")."""
    said = english_of(char)
    lines = english_lines(char)
    return said if said and lines and "/to " not in lines[0].split("]", 1)[-1][:5] else None


def gloss(text: str, skip_plain: bool = False) -> str:
    """``text`` glossed word by word: "疫情防控" → "epidemic situation · prevent and control"."""
    words = [w for w in segment(_blank_figures(text)) if w.english]
    if skip_plain:
        words = [w for w in words if w.chinese not in _PLAIN] or words
    return " · ".join(w.english for w in words if w.english)


def pinyin(text: str) -> str:
    """``text`` romanised word by word from the dictionary's readings, without tones
    (高兴村、月坊村 → "Gaoxing Cun, Yue Fang Cun"); characters it cannot read are kept."""
    items = []
    for item in re.split(r"[、，,和及与]", text):
        words = []
        for word in segment(_blank_figures(item)):
            reading = _reading(word.chinese)
            words.append(reading.capitalize() if reading else word.chinese)
        if words:
            items.append(" ".join(words))
    return ", ".join(items)


def _reading(word: str) -> str:
    """The reading of ``word``'s commonest entry ("gao1 xing4" → "gaoxing"); "" if none."""
    entries = [line for line in english_lines(word) if "[" in line]
    if not entries and len(word) > 1:
        return "".join(_reading(char) for char in word)
    if not entries:
        return ""
    line = max(entries, key=lambda e: e.count("/"))
    reading = line.split("[", 1)[1].split("]", 1)[0].lower().replace("u:", "ü")
    return re.sub(r"[^a-zü]", "", reading)


def _blank_figures(text: str) -> str:
    """``text`` with its figures blanked, so 714万人次 never reads as the word 万人."""
    for q in quantities(text):
        text = text[: q.start] + " " * (q.end - q.start) + text[q.end :]
    return text


def _word_bounds(text: str) -> list[int]:
    """Where :func:`segment` puts a word boundary in ``text`` (offsets, 0 and the end
    included), so a label is cut between words: 重点项目, not 重点项 ("back of neck")."""
    bounds, i = {0, len(text)}, 0
    for word in segment(text):
        i = text.find(word.chinese, i)
        if i < 0:  # a run of unknown characters split by a figure: no boundary known
            break
        bounds.update((i, i + len(word.chinese)))
        i += len(word.chinese)
    return sorted(bounds)


def _label(sentence: str, figure: Quantity, previous_end: int) -> str:
    """What a figure measures: a count's noun follows it (73轮全员核酸检测, 424名干部),
    an amount's or rate's attribute precedes it (地区生产总值完成93.8亿元). Six characters
    after, twelve before, each taken to the end of the word it cuts."""
    if figure.unit in COUNTERS and figure.end < len(sentence) and _CJK.match(sentence[figure.end]):
        stop = min((q.start for q in quantities(sentence) if q.start >= figure.end), default=None)
        end = figure.end
        while end < len(sentence) and sentence[end] not in _BREAKS and end != stop:
            end += 1
        clause = sentence[figure.end : end]
        label = clause[: next(b for b in _word_bounds(clause) if b >= min(6, len(clause)))]
    else:
        start = figure.start
        while start > previous_end and sentence[start - 1] not in _BREAKS:
            start -= 1
        clause = sentence[start : figure.start]
        label = clause[next(b for b in _word_bounds(clause) if b >= len(clause) - 12) :]
    return _blank_figures(label).strip().strip("的了和与及").strip()


def _figure_text(sentence: str, figure: Quantity, previous_end: int) -> str:
    label = _label(sentence, figure, previous_end)
    said = gloss(label, skip_plain=True)
    return f"{figure.english} ({label}: {said})" if said else figure.english


def _figures(sentence: str, figures: Sequence[Quantity]) -> list[str]:
    out, previous_end = [], 0
    for q in sorted(figures, key=lambda q: q.start):
        if q.kind not in ("ordinal",):
            out.append(_figure_text(sentence, q, previous_end))
        previous_end = q.end
    return out


def key_terms(
    sentence: str, question: str = "", glossary: Glossary | None = None, shown: str = ""
) -> list[Word]:
    """The sentence's glossed words, the question's own first, then longest; at most six.
    Words already glossed in ``shown`` (the lead's lines) are not repeated."""
    asked: set[str] = set()
    if glossary is not None and question and not _CJK.search(question):
        for concept in glossary.concepts(question):
            asked.update(concept.forms)
    seen: dict[str, Word] = {}
    for word in segment(_blank_figures(sentence)):
        if (
            word.english
            and len(word.chinese) > 1
            and word.chinese not in _PLAIN
            and word.chinese not in seen
            and word.chinese not in shown
        ):
            seen[word.chinese] = word
    ranked = sorted(
        seen.values(),
        key=lambda w: (not any(a in w.chinese or w.chinese in a for a in asked), -len(w.chinese)),
    )[:MAX_TERMS]
    order = list(seen)
    return sorted(ranked, key=lambda w: order.index(w.chinese))


def section_english(section: str) -> str:
    """The section path glossed: "二、疫情防控" → "疫情防控 (epidemic situation · …)"."""
    parts = []
    for part in section.split(" > "):
        name = _NUMBERING.sub("", part).strip().lstrip("#").strip()
        if not name:
            continue
        said = gloss(name)
        years = [q.english for q in quantities(name) if q.kind in ("year", "date")]
        said = " ".join([*years, said]).strip()
        parts.append(f"{name} ({said})" if said else name)
    return " > ".join(parts)


def render_english(
    question: str,
    sentence_text: str,
    section: str = "",
    span: ShortAnswer | tuple[int, int] | None = None,
    glossary: Glossary | None = None,
    every_figure: bool = False,
) -> str:
    """The English lead of an answer; the caller appends the Chinese quote and its marker.

    ``span`` is the short answer within ``sentence_text`` (from :func:`pick_span`,
    or its ``(start, end)``); None picks it here, and when none is sure the lead
    lists every figure of the quote instead of claiming one, as it does with
    ``every_figure`` (a whole list answers, no span of it).
    """
    if span is None and not every_figure:
        span = pick_span(question, sentence_text, glossary)
    if isinstance(span, tuple):
        start, end = span
        kind, polarity = "", None
    elif span is not None:
        start, end, kind, polarity = span.start, span.end, span.kind, span.polarity
    lines: list[str] = []
    every = quantities(sentence_text)
    figures = [q for q in every if q.kind != "ordinal"]
    if span is not None:
        inside = [q for q in every if start <= q.start and q.end <= end]
        if kind == "yes-no":
            inside = []
        if inside and kind in ("", "number", "date"):
            lead = "; ".join(_figures_in_span(sentence_text, inside, figures))
        else:
            text = sentence_text[start:end]
            said = gloss(text)
            if kind == "name":  # a name is read aloud too: 高兴村 is Gaoxing Cun, not "happy"
                how = span.how if isinstance(span, ShortAnswer) else ""
                said = (
                    pinyin(text)
                    if how == "person"
                    else "; ".join(x for x in (pinyin(text), said) if x)
                )
            lead = f"{text} ({said})" if said else text
        if kind == "yes-no" and polarity is not None:
            lead = f"{'Yes' if polarity else 'No'}: {lead}"
        lines.append(f"{lead}.")
        others = [q for q in figures if q not in inside]
        if others and inside and kind in ("", "number", "date"):
            lines.append(f"Other figures quoted: {'; '.join(_figures(sentence_text, others))}.")
    elif figures:
        lines.append(f"Figures quoted: {'; '.join(_figures(sentence_text, figures))}.")
    terms = key_terms(sentence_text, question, glossary, shown="\n".join(lines))
    if terms:
        said = "; ".join(f"{w.chinese} {w.english}" for w in terms)
        lines.append(f"Key terms: {said}.")
    if section.strip():
        lines.append(f"Section: {section_english(section)}.")
    return "\n".join(lines)


def _figures_in_span(
    sentence: str, inside: Sequence[Quantity], figures: Sequence[Quantity]
) -> list[str]:
    """The span's figures with their labels, each labelled up to the figure before it."""
    out = []
    for q in inside:
        before = [f.end for f in figures if f.end <= q.start]
        out.append(_figure_text(sentence, q, max(before, default=0)))
    return out
