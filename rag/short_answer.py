"""The few characters of a cited sentence that answer the question, quoted exactly.

A reader asking "全年开展了多少轮全员核酸检测" wants ``73轮`` first, then the sentence
that proves it. :func:`pick_span` finds that span for number, date, name and yes-no
questions from generic cues only: the question word and the measure word after it
(多少轮 → 轮, how much → 元), where the question's own words sit in the sentence
(the figure right after 地区生产总值 is the GDP), and, for Chinese questions that
echo the sentence, the gap the question word leaves (若游戏中离，则[多少]分钟内… →
``4分钟``). English questions reach the sentence's words through the glossary.
When the cues do not single out one span it returns None: the full quote still
answers, a wrong short answer would mislead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.glossary import Glossary, english_stems, stem
from rag.numbers import CLASSIFIERS, UNITS, Quantity, quantities
from rag.question import ASKS_JI, ASKS_NUMBER_EN, STOP_CHARS, asks_about_document, asks_list
from rag.types import Term

_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fffA-Za-z0-9]+")
_CLAUSE_END = set("，,；;。！？!?：:")
_NAME_STOP = set(
    "的和与及或在对将把被由从向为是了、，,。；;：:“”‘’《》（）()\"' 　年0123456789%.．"
)

_ZH_DATE = re.compile(
    r"什么时候|何时|哪一?年|哪天|哪一天|几月|几号|哪个月|何年|哪一?年份|日期|(?<!长)时间"
)
_EN_DATE = re.compile(
    r"\bwhen\b|\b(?:what|which) (?:year|date|day|month|time)\b|\bsince when\b", re.I
)
_ZH_NUMBER = re.compile(
    rf"多少|{ASKS_JI}|多大|多高|多长|多远|多重|多久|多快|比例|占比|百分之几|增速|增幅|比重"
)
_ZH_YES_NO = re.compile(r"是否|有没有|有无|是不是|能否|会不会|可否|(?<!什)[吗么][？?。\s]*$")
_EN_YES_NO = re.compile(
    r"^\s*(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|should)\b", re.I
)
_ZH_NAME = re.compile(r"谁|哪|什么|叫|名称|名字|何种|何处")
# A reason or a manner is a clause, not a span (为什么 is no 什么).
_WHY_HOW = re.compile(r"为什么|为何|什么原因|怎么|怎样|如何|\bwhy\b", re.I)
_EN_NAME = re.compile(r"\b(?:who|whom|whose|which|what|name[sd]?|called)\b", re.I)
# Where the question word sits: the gap it leaves in an echoed sentence is the answer.
_ZH_CUE = re.compile(
    rf"多少|{ASKS_JI}|什么时候|何时|什么|哪一?[个些位家所座条项里儿年天种类部批]?"
    r"|谁|何[种处地]?|是否|有没有"
)
_PREPOSITIONS = set("由在从向于被对给用以把将")
_QUOTED = re.compile(r"[“「《\"]([^”」》\"]{1,30})[”」》\"]")
_NEGATION = re.compile(r"未|没有|不|无|零|尚未|暂无|非")
_ASK_WORD = rf"多少|{ASKS_JI}|多[长大高快远久]|哪|什么|谁"  # what marks a Chinese ask
_SPLIT = re.compile(
    r"[？?；;]|(?:，|,)\s*(?:and\s+)?"
    rf"(?=.{{0,12}}?(?:{_ASK_WORD}|何|是否|how|what|which|who|when))"
    r"|(?:以及|并且|另外|同时|还有)(?=.{0,12}?(?:多少|几|哪|什么|谁|何|是否))"
    r"|\band\s+(?=(?:how|what|which|who|when)\b)",
    re.I,
)
_QUESTION_CHARS = STOP_CHARS | {"个"}  # 几个: the measure word shapes the ask too
_MONEY_ZH = re.compile(
    r"钱|资金|金额|收入|投资|产值|总额|预算|经费|生产总值|GDP|税|资产|利润"
    r"|外资|内资|融资|贷款|存款|销售额|营业额|支出|补贴|补助|造价|成本"
)
_PERCENT_ZH = re.compile(r"比例|占比|率|百分之几|百分比|增速|增幅|比重|几成")
_CHANGE_ZH = re.compile(r"增长|下降|提高|上升|降低|减少|涨|降")


def _stems(words: str) -> frozenset[str]:
    return frozenset(stem(w) for w in words.split())


_MONEY_EN = _stems(
    "yuan money revenue income invest investment budget spend spent cost "
    "fund funds funding worth output gdp tax profit capital expenditure"
)
_PERCENT_EN = _stems("percentage percent rate share proportion ratio")
_CHANGE_EN = _stems("grow growth increase decrease fall rise drop decline expand up down")
# "Which round of …" asks an ordinal (第二轮), as 第几 does.
_EN_ORDINAL = re.compile(r"\bwhich (?:round|batch|session|term|phase|plenary)\b", re.I)
_COUNT_EN = re.compile(r"\bhow many\b", re.I)
_MEASURE_ZH = {
    "length": re.compile(r"多长|多远|多高|多深|多宽|长度|距离|高度"),
    "area": re.compile(r"多大|面积"),
    "time": re.compile(r"多久|多长时间|多少年|多少天|时长"),
    "weight": re.compile(r"多重|体重|重量"),
}
_MEASURE_EN = {
    "length": re.compile(r"\bhow (?:long|far|high|tall|deep|wide)\b|\blength|distance", re.I),
    "area": re.compile(r"\barea\b|\bhow (?:big|large)\b", re.I),
    "time": re.compile(r"\bhow long (?:did|does|will|was|has)\b|\bduration", re.I),
    "weight": re.compile(r"\bhow heavy\b|\bweigh", re.I),
}
_MEASURE_UNITS = {
    "length": {"公里", "千米", "米", "公分", "厘米", "毫米", "公尺", "km", "m", "cm"},
    "area": {"平方公里", "平方千米", "平方米", "平米", "公顷", "亩", "km²"},
    "time": {"年", "个月", "天", "小时", "分钟", "秒", "周"},
    "weight": {"吨", "公斤", "千克", "克", "斤", "kg"},
}
_PERCENT_KINDS = ("percent", "points")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    how: str = ""  # "figure", "quote", "list", "person", "name", "echo" or "clause"


@dataclass(frozen=True)
class ShortAnswer:
    """``text == sentence[start:end]``: what opens the answer, before the full quote."""

    kind: str  # "number", "date", "name", "yes-no"
    start: int
    end: int
    text: str
    parts: tuple[Span, ...]  # one per thing asked (a two-part question has two)
    quantities: tuple[Quantity, ...] = ()  # the figures inside the span, in order
    polarity: bool | None = None  # yes-no: False when the answering clause negates

    @property
    def how(self) -> str:
        """How the span was found: figures, quotes, lists and names after an office
        are the surest; an echoed question's gap and a yes-no clause less so."""
        return self.parts[0].how


