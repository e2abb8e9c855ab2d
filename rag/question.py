"""Question analysis: clean and check it, read follow-ups in context, split it, read its cues.

Everything the pipeline needs to know about a question before retrieval is decided
here, once (:func:`analyse`), so that retrieval and answer scoring receive the
same reading of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rag.glossary import STOPWORDS
from rag.text import CJK_RUN, is_chinese

_FOLLOW_UP = re.compile(
    r"^(那|那么|还有|另外|而|and\b|what about|how about|and what|also)|(呢|呢？|呢\?)$", re.I
)
_HAS_WORD = re.compile(r"[\w\u3400-\u9fff]")
_MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A non-Chinese input with none of these asks nothing (code, SQL, a greeting).
_QUESTION_CUE = re.compile(
    r"[?？؟]|\b(how|what|which|who|whom|whose|when|where|why|is|are|was|were|do|does|did|"
    r"can|could|will|would|has|have|had|name|list|tell|give|show|describe|explain)\b",
    re.IGNORECASE,
)
NOT_A_QUESTION = (
    "请提一个关于文档的问题。 Please ask a question about the documents, "
    "e.g. “How many rounds of COVID testing were carried out?”"
)
# 几 asking how many: 哪几 asks which ones (a list); 这几年, 近几年, 好几, 几乎 and 几年来 ask
# nothing.
ASKS_JI = r"(?<![哪这近前好])几(?!乎|年来)"
_QUANTITY_ZH = re.compile(rf"(多少|{ASKS_JI}|多大|多高|比例|百分之|占比|金额|增速|增幅|增长了?多)")
# Narrower than ASKS_NUMBER_EN below on purpose: it arms the ranking's figure bonus and the
# abstention's no-figure veto, which a measure named in words must not ("What is the revenue
# target?" is answered 与区持平).
_QUANTITY_EN = re.compile(
    r"\b(how (many|much|big|large|high|fast)|what (percentage|share|proportion|rate|number|amount)"
    r"|number of|amount of|percent|total)\b",
    re.I,
)
# An English question asking for a figure, in the words of what is measured ("What was the
# GDP?", "What is the growth target?"): the short answer's kind, and an abstention input.
ASKS_NUMBER_EN = re.compile(
    r"\bhow (?:many|much|big|large|long|far|high|old|fast)\b|\bby how much\b"
    r"|\bwhat (?:percentage|percent|share|proportion|rate|number|amount|total|value|size)\b"
    r"|\b(?:number|amount|percentage|share|proportion) of\b"
    r"|^\s*what\b.*\b(?:rate|ratio|percentage|share|proportion|total|amount|number)\b"
    # what an economy is measured in: "What was the GDP last year?", "…growth target?"
    r"|^\s*what\b.*\b(?:gdp|revenues?|income|output|growth|investment|budget|population"
    r"|expenditure|spending|cost|price|sales|profits?|concentration|coverage|density|capacity)\b"
    r"|\bwhat (?:area|length|size|distance|height|sum|value)\b",
    re.I,
)
# "when" asks a date where it opens the question or a part of it ("When…", "…, and when?",
# "since when"), not where it joins a clause ("What did they follow when helping firms?").
_ASKS_DATE = re.compile(
    r"(什么时候|何时|哪天|哪一天|几月|日期|时间是)|\b(what date|which date|what day)\b"
    r"|^\W*when\b|\b(?:and|or|since|until|till|by)\s+when\b|\bwhen\s*[?？]",
    re.I,
)
_SPLIT_QUESTION = re.compile(
    r"[？?；;]|(?:，|,)?(?:以及|并且|另外|同时|还有|和|及|, and| and)(?=.{0,12}?"
    r"(?:多少|几|哪|什么|谁|何|怎么|是否|how|what|which|who|when|where|whether))",
    re.I,
)
# Bigrams that only shape a question; they say nothing about where the answer is.
_QUESTION_BIGRAMS = {
    "多少",
    "什么",
    "哪些",
    "哪个",
    "是否",
    "怎么",
    "怎样",
    "如何",
    "为何",
    "一下",
    "请问",
    "几个",
    "几轮",
    "是多",
    "有多",
    "了多",
    "有哪",
    "是什",
    "是哪",
    "分别",
    "多大",
    "为什",
}
# A pronoun standing for what the sub-question before named.
_REFERS_BACK = re.compile(
    r"\b(he|his|him|she|her|it|its|they|their|them)\b|^(?:其(?!他)|他|她|它|该)", re.I
)
# Characters that only shape a question or join words; a bigram of two of them is no topic.
STOP_CHARS = frozenset("的了吗呢吧啊是在和与及或有多少几什么哪谁怎如何请问么")


# A Chinese input method in full-width mode types ２０２２年ＧＤＰ增长５.２％; the reports write
# 2022年GDP增长5.2%, and a full-width figure matched none of them.
_FULL_WIDTH = str.maketrans(
    {chr(code): chr(code - 0xFEE0) for code in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B),
                                                *range(0xFF41, 0xFF5B), 0xFF05, 0xFF0E]}
)


def clean_question(question: str) -> str:
    """Drop control characters (NUL, ANSI colours and friends) and markup tags: no one
    asks with those; full-width digits, letters, ％ and ． read as ASCII."""
    text = "".join(
        ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " "
        for ch in _ANSI_ESCAPE.sub(" ", question)
    )
    return _MARKUP.sub(" ", text).strip().translate(_FULL_WIDTH)


# How people open a question to a chatbot, which says nothing about what is asked: "你好，请问…",
# "我想了解一下…", "Hi, could you tell me: …", "I'd like to know …". Left in, its words are
# searched for (tell → 告诉, 了解) and count as asked but absent, which reads as "not found".
_FRAME = re.compile(
    r"^(?:(?:你好|您好|嗨|哈喽|(?:hi|hello|hey)\b(?:\s*there\b)?)[\s,，.。!！:：~～]*)?"
    r"(?:(?:请问|想问|我想问|我想知道|我想了解|我想请问|请告诉我|告诉我|麻烦(?:你|您)?(?:告诉我|问一下)"
    r"|(?:你|您)(?:知道|能告诉我)|(?:能|可以)(?:不能|否)?告诉我)(?:一下)?"
    r"|(?:please\s+|kindly\s+)?(?:(?:could|can|would|will)\s+you\s+(?:please\s+)?)?"
    r"(?:tell|show|give)\s+me(?:\s+about\b)?(?!\s+more\b)"
    r"|i(?:'d|\s+would)\s+like\s+to\s+know|i\s+want\s+to\s+know|i\s+wonder(?:\s+if)?"
    r"|do\s+you\s+know|please\b)?"
    r"[\s,，:：]*",
    re.IGNORECASE,
)
# "According to the report, …", "根据报告，…": every question is asked of the documents, and
# "report" would otherwise be searched for as a topic (it is the cover's word).
_DOCUMENT = r"(?:(?:government\s+)?(?:work\s+)?)(?:report|document|file|text|speech)s?"
_SOURCE_FIRST = re.compile(
    rf"^(?:(?:according\s+to|based\s+on|in|from)\s+(?:the|this|that|these)\s+{_DOCUMENT}"
    r"(?=[,，:：]|\s+(?:how|what|which|who|whom|when|where|why|is|are|was|were|did|does|do"
    r"|has|have|can)\b)"
    r"|(?:根据|按照|依据|据)(?:这份|这个|该|本)?(?:政府工作)?(?:报告|文件|文档|材料)(?:中|里|里面)?(?:所说|显示|提到)?"
    r"|(?:这份|这个|该|本)?(?:政府工作)?(?:报告|文件|文档)(?:中|里|里面)(?:提到|说|显示)?(?=[，,：:]))?"
    r"[\s,，:：]*",
    re.IGNORECASE,
)
_SOURCE_LAST = re.compile(
    rf"[\s,，]*(?:according\s+to|based\s+on)\s+(?:the|this|that|these)\s+{_DOCUMENT}"
    r"(?=[?？.。]?$)",
    re.IGNORECASE,
)
_THANKS = re.compile(
    r"[\s,，.。!！~～]*(?:谢谢(?:你|您|啦)?|多谢|thanks?(?:\s+you)?(?:\s+very\s+much)?|thx|please)"
    r"[\s,，.。!！~～]*(?=[?？]?$)",
    re.IGNORECASE,
)


def without_frame(question: str) -> str:
    """``question`` without a greeting, a "could you tell me" or an "according to the report"
    that opens it and a thanks that ends it (unchanged if that is all it says)."""
    rest = question[_FRAME.match(question).end() :]
    rest = rest[_SOURCE_FIRST.match(rest).end() :]
    rest = _SOURCE_LAST.sub("", _THANKS.sub("", rest))
    if not _HAS_WORD.search(rest):
        return question
    # "Could you tell me how many…" asks "How many…"; the embedding tells the two apart.
    capital = rest[0].islower() and not rest[1:2].isupper() and rest != question
    return rest[0].upper() + rest[1:] if capital else rest


def input_problem(question: str, max_chars: int) -> str | None:
    """A friendly reason why ``question`` cannot be answered as asked, if any."""
    if not question:
        return "请输入一个问题。 Please type a question."
    if len(question) > max_chars:
        return (
            f"问题太长了（{len(question)} 字，上限 {max_chars} 字）。"
            f" The question is too long ({len(question)} characters; the limit is {max_chars})."
        )
    if not _HAS_WORD.search(question):
        return "请用文字提一个关于文档的问题。 Please ask a question about the documents in words."
    return None


def previous_question(history: Sequence[str], max_chars: int) -> str:
    """The last earlier question, as context; one over the limit was refused, so it is none
    (and would cost a long embedding per follow-up)."""
    if not history or len(history[-1]) > max_chars:
        return ""
    return without_frame(clean_question(history[-1]))


def is_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP.search(question.strip())) or len(question.strip()) <= 6


def split_question(question: str) -> list[str]:
    """A question that asks two things becomes two sub-questions. One that names its
    subject only by a pronoun ("…, and what is his position?", "其中…有几个") carries the
    sub-question before it, whose words say what it asks about."""
    parts = [p.strip(" ,，。") for p in _SPLIT_QUESTION.split(question)]
    parts = [p for p in parts if len(p) >= 3]
    if len(parts) < 2:
        return [question]
    return [parts[0]] + [
        f"{before} {part}" if _REFERS_BACK.search(part) else part
        for before, part in zip(parts, parts[1:], strict=False)
    ]


def asks_quantity(question: str) -> bool:
    return bool(_QUANTITY_ZH.search(question) or _QUANTITY_EN.search(question))


_MEASURE_AFTER_ASK = re.compile(r"(?:多少|几)([\u4e00-\u9fff]{1,2})")
_HOW_MANY = re.compile(r"\bhow\s+many((?:\s+[a-z-]+){1,3})", re.I)
# English counting nouns and the Chinese measure word a report writes after the figure
# (73轮, 5次, 3批): general Chinese grammar, not any report's vocabulary.
_MEASURE_WORDS_EN = {
    "round": "轮", "time": "次", "session": "次", "batch": "批", "item": "项",
    "project": "项", "household": "户", "company": "家", "enterprise": "家", "firm": "家",
    "school": "所", "hospital": "家", "vehicle": "辆", "bus": "辆", "set": "套",
    "person-time": "人次", "person": "人", "people": "人", "kilometre": "公里",
    "kilometer": "公里", "mu": "亩", "ton": "吨", "tonne": "吨", "seat": "座",
    "bridge": "座", "station": "座", "case": "起", "piece": "件",
}


def measure_words(question: str) -> set[str]:
    """The measure words a figure answering ``question`` would carry: 多少轮 → 轮,
    "how many rounds" → 轮 (the first character of what follows 多少 / 几)."""
    found = {m[0] for m in _MEASURE_AFTER_ASK.findall(question)}
    for phrase in _HOW_MANY.findall(question):
        # The counted noun heads the phrase, last before a function word: "how many new
        # companies", "how many rounds of…"; "how many hospital beds" counts beds, not 家.
        words = phrase.lower().split()
        cut = next((i for i, w in enumerate(words) if w in STOPWORDS), len(words))
        if cut:
            word = words[cut - 1]
            forms = (word, word.removesuffix("s"), word.removesuffix("es"), word[:-3] + "y")
            unit = next((_MEASURE_WORDS_EN[f] for f in forms if f in _MEASURE_WORDS_EN), None)
            if unit:
                found.add(unit)
    return found


# "什么是X？", "X是什么？", "X指什么": what X is. "X的Y是什么" asks Y of X, not what X is.
_ASKS_DEFINITION = re.compile(
    r"^(?:请问)?(?:什么是|何为|何谓)(?P<after>[^，,。？?的]{1,20})[？?。]?$"
    r"|^(?:请问)?(?P<before>[^，,。？?的]{1,20}?)(?:是指|指的是|是|指)(?:什么|啥)(?:意思)?[？?。]?$"
)


def asked_definition(question: str) -> str | None:
    """The X of a question asking what X is, else None. A sentence defining it opens with
    it: 乙酰胺是由乙酸衍生出的酰胺, 28.三小场所：小档口、小作坊、小娱乐场所。"""
    match = _ASKS_DEFINITION.match(question.strip())
    if not match:
        return None
    return (match["after"] or match["before"]).strip(" 《》“”\"「」'") or None


# Who delivered the report, when, at which meeting: the report's own cover and sign-off say.
_ABOUT_DOCUMENT_ZH = re.compile(
    r"(报告|讲话)(是|由)[^，。？?]{0,6}(谁|哪天|哪一天|何时|什么时候|哪次|什么会议|哪个会议|哪届)"
    r"|(谁|哪天|哪一天|何时|什么时候|哪次|什么会议|哪届)[^，。？?]{0,8}"
    r"(作|做|发表|宣读|印发|发布)[^，。？?]{0,4}(报告|讲话)"
)
# "When was the report delivered", "Who delivered this report"; not "What does the report
# present", whose subject is the report's content.
_ABOUT_DOCUMENT_EN = re.compile(
    r"\b(when|what date|which|what)\b[^?,]{0,50}\b(was|were|is)\b[^?,]{0,30}\b(report|speech)\b"
    r"[^?,]{0,10}\b(deliver|present|issu|dat|giv|read)\w*"
    r"|\bwho (delivered|presented|gave|read|issued)\b[^?,]{0,30}\b(report|speech)\b"
    r"|\b(which|what)\b[^?,]{0,30}\b(is|was) (deliver|present|giv|read)\w*\b[^?,]{0,20}"
    r"\b(report|speech)\b",
    re.I,
)


def asks_about_document(question: str) -> bool:
    """Whether ``question`` asks about the document itself: who delivered it, when, where."""
    return bool(_ABOUT_DOCUMENT_ZH.search(question) or _ABOUT_DOCUMENT_EN.search(question))


def asks_date(question: str) -> bool:
    return bool(_ASKS_DATE.search(question))


# "Why", "for what reason", "to what end": the answer gives a cause or a purpose, and Chinese
# marks one with a closed class of words (因为, 由于, 为了, 以…为由, 之故).
_ASKS_REASON = re.compile(
    r"为什么|为何|何故|因何|为啥|什么原因|原因|理由|缘由|缘故|目的(?!地)|\b(?:why|reasons?|purpose)\b",
    re.I,
)
STATES_REASON = re.compile(
    r"因为|由于|为了|因此|所以|因而|以致|以便|为由|之故|缘故|原因|目的(?!地)|旨在"
)


def asks_reason(question: str) -> bool:
    return bool(_ASKS_REASON.search(question))


# "哪些", "哪几": the answer is a list, which Chinese writes with 、 between its items.
_ASKS_LIST = re.compile(
    r"哪些|哪几|^\s*(?:name|list)\b|\b(?:what|which) (?:are|were)\b"
    r"|\bwhat (?:kinds?|types?|sorts?)\b|\bwhich (?:two|three|four|five|six|several)\b"
    # "Which villages got…", "What shortcomings does…": a plural asked, then its verb
    r"|\b(?:what|which) (?:\w+ ){0,3}?\w{2,}[^su\W]s"
    r" (?:do|did|does|are|were|will|have|has|had|got|can|could|should|would|must)\b",
    re.I,
)


def asks_list(question: str) -> bool:
    return bool(_ASKS_LIST.search(question))


def heads_list(text: str) -> bool:
    """Whether ``text`` is the line a list follows ("主要预期目标是:"): a label that answers a
    question asking for the list, with the items after it."""
    return text.rstrip().endswith((":", "："))


def enumerates(text: str) -> bool:
    """Whether ``text`` lists three or more items (美国罢工、电影业、二次世界大战)."""
    return text.count("、") >= 2


# A figure asked per person, per day, on average or per mu is another measure than the total
# a sentence states: "人均地区生产总值" is not answered by "地区生产总值完成93.8亿元". Each
# qualifier a question may name, and the words a sentence stating it uses.
_QUALIFIERS = tuple(
    (re.compile(asked, re.I), re.compile(stated))
    for asked, stated in (
        (r"人均|每人|每个人|\bper[- ]capita\b|\bper (?:person|resident|head)\b",
         r"人均|每人|每个人|每位|每名|平均"),
        (r"户均|每户|\bper household\b", r"户均|每户|平均"),
        (r"平均|年均|日均|\baverage\b", r"均"),
        (r"日均|每天|每日|\bper day\b|\b(?:a|each|every) day\b",
         r"日均|每天|每日|一天|天均"),
        (r"亩产|\bper mu\b", r"亩产|每亩|亩均|单产"),
    )
)


def qualifiers_asked(question: str) -> list[re.Pattern[str]]:
    """What a sentence must say to state the figure of each qualifier ``question`` names."""
    return [stated for asked, stated in _QUALIFIERS if asked.search(question)]


def qualifier_words(question: str) -> dict[str, tuple[str, ...]]:
    """Each qualifier an English question names, by its last word ("per day" → "day"), with
    the words a sentence stating it uses: the dictionary has no English for 日均."""
    return {
        match.group().split()[-1].lower(): tuple(stated.pattern.split("|"))
        for asked, stated in _QUALIFIERS
        for match in asked.finditer(question)
        if match.group().isascii()
    }


_CLASSIFIERS = frozenset("份个项次种位些届件条篇")


def content_bigrams(text: str) -> set[str]:
    """The topical Chinese bigrams of ``text`` (the bigrams that only shape a question removed)."""
    grams: set[str] = set()
    for run in CJK_RUN.findall(text):
        for i, (a, b) in enumerate(zip(run, run[1:], strict=False)):
            gram = a + b
            if gram in _QUESTION_BIGRAMS or (a in STOP_CHARS and b in STOP_CHARS):
                continue
            if a == "是" and i and run[i - 1] in "么谁":
                continue  # "什么是乙酰胺": 是乙 is the question's frame, no word of the answer
            if (
                (a in "这那" and b in _CLASSIFIERS)
                or (a in _CLASSIFIERS and i and run[i - 1] in "这那")
                or (a in STOP_CHARS and b in "这那")
            ):
                continue  # "谁作的这份报告": 的这, 这份 and 份报 point, 报告 names
            grams.add(gram)
    return grams


@dataclass(frozen=True)
class Question:
    """One question as the pipeline reads it."""

    text: str  # cleaned
    problem: str | None  # why it cannot be answered as asked; None when it can
    search_text: str  # what retrieval searches for: a follow-up carries the previous question
    parts: list[str]  # what answer scoring scores: the question, or its two sub-questions
    zh: bool
    previous: str  # the previous question when this is a follow-up, else ""


def analyse(question: str, history: Sequence[str], max_chars: int) -> Question:
    """Read ``question`` (with the user's earlier ``history``) once, for the whole pipeline."""
    typed = clean_question(question)
    text = without_frame(typed)  # "Could you tell me …" asks, whatever follows
    zh = is_chinese(text)
    problem = input_problem(text, max_chars)
    if not (problem or history or zh or text != typed or _QUESTION_CUE.search(text)):
        problem = NOT_A_QUESTION
    previous = previous_question(history, max_chars)
    follow_up = bool(previous) and is_follow_up(text)
    scoring_text = text
    if follow_up and asks_quantity(previous) and not asks_quantity(text):
        scoring_text += " 多少" if zh else " how many"
    return Question(
        text=text,
        problem=problem,
        search_text=f"{previous} {text}" if follow_up else text,
        parts=split_question(scoring_text),
        zh=zh,
        previous=previous if follow_up else "",
    )
