"""Time scoping: which year a report is about and what each of its sections looks back or ahead on.

A work report reviews last year (often the last five years too) and then sets this year's
targets, so the same indicator appears twice ("增长5.2%" in the review, "增长6%左右" among
the targets). Roles come from the text itself: the headings' cue words and years
("一、2022年工作回顾", "二、2023年主要工作安排", "附件"), and a paragraph's opening cue
("五年来，…", "今年…主要预期目标是"). Generic rules only: no table of known reports.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

REVIEW = "review"  # last year
MULTI_YEAR = "multi_year"  # several past years (五年来, 十二五时期)
PLAN = "plan"  # this year's targets and work
APPENDIX = "appendix"  # 附件, 名词解释
OTHER = "other"  # cover, problems, anything without a cue
TIME_ROLES = (REVIEW, MULTI_YEAR, PLAN)
LATER = "later"  # a year after the document's own: no sentence has this role
ROLES = (REVIEW, MULTI_YEAR, PLAN, APPENDIX, OTHER)

_YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
_APPENDIX = re.compile(r"附件|附录|附表|名词解释|注释|释义")
_MULTI = re.compile(r"过去五年|五年来|过去几年|几年来|本届政府|“?十[一二三四五]五”?时期|以来")
_REVIEW = re.compile(r"回顾|过去一年|去年|工作情况|工作总结|取得的成绩|主要成就")
_PLAN = re.compile(
    r"今年|明年|工作安排|主要任务|工作任务|总体要求|预期目标|工作计划|下一步|建议|政策取向"
    r"|发展思路|主要思路|重点工作|主要工作|目标任务"
)
# A line of its own like this starts the appendix: all that follows belongs to it.
_APPENDIX_LINE = re.compile(
    r"^[\s　]*(附件|附录|附表|名词解释)[\s　\d一二三四五六七八九十:：]{0,4}$"
)
# A paragraph that opens like this speaks of that time, whatever its section.
_OPEN_MULTI = re.compile(r"^[\s　]*(五年来|过去五年|“?十[一二三四五]五”?(时期|期间)|几年来)")
_ADDRESS = r"^[\s　]*(?:各位代表[，,]\s*)?(?:刚刚)?"  # "各位代表，过去的一年…", "刚刚过去的2017年…"
_OPEN_REVIEW = re.compile(_ADDRESS + r"(过去的?一年|去年|一年来)")
# "2017年，…", "刚刚过去的2017年，…": the year it opens with, read against the report's.
_OPEN_YEAR = re.compile(_ADDRESS + r"(?:过去的)?((?:19|20)\d{2})\s*年(?![\d代])")
_OPEN_PLAN = re.compile(r"^[\s　]*(今年|明年).{0,30}(目标|要求|任务|要|将|是)")
# A sentence that states a span of years ("年均增长12.5%", "从1978年的186亿元增加到2018年的…")
# speaks of several years, even inside last year's review.
_SPANS_YEARS = re.compile(
    r"年均|年平均|(?:19|20)\d{2}\s*年.{0,40}?(?:到|至)\s*(?:19|20)\d{2}\s*年(?!\s*\d)"
)

# Question cues. Chinese first, then English.
_ASK_MULTI = re.compile(
    r"五年|几年来|这些年|十[一二三四五]五|年均|年平均|\b(five|5)[- ]years?\b"
    r"|\bpast (few|several) years\b|\b(average annual|annual average)\b",
    re.I,
)
_ASK_REVIEW = re.compile(
    r"去年|过去一年|上年|上一年|\blast year\b|\bpast year\b|\bprevious year\b|\bin the review\b",
    re.I,
)
_ASK_PLAN = re.compile(
    r"今年|明年|计划|目标|(?<![模虚])拟|预期|打算|\bthis year\b|\bnext year\b|\bgoals?\b"
    r"|\b(plan|target|aim|expect|intend)(s|n?ed|n?ing)?\b|\bwill\b",
    re.I,
)


@dataclass(frozen=True)
class TimeCue:
    """What time a question asks about: a role, an explicit year, both or neither."""

    role: str | None
    year: int | None


@dataclass(frozen=True)
class Timeline:
    """Each document's plan year and each sentence's role (by sentence index)."""

    years: dict[str, int | None]
    roles: list[str]

    def wanted_role(self, cue: TimeCue, source: str) -> str | None:
        """The role a sentence of ``source`` should have to answer a question with ``cue``.

        An explicit year is read against the document's plan year: that year is the plan,
        the year before it the review, an earlier one the multi-year review. A later year is
        no time the document speaks of as its own (a report on 2016 has no 2018 target): its
        sentences must write the year to answer, so that among several years' reports
        "2018年的目标" is the 2018 report's.
        """
        year = self.years.get(source)
        if cue.year is not None and year is not None:
            if cue.year > year:
                return LATER
            if cue.year == year:
                return PLAN
            if cue.year == year - 1:
                return REVIEW
            if cue.year < year - 1:
                return MULTI_YEAR
        return cue.role


def question_time(question: str) -> TimeCue:
    """The question's time cue; the five-year cue wins over "last year" inside it."""
    years = [int(y) for y in _YEAR.findall(question)] or [
        int(y) for y in re.findall(r"\b((?:19|20)\d{2})\b", question)
    ]
    role = None
    if _ASK_MULTI.search(question):
        role = MULTI_YEAR
    elif _ASK_REVIEW.search(question):
        role = REVIEW
    elif _ASK_PLAN.search(question):
        role = PLAN
    return TimeCue(role, years[0] if len(years) == 1 else None)