def question_kind(question: str) -> str | None:
    """``number``, ``date``, ``name`` or ``yes-no``; None for how/why questions."""
    if _ZH_DATE.search(question) or _EN_DATE.search(question):
        return "date"
    if _EN_ORDINAL.search(question):
        return "number"
    if _ZH_NUMBER.search(question) or ASKS_NUMBER_EN.search(question):
        return "number"
    if _ZH_YES_NO.search(question) or _EN_YES_NO.search(question):
        return "yes-no"
    if _WHY_HOW.search(question):
        return None
    if _ZH_NAME.search(question) or _EN_NAME.search(question):
        return "name"
    return None


_RESPECTIVELY = re.compile(
    r"^(?P<a>.+?)(?:和|与|及|、)(?P<b>[^和与及、]+?)(?:分别|各)(?P<rest>.+)$"
)


# "砍掉多少钢铁和煤炭产能", "多少国家和运动员参赛": one count asked of two things.
_HOW_MANY_OF_TWO = re.compile(
    rf"^(?P<ask>.*?(?:多少|{ASKS_JI}))(?P<a>[\u4e00-\u9fff]{{1,6}}?)(?:和|与|及)(?P<b>[^和与及、]{{1,12}})$"
)


# "份额从多少升到了多少" asks both ends of "从52.6%提高到58.5%" / "由1354家增加到5524家".
_ASKS_FROM_TO = re.compile(
    r"[从由](?:多少|几).{0,8}?[到至]了?(?:多少|几)|\bfrom what\b.*\bto what\b", re.I
)


