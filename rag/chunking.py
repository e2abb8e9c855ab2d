"""Chinese-aware splitting: sentences, section headings and overlapping chunks.

Every piece is an exact ``[start, end)`` span of the source text, so a citation
can always be traced back to the characters (and line) it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.config import ChunkerSettings
from rag.types import Chunk

_TERMINATORS = set("。！？；;!?")
_CLOSERS = set("”’\"')）】」』")
_OPEN_QUOTE, _CLOSE_QUOTE = "“", "”"
_MAX_QUOTED_CHARS = 200  # a quotation longer than this is not held together
# A bracket (or a wiki -{…}- variant) holds a gloss, not a sentence end: "牛车水（；）是…",
# "（学名：'；毛利语：kahikatea）", "-{zh-cn:宽叶毛毡苔;zh-hk:锦地罗}-".
_OPEN_BRACKET = re.compile(r"[（(]|-\{")
_CLOSE_BRACKET = re.compile(r"[）)]|\}-")
_MAX_BRACKETED_CHARS = 80  # an unclosed bracket holds no further
_CLAUSE_BREAKS = set("，,、：:")
_CN_NUM = "一二三四五六七八九十"
_HEADING = re.compile(rf"^\s*(#{{1,6}}\s+\S|[{_CN_NUM}]+、|第[{_CN_NUM}]+[章节部分])")
_ORDINAL_TOPIC = re.compile(rf"^\s*([{_CN_NUM}]+是|[（(][{_CN_NUM}\d]+[)）])")
_TITLE_WORDS = re.compile(r"(报告|规划|纲要|公报|意见|通知|决定|方案|总结|计划)$")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    section: str
    paragraph: int  # index of the source line it sits on
    label: bool = False  # a heading or topic label: names a subject, answers nothing


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_digit_comma(text: str, i: int) -> bool:
    """A comma between digits (``1,234``) is part of a number, not a clause break."""
    return 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` (one line) at sentence terminators.

    A terminator inside a “quotation” or a bracket does not end the sentence; closing
    quotes and brackets stay with the sentence they close.
    """
    spans: list[tuple[int, int]] = []
    begin = start
    quote_open_at: int | None = None
    bracket_open_at: int | None = None
    i = start
    while i < end:
        ch = text[i]
        if ch == _OPEN_QUOTE:
            quote_open_at = i
        elif ch == _CLOSE_QUOTE:
            quote_open_at = None
        elif _OPEN_BRACKET.match(text, i):
            bracket_open_at = i
        elif _CLOSE_BRACKET.match(text, i):
            bracket_open_at = None
        in_quote = quote_open_at is not None and i - quote_open_at < _MAX_QUOTED_CHARS
        in_brackets = bracket_open_at is not None and i - bracket_open_at < _MAX_BRACKETED_CHARS
        if ch in _TERMINATORS and not in_quote and not in_brackets:
            j = i + 1
            while j < end and (text[j] in _CLOSERS or text[j] in _TERMINATORS):
                j += 1
            spans.append((begin, j))
            begin = i = j
            continue
        i += 1
    if begin < end:
        spans.append((begin, end))
    stripped = [_strip_span(text, s, e) for s, e in spans]
    return [(s, e) for s, e in stripped if e > s]


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Break an over-long sentence at clause marks (never inside a number)."""
    if end - start <= limit:
        return [(start, end)]
    pieces: list[tuple[int, int]] = []
    begin = start
    last_break = None
    for i in range(start, end):
        if text[i] in _CLAUSE_BREAKS and not _is_digit_comma(text, i):
            last_break = i + 1
        if i + 1 - begin >= limit and last_break and last_break > begin:
            pieces.append((begin, last_break))
            begin = last_break
            last_break = None
    pieces.append((begin, end))
    return [span for span in (_strip_span(text, s, e) for s, e in pieces) if span[1] > span[0]]


def clause_spans(text: str, start: int, end: int, min_chars: int = 6) -> list[tuple[int, int]]:
    """The clauses of one sentence (split at ，,、：: — never inside a number).

    Long Chinese sentences list several facts; a question about one of them
    matches its clause far better than the whole sentence. A sentence of one
    clause has none (its own embedding serves).
    """
    spans: list[tuple[int, int]] = []
    begin = start
    for i in range(start, end):
        if (
            text[i] in _CLAUSE_BREAKS
            and not _is_digit_comma(text, i)
            and i + 1 - begin >= min_chars
        ):
            spans.append((begin, i + 1))
            begin = i + 1
    if begin < end:
        if spans and end - begin < min_chars:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((begin, end))
    stripped = [_strip_span(text, a, b) for a, b in spans]
    return [(a, b) for a, b in stripped if b > a] if len(stripped) > 1 else []


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        spans.append((pos, pos + len(line.rstrip("\r\n"))))
        pos += len(line)
    return spans


def _title(text: str, lines: list[tuple[int, int]], short: int) -> str:
    """The document's own title: a short cover line like ``政府工作报告``."""
    for s, e in lines:
        line = text[s:e].strip()
        if _HEADING.match(line):
            break
        if line and len(line) <= short and _TITLE_WORDS.search(line):
            return line
    return ""