def _heading_role(heading: str, year: int | None) -> str | None:
    """The role a level-1 heading announces, or None when it names no time."""
    if _APPENDIX.search(heading):
        return APPENDIX
    if _REVIEW.search(heading) or (_MULTI.search(heading) and not _PLAN.search(heading)):
        return REVIEW if _YEAR.search(heading) or "一年" in heading else MULTI_YEAR
    if _PLAN.search(heading):
        return PLAN
    years = [int(y) for y in _YEAR.findall(heading)]
    if years and year is not None:
        return PLAN if years[0] >= year else REVIEW
    return None


def document_year(text: str, headings: Sequence[str]) -> int | None:
    """The year a report plans for: its headings' years first (a review of Y means Y + 1),
    then a date line near its start or end, then the year it names most often."""
    votes: Counter[int] = Counter()
    for heading in headings:
        years = [int(y) for y in _YEAR.findall(heading)]
        if not years or _APPENDIX.search(heading):
            continue
        if _REVIEW.search(heading):
            votes[years[0] + 1] += 1
        elif _PLAN.search(heading):
            votes[years[0]] += 1
    if votes:
        return votes.most_common(1)[0][0]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines[:5] + lines[-5:]:
        dated = re.search(r"((?:19|20)\d{2})\s*年\s*\d{1,2}\s*月(\s*\d{1,2}\s*日)?", line)
        if dated:
            return int(dated.group(1))
    counts = Counter(int(y) for y in _YEAR.findall(text))
    return counts.most_common(1)[0][0] if counts else None


def _opening_role(text: str, year: int | None) -> str | None:
    if _OPEN_MULTI.search(text):
        return MULTI_YEAR
    if _OPEN_REVIEW.search(text):
        return REVIEW
    if _OPEN_PLAN.search(text):
        return PLAN
    opens = _OPEN_YEAR.search(text)
    if opens and year is not None:
        named = int(opens.group(1))
        return PLAN if named >= year else REVIEW if named == year - 1 else MULTI_YEAR
    return None


class _Record:  # the fields of rag.types.SentenceRecord this module reads
    source: str
    section: str
    start: int
    line: int
    text: str
    label: bool


def build_timeline(texts: Mapping[str, str], sentences: Sequence[_Record]) -> Timeline:
    """Years and roles for every document and sentence of an index.

    A level-1 section takes the role its heading announces; one without a cue continues a
    plan section before it (reports close their plans with the government's own duties) and
    is ``other`` otherwise. A line reading just "附件" or "名词解释" starts the appendix, to the
    end of the document. A paragraph whose first sentence opens with a time cue takes that
    cue's role (its first sentence that is not a lead-in label). A sentence of last year's
    review that states a span of years ("年均…", "从1978年…到2018年…") is the multi-year review.
    """
    by_source: dict[str, list[int]] = {}
    for i, s in enumerate(sentences):
        by_source.setdefault(s.source, []).append(i)
    years: dict[str, int | None] = {}
    roles = [OTHER] * len(sentences)
    for source, ids in by_source.items():
        ids.sort(key=lambda i: sentences[i].start)
        headings = list(dict.fromkeys(sentences[i].section.split(" > ")[0] for i in ids))
        year = document_year(texts.get(source, ""), headings)
        years[source] = year
        section_role: dict[str, str] = {}
        previous = OTHER
        for heading in headings:
            role = _heading_role(heading, year)
            if role is None:
                role = PLAN if previous == PLAN else OTHER
            section_role[heading] = previous = role
        paragraph_role: dict[int, str | None] = {}
        in_appendix = False
        for i in ids:
            s = sentences[i]
            in_appendix = in_appendix or bool(_APPENDIX_LINE.match(s.text))
            base = APPENDIX if in_appendix else section_role[s.section.split(" > ")[0]]
            label = s.section.split(" > ")[1] if " > " in s.section else ""
            # The paragraph's first sentence of its own says when it speaks of: after a
            # lead-in that names its topic ("一是…。") it is the next one ("五年来，…").
            lead_in = s.label or (bool(label) and s.text.startswith(label))
            if s.line not in paragraph_role and not lead_in:
                paragraph_role[s.line] = _opening_role(s.text, year) if base != APPENDIX else None
            roles[i] = paragraph_role.get(s.line) or _opening_role(label, year) or base
            if roles[i] == REVIEW and _SPANS_YEARS.search(s.text):
                roles[i] = MULTI_YEAR
    return Timeline(years, roles)


def period_of(timeline: Timeline, row: int | None, source: str) -> str:
    """The label of sentence ``row`` of ``source``; empty when it has no time role."""
    if row is None or not 0 <= row < len(timeline.roles):
        return ""
    return role_label(timeline.roles[row], timeline.years.get(source))


def role_label(role: str, year: int | None) -> str:
    """A short label for a citation ("2023 targets", "2022 review")."""
    if year is None:
        return {PLAN: "targets", REVIEW: "review", MULTI_YEAR: "multi-year review"}.get(role, "")
    return {
        PLAN: f"{year} targets",
        REVIEW: f"{year - 1} review",
        MULTI_YEAR: f"review to {year - 1}",
        APPENDIX: "appendix",
    }.get(role, "")