# "增加到了多少个" asks where a change ended: B of "由689个增加到911个".
_ASKS_TO = re.compile(
    r"(?:[到至]了?|剩下?)(?:多少|几)|\bto (?:what|how (?:many|much))\b"
    r"|\b(?:cut|reduced|increased|raised|rose|risen|grew|grown|fell|fallen|dropped) to\b",
    re.I,
)


# 、 joins two asks (投资多少、有多长) only after a question word; before one it joins the
# things a single ask is about (A、B分别是多少).
_ASKS_JOINED = re.compile(rf"((?:{_ASK_WORD})[^、，,；;？?]*?)、(?=[^、]{{0,12}}?(?:{_ASK_WORD}))")


def split_parts(question: str) -> list[str]:
    """A question asking two things (…是多少？增长了多少？, A和B分别…) becomes its parts."""
    question = _ASKS_JOINED.sub(r"\1？", question)
    parts = [p.strip(" ,，。") for p in _SPLIT.split(question) if p]
    if len(parts) == 1 and (m := _RESPECTIVELY.match(parts[0])):
        parts = [m["a"] + m["rest"], m["b"] + m["rest"]]
    elif len(parts) == 1 and (m := _HOW_MANY_OF_TWO.match(parts[0])):
        parts = [m["ask"] + m["a"], m["ask"] + m["b"]]
    parts = [p for p in parts if len(p) >= 3 and question_kind(p)]
    return parts or [question]


def _terms(question: str, glossary: Glossary | None) -> list[Term]:
    """The question's words as the sentence would write them."""
    if _CJK.search(question):
        out = []
        for run in _CJK_RUN.findall(question):
            for a, b in zip(run, run[1:], strict=False):
                if not (a in _QUESTION_CHARS and b in _QUESTION_CHARS) and _CJK.match(a + b):
                    out.append(Term((a + b,), 1.0))
            out.extend(Term((w,), 1.0) for w in re.findall(r"[A-Za-z]{2,}|\d+", run))
        return out
    if glossary is None:
        return []
    return [
        Term(tuple(sorted(c.forms, key=lambda f: (-len(f), f))), 1.0)
        for c in glossary.concepts(question)
        if c.forms
    ]


def _occurrences(sentence: str, term: Term) -> list[tuple[int, int]]:
    spans = []
    for form in term.forms:
        if len(form) < 2 and _CJK.match(form):
            continue
        spans.extend((m.start(), m.end()) for m in re.finditer(re.escape(form), sentence))
    return spans


def _same_clause(sentence: str, a: int, b: int) -> bool:
    return not any(c in _CLAUSE_END for c in sentence[min(a, b) : max(a, b)])


def _proximity(sentence: str, terms: Sequence[Term], start: int, end: int) -> float:
    """How closely the question's words lead up to ``[start, end)``: an attribute
    is written just before its value (地区生产总值完成93.8亿元)."""
    total, present = 0.0, 0
    for term in terms:
        best = 0.0
        for a, b in _occurrences(sentence, term):
            if b <= start:
                near = 1 / (1 + (start - b) / 4)
                best = max(best, near if _same_clause(sentence, b, start) else near * 0.3)
            elif a >= end:
                near = 0.4 / (1 + (a - end) / 4)
                best = max(best, near if _same_clause(sentence, end, a) else near * 0.3)
        total += term.weight * best
        present += best > 0 or bool(_occurrences(sentence, term))
    return 1.5 * total / max(present, 1)


@dataclass(frozen=True)
class _Asked:
    """What kind of figure the question wants."""

    units: frozenset[str]  # units it names (多少轮 → 轮)
    money: bool  # an amount of money (多少钱, how much revenue)
    percent: bool  # a share or rate, by name (比例, what percentage)
    change: bool  # a change (增长了多少, grow): often a percentage
    count: bool  # a count of things (how many villages): not money
    measure: str = ""  # 多长/多大/多久/多重: "length", "area", "time", "weight"