def split_sentences(text: str, settings: ChunkerSettings) -> list[Sentence]:
    """Sentences with their section path, read from the heading styles in use.

    Level 1: ``一、…``, ``第一章…`` or Markdown ``#``. Level 2: a short topic
    sentence opening a paragraph (``疫情防控科学精准。``), an ordinal lead
    (``一是…``, ``（一）``), or a short line ending with a colon that introduces
    a list. A plain paragraph ends the level-2 label. Lines before the first
    heading belong to the document's title.
    """
    lines = _line_spans(text)
    title = _title(text, lines, settings.short_line_chars)
    level1, level2 = title, ""
    outline: list[tuple[int, str]] = []  # Markdown's nested headings: (depth, heading)
    cover = _cover_depth(text, lines)
    sentences: list[Sentence] = []
    for paragraph, (ls, le) in enumerate(lines):
        s, e = _strip_span(text, ls, le)
        if s == e:
            continue
        line = text[s:e]
        spans = sentence_spans(text, s, e)
        label_end = e if line == title else s  # the span [s, label_end) is a label
        if _HEADING.match(line):
            # "一、提高…保障水平。全省…从148元提高到170元；…": the heading is the first
            # sentence, what follows on its line is content and can answer.
            label_end = spans[0][1] if len(spans) > 1 else e
            heading = text[s:label_end]
            # "### （五）…" under "## 一、…" is a part of it; a plain "一、…" starts anew.
            depth = _markdown_depth(heading) or 1
            outline = [*(h for h in outline if h[0] < depth), (depth, heading.lstrip("# ").strip())]
            level1 = " > ".join(h for d, h in outline if d != cover or d == depth)
            level2 = ""
        elif _ORDINAL_TOPIC.match(line):
            first_end = min(
                [i for i in (line.find(","), line.find("，"), line.find("。")) if i > 0],
                default=len(line),
            )
            level2 = line[: first_end + 1].rstrip(",，")
        elif len(spans) > 1 and spans[0][1] - spans[0][0] <= settings.topic_sentence_chars:
            level2 = text[spans[0][0] : spans[0][1]]
            label_end = spans[0][1]
        elif len(line) <= settings.short_line_chars and line[-1] in ":：":
            level2 = line
            label_end = e
        elif len(line) > settings.short_line_chars:
            level2 = ""  # a plain paragraph belongs to its level-1 section only
        section = " > ".join(part for part in (level1, level2) if part)
        for ss, se in spans:
            for ps, pe in _split_long(text, ss, se, settings.max_sentence_chars):
                sentences.append(Sentence(ps, pe, section, paragraph, pe <= label_end))
    return sentences


def _cover_depth(text: str, lines: list[tuple[int, int]]) -> int:
    """The depth of a Markdown heading that titles the whole document ("# 2023年政府工作报告"
    over "## 一、…"): the first heading, the shallowest, and the only one so deep. It heads no
    section path: its year would date every section. 0 if there is none."""
    depths = [
        _markdown_depth(line)
        for line in (text[s:e].strip() for s, e in lines)
        if line.startswith("#") and _HEADING.match(line)
    ]
    if depths and depths.count(depths[0]) == 1 and depths[0] == min(depths) and len(depths) > 1:
        return depths[0]
    return 0


def _markdown_depth(heading: str) -> int:
    """How many ``#`` open a Markdown heading (0 for a plain "一、…")."""
    return len(heading) - len(heading.lstrip("#"))


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def chunk_text(
    text: str, source: str, settings: ChunkerSettings, first_id: int = 0
) -> tuple[list[Chunk], list[Sentence]]:
    """Pack whole sentences into chunks of about ``target_chars``.

    A chunk never spans two sections, so its section label is true for all of
    it; consecutive chunks share ``overlap_sentences`` sentences.
    """
    sentences = split_sentences(text, settings)
    groups: list[list[Sentence]] = []
    current: list[Sentence] = []
    for sentence in sentences:
        size = sentence.end - (current[0].start if current else sentence.start)
        if current and (sentence.section != current[-1].section or size > settings.target_chars):
            groups.append(current)
            same_section = sentence.section == current[-1].section
            keep = settings.overlap_sentences if same_section else 0
            current = current[len(current) - keep :] if keep and len(current) > keep else []
        current.append(sentence)
    if current:
        groups.append(current)
    chunks = [
        Chunk(
            chunk_id=first_id + n,
            text=text[group[0].start : group[-1].end],
            source=source,
            section=group[0].section,
            start=group[0].start,
            end=group[-1].end,
            line=_line_of(text, group[0].start),
        )
        for n, group in enumerate(groups)
    ]
    return chunks, sentences