def _asked(question: str) -> _Asked:
    units: set[str] = set()
    if _CJK.search(question):
        for m in re.finditer(r"(?:多少|几)(?:万|亿|千)?([\u4e00-\u9fff]{1,4})", question):
            after = m.group(1)
            units.update(u for u in UNITS if after.startswith(u))
            units.update(c for c in after[:1] if c in CLASSIFIERS)
        percent = bool(_PERCENT_ZH.search(question))
        money = bool(_MONEY_ZH.search(question)) and not percent
        count = bool(units & set(CLASSIFIERS))
        measure = next((k for k, cue in _MEASURE_ZH.items() if cue.search(question)), "")
        change = bool(_CHANGE_ZH.search(question))
        return _Asked(frozenset(units), money, percent, change, count, measure)
    stems = set(english_stems(question))
    for unit, (one, many) in UNITS.items():
        if any(stem(w) in stems for w in f"{one} {many}".lower().split() if w.isalpha()):
            units.add(unit)
    if stems & {stem("people"), stem("persons"), stem("residents")}:
        units.update({"人", "人次", "名"})
    percent = bool(stems & _PERCENT_EN)
    count = bool(_COUNT_EN.search(question))
    change = bool(stems & _CHANGE_EN)  # "GDP growth" is a rate, not an amount of yuan
    money = bool(stems & _MONEY_EN) and not (percent or count or change)
    measure = next((k for k, cue in _MEASURE_EN.items() if cue.search(question)), "")
    return _Asked(frozenset(units), money, percent, change, count, measure)


def _anchor_sizes(length: int) -> list[tuple[int, int]]:
    """(skipped, size) of the question pieces tried as anchors, longest and nearest
    the question word first; skipping one or two characters lets 分为 meet 分成."""
    sizes = [(skip, n) for skip in range(3) for n in range(min(length - skip, 12), 1, -1)]
    return sorted(sizes, key=lambda s: (-s[1] + 2 * s[0], s[0]))


def _gap(question: str, sentence: str) -> tuple[int, int] | None:
    """The gap a figure question leaves; open to the right, it stops at an (aside): the
    figure in "收入完成7130万元(…减收近7600万元)" is the first one."""
    found = _anchored_gap(question, sentence, stops="(（")
    return found[:2] if found else None


def _anchored_gap(question: str, sentence: str, stops: str = "") -> tuple[int, int, bool] | None:
    """Where the question word's place falls in a sentence the question echoes: after
    the longest piece of the question's left side, before the longest piece of its
    right side (or, without one, the clause's end or one of ``stops``)."""
    cue = _ZH_CUE.search(question)
    if cue is None:
        return None
    left = question[: cue.start()].strip(" ，,")
    right = re.sub(r"[？?。！!\s]+$|[吗呢]+[？?]*$", "", question[cue.end() :]).strip(" ，,")
    b_start = None
    for skip, n in _anchor_sizes(len(right)):
        at = sentence.find(right[skip : skip + n])
        if at >= 0:
            b_start = at
            break
    a_end, left_skip = None, 0
    limit = len(sentence) if b_start is None else b_start
    for skip, n in _anchor_sizes(len(left)):
        piece = left[len(left) - skip - n : len(left) - skip]
        at = sentence.rfind(piece, 0, limit)
        if at >= 0:
            a_end, left_skip = at + n, skip
            break
    if a_end is not None and left_skip and left[-1] in _PREPOSITIONS:
        # 由谁, 在哪里: when the anchor stopped short of it, the preposition just before
        # the question word marks where the answer starts (…1975年由泰国国家铁路局).
        at = sentence.find(left[-1], a_end, min(limit, a_end + 10))
        if at >= 0:
            a_end = at + 1
    if a_end is None and b_start is None:
        return None
    both = a_end is not None and b_start is not None
    if a_end is None:
        assert b_start is not None
        a_end = b_start
        while a_end > 0 and sentence[a_end - 1] not in _CLAUSE_END:
            a_end -= 1
    if b_start is None:
        b_start = a_end
        while b_start < len(sentence) and sentence[b_start] not in _CLAUSE_END | set(stops):
            b_start += 1
    return (a_end, b_start, both) if b_start > a_end else None


def _score_quantities(
    question: str, sentence: str, candidates: Sequence[Quantity], terms: Sequence[Term]
) -> list[tuple[float, Quantity]]:
    asked = _asked(question)
    gap = _gap(question, sentence) if _CJK.search(question) else None
    scored = []
    for q in candidates:
        score = _proximity(sentence, terms, q.start, q.end)
        if q.unit in asked.units:
            score += 2.0
        elif q.text[:1] == "一" and q.unit in CLASSIFIERS:
            score -= 1.0  # 一条, 一个: an article ("a street"), not a count
        if asked.measure and q.unit in _MEASURE_UNITS[asked.measure]:
            score += 1.5
        if asked.money and q.unit.endswith("元"):
            score += 1.0
        if q.kind in _PERCENT_KINDS:
            score += 2.0 if asked.percent else 0.8 if asked.change else 0.0
            if asked.count or asked.money or (asked.units and not asked.percent):
                score -= 1.0
        elif asked.count and (q.unit in CLASSIFIERS or not q.unit or q.unit in "人户"):
            score += 0.5
        elif asked.count and q.unit.endswith("元") or asked.percent:
            score -= 1.0
        if gap and q.start < gap[1] and q.end > gap[0] and _fits(asked, q):
            score += 3.0
            # The answer sits right where the question word was: next to an anchor.
            if abs(q.end - gap[1]) <= 1 or abs(q.start - gap[0]) <= 1:
                score += 1.0
        scored.append((score, q))
    return sorted(scored, key=lambda s: (-s[0], s[1].start))


def _fits(asked: _Asked, q: Quantity) -> bool:
    """Whether ``q`` is the kind of figure asked: the question's place in an echoing
    sentence does not make "20家" the answer to 占比多少 or "增长57.9%" to 外资多少."""
    if asked.percent:
        return q.kind in _PERCENT_KINDS or not q.unit  # 收视率为7.07
    return not (asked.money and not q.unit.endswith("元"))


def _figures(question: str, sentence: str, kind: str) -> list[Quantity]:
    """The sentence's figures of the asked kind, minus those the question names."""
    wanted = ("date", "year") if kind == "date" else ("number", "percent", "points")
    if "第几" in question or _EN_ORDINAL.search(question):
        wanted = ("ordinal",)
    named = {_value(q) for q in quantities(question)}
    return [q for q in quantities(sentence) if q.kind in wanted and _value(q) not in named]


def _value(q: Quantity) -> tuple[object, str]:
    """What a figure says, however written: 五年 in the question is 5年 in the sentence."""
    return (q.low, q.unit) if q.low is not None else (q.text, q.kind)


def _with_measure(question: str, sentence: str, q: Quantity) -> Span:
    """A figure's span, taking in the measure word the question asks for when the
    sentence writes it right after a bare figure (几盏 → 28盏)."""
    end = q.end
    asked = re.search(r"(?:多少|几)([\u4e00-\u9fff])", question)
    if not q.unit and asked and sentence[end : end + 1] == asked.group(1):
        end += 1
    return Span(q.start, end, sentence[q.start : end], "figure")


def _pick_figures(
    question: str, sentence: str, kind: str, glossary: Glossary | None
) -> list[Quantity] | None:
    figures = _figures(question, sentence, kind)
    if not figures:
        return None
    parts = split_parts(question)
    if len(parts) == 1:
        return _figures_asked(question, sentence, figures, glossary, sure=True)
    chosen: list[Quantity] = []
    for part in parts:
        left = [q for q in figures if q not in chosen]
        if not left:
            break
        chosen += _figures_asked(part, sentence, left, glossary, sure=False) or []
    return sorted(chosen, key=lambda q: q.start) if chosen else None


def _figures_asked(
    question: str,
    sentence: str,
    figures: Sequence[Quantity],
    glossary: Glossary | None,
    sure: bool,
) -> list[Quantity] | None:
    """The figure (or from-to pair) one ask wants; with ``sure``, None when the cues
    do not single one figure out."""
    terms = _terms(question, glossary)
    both_ends = bool(_ASKS_FROM_TO.search(question))
    if (both_ends or _ASKS_TO.search(question)) and (pairs := _from_to(sentence, figures)):
        # The pair whose first figure the question's words point at (病床数从…, not 医院从…).
        first = _score_quantities(question, sentence, [a for a, _ in pairs], terms)[0][1]
        a, b = next(p for p in pairs if p[0] == first)
        return [a, b] if both_ends else [b]
    scored = _score_quantities(question, sentence, figures, terms)
    best, q = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else -1.0
    if sure and len(scored) > 1 and (best < 0.25 or best - runner_up < 0.05):
        return None
    return [q]


_A_YEAR = re.compile(r"(?:19|20)\d{2}\s*年(?:底|末|初)?的?")
_FROM = re.compile(rf"[从由](?:{_A_YEAR.pattern})?[^\d，,；;。]{{0,6}}$")


def _from_to(sentence: str, figures: Sequence[Quantity]) -> list[tuple[Quantity, Quantity]]:
    """The pairs of figures written "从/由 A …到/至 B": A may follow its measure or year
    ("从每人每月148元", "从2011年的487项"), B follows within a few characters, a year aside."""
    pairs = []
    for i, a in enumerate(figures):
        if not _FROM.search(sentence[max(0, a.start - 16) : a.start]):
            continue
        for b in figures[i + 1 :]:
            between = _A_YEAR.sub("", sentence[a.end : b.start])
            if len(between) <= 8 and re.search(r"[到至]", between):
                pairs.append((a, b))
                break
    return pairs


def _name_spans(question: str, sentence: str, glossary: Glossary | None) -> list[Span]:
    """Quoted names (“两单一制”), titles (《…》) and names ending in the asked noun."""
    spans = [
        Span(m.start(1), m.end(1), m[1], "quote")
        for m in _QUOTED.finditer(sentence)
        if m[1] not in question
    ]  # 《鳄鱼泪》的原唱是谁 is not answered by 鳄鱼泪
    nouns: set[str] = set()
    if _CJK.search(question):
        for m in re.finditer(
            r"(?:哪一?[个些位家所座条项种类]?|什么)([\u4e00-\u9fff]{1,4})", question
        ):
            word = re.split(r"[的了是在有被]", m.group(1))[0]
            nouns.update(word[i:] for i in range(len(word)) if len(word) - i >= 1)
    elif glossary is not None:
        # The noun the question word governs: "which police station was …" → 派出所.
        head = re.search(
            r"\b(?:which|what)\s+((?:[\w'-]+\s+){0,3}?[\w'-]+)\s+"
            r"(?:is|are|was|were|did|does|do|has|have|had|got|get|gets|will|can|of|in|on|for)\b",
            question,
            re.I,
        )
        phrase = head.group(1) if head else question
        for concept in glossary.concepts(phrase):
            nouns.update(concept.forms)
    for noun in sorted(nouns, key=lambda n: (-len(n), n)):  # the same span in every process
        for m in re.finditer(re.escape(noun), sentence):
            begin = m.start()
            while begin > 0 and m.start() - begin < 8 and sentence[begin - 1] not in _NAME_STOP:
                begin -= 1
            if begin < m.start() and not any(s.start <= begin < s.end for s in spans):
                spans.append(Span(begin, m.end(), sentence[begin : m.end()]))
    return spans


_WHO = re.compile(r"谁|\bwho\b|\bwhom\b", re.I)
# A person's name after an office: 镇长 魏 翔, 国务院总理 李克强, 区长　杜联合.
_PERSON = re.compile(
    r"(?:镇长|乡长|区长|县长|市长|省长|总理|主席|书记|主任|部长|局长|厅长|委员长)[\s　]*"
    r"(?P<name>[\u4e00-\u9fff](?:[\s　]?[\u4e00-\u9fff]){1,2})(?![\u4e00-\u9fff])"
)


def names_a_person(sentence: str) -> bool:
    """Whether ``sentence`` names a person after an office (镇长 魏 翔)."""
    return _PERSON.search(sentence) is not None


def names_asked_person(question: str, sentence: str, named: Sequence[str] = ()) -> bool:
    """A who-question and a sentence naming a person after an office (镇长 魏 翔) other than
    one the question names itself (``named``: its words in the documents' language, so
    "Li Keqiang" is 克强)."""
    if not _WHO.search(question):
        return False
    for person in _PERSON.finditer(sentence):
        name = re.sub(r"[\s　]", "", person["name"])
        if name not in question and not any(
            len(form) > 1 and (form in name or name in form) for form in named
        ):
            return True
    return False


# Who presents a report without a cover naming its speaker: "现在，我代表(省人民政府)向大会
# 作政府工作报告".
_PRESENTER = re.compile(r"我代表(?P<body>[^，。；,;]{2,30}?)向[^，。；,;]{0,12}?报告")


def presents_report(sentence: str) -> bool:
    """Whether ``sentence`` says who presents the report (我代表…向大会作…报告)."""
    return _PRESENTER.search(sentence) is not None


_ITEM_STOP = set("的和与及或在对将把被由从向为是了于，,；;。：:！？!?（）() ")
_LIST_LEAD = re.compile(r"(?:包括|包含|例如|比如|诸如|如|有)")


def _enumerations(sentence: str) -> list[list[Span]]:
    """The lists a sentence gives as A、B、C等, each item an exact span.

    The first item starts where a function word or mark stops it, and is no
    longer than the other items; the last ends at 等, at a mark, or just after
    the character the other items end with (高兴村、月坊村智慧平安小区 → 月坊村).
    """
    out = []
    for m in re.finditer(r"[^，,；;。：:！？!?、]+(?:、[^，,；;。：:！？!?、]+)+", sentence):
        pieces, pos = [], m.start()
        for piece in m.group().split("、"):
            pieces.append([pos, pos + len(piece)])
            pos += len(piece) + 1
        middle = [b - a for a, b in pieces[1:-1]]
        first_end = pieces[0][1]
        last_start, last_end = pieces[-1]
        suffix = sentence[first_end - 1]
        # 等 ends the last item, whatever function-word characters it holds (定向世界杯等).
        cut = sentence.find("等", last_start, last_end)
        if cut < 0:
            cut = last_end
            for i in range(last_start, last_end):
                if sentence[i] in _ITEM_STOP:
                    cut = i
                    break
                if sentence[i] == suffix and i > last_start:
                    cut = i + 1
                    break
        pieces[-1][1] = cut
        lengths = [*middle, cut - last_start]
        cap = max(lengths) if lengths else 8
        begin = first_end
        while begin > pieces[0][0] and first_end - begin < cap:
            if sentence[begin - 1] in _ITEM_STOP:
                break
            begin -= 1
        if lead := _LIST_LEAD.match(sentence, begin, first_end):
            begin = lead.end()
        pieces[0][0] = begin
        items = []
        for a, b in pieces:
            while a < b and sentence[a] in "“”\"'":
                a += 1
            while b > a and sentence[b - 1] in "“”\"'":
                b -= 1
            if b > a:
                items.append(Span(a, b, sentence[a:b], "list"))
        if len(items) >= 2:
            out.append(items)
    return out


def _pick_list(question: str, sentence: str, glossary: Glossary | None) -> list[Span] | None:
    """For a question asking for several things, the list the sentence gives."""
    lists = _enumerations(sentence)
    if not lists:
        return None
    terms = _terms(question, glossary)
    gap = _gap(question, sentence) if _CJK.search(question) else None

    def score(items: list[Span]) -> float:
        start, end = items[0].start, items[-1].end
        near = _proximity(sentence, terms, start, end)
        return near + (3.0 if gap and start < gap[1] and end > gap[0] else 0.0)

    return max(lists, key=score)


# Around an echoed gap, what is not the name: a leading "located in" or time
# (位于胡志明市, 1975年由…), and after a who-question's name a time (莫瓦桑于1905年制得).
_LEADING = re.compile(r"(?:位于|坐落于|坐落在|地处|(?:19|20|1\d)\d{2}年[由在于])")
_TRAILING_TIME = re.compile(r"(?:已|曾|并)?于\s*\d|在\s*\d{3,4}\s*年")
# The noun a which-question asks for (哪所大学): the sentence writes it after the name.
_WHICH_NOUN = re.compile(r"哪一?[个位家所座条项种类部批支]([\u4e00-\u9fff]{2,4})")


def _trim_echo(question: str, sentence: str, a: int, b: int) -> tuple[int, int]:
    if (lead := _LEADING.match(sentence, a, b)) and b - lead.end() >= 2:
        a = lead.end()
    if _WHO.search(question) and (time := _TRAILING_TIME.search(sentence, a + 2, b)):
        b = time.start()
    if noun := _WHICH_NOUN.search(question):
        b += next((n for n in range(len(noun[1]), 1, -1) if sentence.startswith(noun[1][:n], b)), 0)
    return a, b


def _pick_name(question: str, sentence: str, glossary: Glossary | None) -> list[Span] | None:
    # Several things asked (question.asks_list), or several figures "分别" (respectively).
    several = asks_list(question) or "分别" in question
    if several and (found := _pick_list(question, sentence, glossary)):
        return found
    if _WHO.search(question) and (person := _PERSON.search(sentence)):
        return [Span(person.start("name"), person.end("name"), person["name"], "person")]
    if asks_about_document(question) and (body := _PRESENTER.search(sentence)):
        return [Span(body.start("body"), body.end("body"), body["body"], "name")]
    if _CJK.search(question):
        gap = _anchored_gap(question, sentence)
        if gap is not None:
            a, b, _ = gap
            while a < b:  # function words, marks and (asides) before the answer
                if sentence[a] in "是为了的在有于被由以将把从向对自：:，, ":
                    a += 1
                elif (aside := re.match(r"[（(][^）)]*[）)]", sentence[a:b])) is not None:
                    a += aside.end()
                else:
                    break
            while b > a and sentence[b - 1] in "的了是，,、 ":
                b -= 1
            a, b = _trim_echo(question, sentence, a, b)
            quoted = [
                m
                for m in _QUOTED.finditer(sentence)
                if a <= m.start() and m.end() <= b + 1 and m[1] not in question
            ]
            if len(quoted) == 1:  # 试行了什么工作法 → 试行“两单一制”工作法: the name
                return [Span(quoted[0].start(1), quoted[0].end(1), quoted[0][1], "quote")]
            if 0 < b - a <= 30 and _CJK_RUN.search(sentence, a, b):
                return [Span(a, b, sentence[a:b], "echo")]
    spans = _name_spans(question, sentence, glossary)
    if not spans:
        return None
    terms = _terms(question, glossary)
    scored = sorted(
        ((_proximity(sentence, terms, s.start, s.end), s) for s in spans),
        key=lambda x: (-x[0], x[1].start),
    )
    best = scored[0][1]
    tied = len(scored) > 1 and scored[0][0] - scored[1][0] < 0.05
    if tied and not re.search(r"哪些|\bwhich\b.*s\b", question):
        return None
    if re.search(r"哪些|分别", question) or (
        not _CJK.search(question) and re.search(r"\bwhich \w+s\b", question, re.I)
    ):
        # A list: the names joined to the best one by 、/和/及.
        chain = [best]
        for s in sorted(spans, key=lambda s: s.start):
            last = chain[-1]
            if s.start > last.end and re.fullmatch(r"[、和及与,，]", sentence[last.end : s.start]):
                chain.append(s)
        return [replace(s, how=s.how or "name") for s in chain]
    return [replace(best, how=best.how or "name")]


def _clause(sentence: str, terms: Sequence[Term]) -> Span | None:
    """The clause sharing most of the question's words."""
    best, best_span = 0.0, None
    begin = 0
    for i, ch in enumerate([*sentence, "。"]):
        if ch in _CLAUSE_END or i == len(sentence):
            clause = sentence[begin:i]
            found = sum(t.weight for t in terms if any(f in clause for f in t.forms if len(f) > 1))
            if found > best and clause.strip():
                best, best_span = found, Span(begin, i, clause)
            begin = i + 1
    return best_span


def pick_span(question: str, sentence: str, glossary: Glossary | None = None) -> ShortAnswer | None:
    """The exact span of ``sentence`` answering ``question``, or None when unsure."""
    kind = question_kind(question)
    if kind is None or not sentence:
        return None
    parts: list[Span] | None
    if kind in ("number", "date"):
        figures = _pick_figures(question, sentence, kind, glossary)
        if figures is None:
            return None
        parts = [_with_measure(question, sentence, q) for q in figures]
    elif kind == "name":
        parts = []
        for part in split_parts(question):
            for span in _pick_name(part, sentence, glossary) or []:
                if all(span.end <= p.start or span.start >= p.end for p in parts):
                    parts.append(span)
        parts.sort(key=lambda p: p.start)
    else:
        clause = _clause(sentence, _terms(question, glossary))
        parts = [replace(clause, how="clause")] if clause else None
    if not parts:
        return None
    start, end = parts[0].start, parts[-1].end
    if len(parts) > 1 and end - start > max(40, 2 * sum(p.end - p.start for p in parts)):
        return None  # the parts lie far apart: no one short span answers
    inside = tuple(q for q in quantities(sentence) if start <= q.start and q.end <= end)
    polarity = None
    if kind == "yes-no":
        negation = _NEGATION.search(sentence, start, end)
        polarity = negation is None
        if negation is not None:  # 全年未发生一例溺水事故 → 未发生一例溺水事故
            start = negation.start()
            parts = [Span(start, end, sentence[start:end], "clause")]
    return ShortAnswer(
        kind, start, end, sentence[start:end], tuple(parts), inside, polarity=polarity
    )
