"""Chinese quantities as written in the reports, and the same quantities in English.

``quantities(text)`` finds every figure of a Chinese sentence — Arabic or Chinese
numerals, full-width digits, thousands separators, scale words (千/百万/万/亿/万亿),
units, ranges (``3-5万``, ``5至8亿元``), hedges (``近``, ``余``, ``左右``), percentages,
percentage points, dates and ordinals — each with its exact ``[start, end)`` span, so
a short answer can quote it and an English answer can say it: 714万人次 → "7.14
million person-times", 93.8亿元 → "9.38 billion yuan", 2023年3月31日 → "31 March
2023". Classifiers (家/个/项/名…) have no English word: the noun after them does.

``rag.llm`` has its own, narrower matcher (``llm.numbers_in``) for checking an LLM's
figures against a passage; the two agree on the scale words and should merge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# Full-width digits and signs map one to one, so offsets into the original text hold.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．％－～", "0123456789.%-~")
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_SMALL = {"十": 10, "百": 100, "千": 1000}
_CN_LARGE = {"万": 10**4, "亿": 10**8}
SCALES = {
    "万亿": Decimal(10) ** 12,
    "亿": Decimal(10) ** 8,
    "千万": Decimal(10) ** 7,
    "百万": Decimal(10) ** 6,
    "万": Decimal(10) ** 4,
    "千": Decimal(10) ** 3,
    "百": Decimal(100),
}

# Units with their English (singular, plural); classifiers have none. Longest first.
UNITS: dict[str, tuple[str, str]] = {
    "微克/立方米": ("microgram per cubic metre", "micrograms per cubic metre"),
    "平方公里": ("square kilometre", "square kilometres"),
    "平方千米": ("square kilometre", "square kilometres"),
    "平方米": ("square metre", "square metres"),
    "立方米": ("cubic metre", "cubic metres"),
    "千瓦时": ("kilowatt-hour", "kilowatt-hours"),
    "个百分点": ("percentage point", "percentage points"),
    "百分点": ("percentage point", "percentage points"),
    "标准箱": ("TEU", "TEU"),
    "平米": ("square metre", "square metres"),
    "公顷": ("hectare", "hectares"),
    "公里": ("kilometre", "kilometres"),
    "千米": ("kilometre", "kilometres"),
    "千瓦": ("kilowatt", "kilowatts"),
    "千克": ("kilogram", "kilograms"),
    "公斤": ("kilogram", "kilograms"),
    "美元": ("US dollar", "US dollars"),
    "港元": ("Hong Kong dollar", "Hong Kong dollars"),
    "人次": ("person-time", "person-times"),
    "个月": ("month", "months"),
    "小时": ("hour", "hours"),
    "分钟": ("minute", "minutes"),
    "周岁": ("year old", "years old"),
    "标箱": ("TEU", "TEU"),
    "公分": ("centimetre", "centimetres"),
    "厘米": ("centimetre", "centimetres"),
    "毫米": ("millimetre", "millimetres"),
    "公尺": ("metre", "metres"),
    "km²": ("square kilometre", "square kilometres"),
    "km": ("kilometre", "kilometres"),
    "kg": ("kilogram", "kilograms"),
    "cm": ("centimetre", "centimetres"),
    "m": ("metre", "metres"),
    "元": ("yuan", "yuan"),
    "人": ("person", "people"),
    "户": ("household", "households"),
    "亩": ("mu", "mu"),
    "吨": ("tonne", "tonnes"),
    "米": ("metre", "metres"),
    "套": ("set", "sets"),
    "辆": ("vehicle", "vehicles"),
    "台": ("unit", "units"),
    "倍": ("times", "times"),
    "轮": ("round", "rounds"),
    "次": ("time", "times"),
    "批": ("batch", "batches"),
    "年": ("year", "years"),
    "天": ("day", "days"),
    "秒": ("second", "seconds"),
    "周年": ("year", "years"),
    "周": ("week", "weeks"),
    "岁": ("year old", "years old"),
    "%": ("%", "%"),
    "‰": ("‰", "‰"),
}
CLASSIFIERS = (
    "个家项所座条件处宗名位只栋幢间张份块片棵株支部起例场届类种批股发枚艘架层头匹首本册级门盏口眼根"
)
_UNITS = sorted([*UNITS, *CLASSIFIERS], key=len, reverse=True)
_UNIT_RE = "|".join(re.escape(u) + ("(?![A-Za-z])" if u.isascii() else "") for u in _UNITS)
_SCALE_RE = "万亿|亿|千万|百万|万|千(?![米瓦克])|百(?![分])"
_CN_NUM_CHARS = "零〇一二两三四五六七八九十百千万亿"

_ARABIC = r"\d+(?:,\d{3})*(?:\.\d+)?"
_CN = rf"[{_CN_NUM_CHARS}]+"
_NUM = rf"(?:{_ARABIC}|{_CN})"
_BEFORE = (
    r"(?P<before>(?<![签节合预制条契邀公隐简])约|大约|近|接近|将近|超过|超|逾"
    r"|不低于|不少于|不超过|至少|百分之)?"
)
_ONE = (
    rf"(?P<@num>{_NUM})(?P<@more>余|多)?\s*(?P<@scale>{_SCALE_RE})?"
    rf"(?P<@more2>余|多)?\s*(?P<@unit>{_UNIT_RE})?"
)
_QUANTITY = re.compile(
    rf"(?P<ordinal>第)?{_BEFORE}{_ONE.replace('@', 'a')}"
    rf"(?:\s*(?P<sep>[-—–~至到])\s*{_ONE.replace('@', 'b')})?"
    r"(?P<after>左右|以上|以内|以下)?"
)
_COMPOUND = re.compile(
    rf"(?P<n1>\d+)(?P<s1>万亿|亿|万)(?P<n2>\d+)(?P<s2>千|百)(?P<more>多|余)?(?P<s3>万)?"
    rf"(?P<unit>{_UNIT_RE})?"
)
_DATE = re.compile(
    r"(?:(?P<y>(?:1[0-9]|20)\d\d|[〇零一二三四五六七八九]{4})\s*年(?P<decade>代)?)?"
    r"(?:\s*(?P<m>1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])\s*月"
    r"(?:\s*(?P<d>3[01]|[12]\d|0?[1-9]|[二三]?十[一二三四五六七八九]?|[一二三四五六七八九])\s*[日号])?)?"
)
_YEAR_RANGE = re.compile(r"(?P<y1>(?:1[89]|20)\d\d)\s*[-—–~至到]\s*(?P<y2>(?:1[89]|20)\d\d)\s*年")
_MONTH_RANGE = re.compile(
    r"(?<![\d.])(?P<m1>1[0-2]|0?[1-9])\s*[-—–~至到]\s*(?P<m2>1[0-2]|0?[1-9])\s*月"
)
_DAY_RANGE = re.compile(r"\s*[-—–~至到]\s*(?P<d2>3[01]|[12]\d|0?[1-9])\s*[日号]")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_APPROX = {
    "约": "about",
    "大约": "about",
    "左右": "about",
    "近": "nearly",
    "接近": "nearly",
    "将近": "nearly",
    "超过": "more than",
    "超": "more than",
    "逾": "more than",
    "余": "more than",
    "多": "more than",
    "以上": "more than",
    "不低于": "at least",
    "不少于": "at least",
    "至少": "at least",
    "不超过": "at most",
    "以内": "at most",
    "以下": "under",
}


@dataclass(frozen=True)
class Quantity:
    """One figure of a text: where it is, what it is worth and how to say it in English."""

    start: int
    end: int
    text: str
    kind: str  # "number", "percent", "points", "date", "year", "ordinal"
    low: Decimal | None = None  # the value in base units (93.8亿 → 9380000000)
    high: Decimal | None = None  # a range's upper end; None for one value
    unit: str = ""  # the Chinese unit as written ("元", "人次", "家"); "" for none
    approx: str = ""  # "about", "nearly", "more than", "at least", "at most", "under"
    english: str = ""

    @property
    def value(self) -> Decimal | None:
        return self.low


def chinese_numeral(text: str) -> int | None:
    """The value of a Chinese numeral (七十三 → 73, 两 → 2, 一万二千 → 12000), or None
    when ``text`` is not one well-formed numeral (十二五 is a plan's name, not 125)."""
    if not text or any(c not in _CN_NUM_CHARS for c in text):
        return None
    if all(c in _CN_DIGITS for c in text) and len(text) > 1:
        return None  # digit strings (二〇二三) are read by the date rules
    total, section, digit, last_small = 0, 0, None, 10**9
    last_large, zero = 10**13, False
    for ch in text:
        if ch in _CN_DIGITS:
            value = _CN_DIGITS[ch]
            if digit is not None and value != 0 and digit != 0:
                return None  # two digits in a row: 一二, 十二五
            zero = zero or value == 0
            digit = value if value or digit is None else digit
        elif ch in _CN_SMALL:
            mult = _CN_SMALL[ch]
            if mult >= last_small:
                return None
            section += (1 if digit is None else digit) * mult
            digit, last_small, zero = None, mult, False
        else:
            mult = _CN_LARGE[ch]
            if mult >= last_large or (section == 0 and not digit and total == 0):
                return None
            total += (section + (digit or 0)) * mult
            section, digit, last_small, last_large, zero = 0, None, 10**9, mult, False
    if digit and 10 < last_small < 10**9 and not zero:
        return None  # 三百五 (colloquial 350) is too ambiguous in a report
    return total + section + (digit or 0)


def _number(text: str) -> Decimal | None:
    if text[0].isdigit():
        try:
            return Decimal(text.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the pattern admits decimals only
            return None
    value = chinese_numeral(text)
    return None if value is None else Decimal(value)


def _digits_year(text: str) -> int:
    return int("".join(str(_CN_DIGITS.get(c, c)) for c in text))


def _small_cn(text: str) -> int:
    return int(text) if text.isdigit() else chinese_numeral(text) or 0


def format_number(value: Decimal) -> str:
    """English digits: 7140000 → "7.14 million", 110000 → "110,000", 4.5 → "4.5"."""
    for word, scale in (("trillion", 12), ("billion", 9), ("million", 6)):
        if abs(value) >= Decimal(10) ** scale:
            return f"{_plain(value / Decimal(10) ** scale)} {word}"
    return _plain(value, commas=True)


def _plain(value: Decimal, commas: bool = False) -> str:
    value = value.normalize()
    if value == value.to_integral_value():
        return f"{int(value):,}" if commas else str(int(value))
    text = format(value, "f")
    if commas:
        whole, _, frac = text.partition(".")
        text = f"{int(whole):,}.{frac}"
    return text


def _scale_word(value: Decimal) -> tuple[str, Decimal]:
    for word, scale in (("trillion", 12), ("billion", 9), ("million", 6)):
        if abs(value) >= Decimal(10) ** scale:
            return word, Decimal(10) ** scale
    return "", Decimal(1)


def _unit_english(unit: str, value: Decimal | None) -> str:
    if unit not in UNITS:
        return ""
    one, many = UNITS[unit]
    return one if value == 1 else many


def _say(low: Decimal, high: Decimal | None, unit: str, kind: str) -> str:
    """The English for a value or range with its unit."""
    if kind == "percent":
        return f"{_plain(low)}%" + ("" if high is None else f"–{_plain(high)}%")
    if high is None:
        number = format_number(low)
    else:
        word, scale = _scale_word(high)
        if word and _scale_word(low)[0] == word:
            number = f"{_plain(low / scale)}–{_plain(high / scale)} {word}"
        else:
            number = f"{format_number(low)}–{format_number(high)}"
    if unit == "倍":
        return f"{number} times"
    name = _unit_english(unit, high if high is not None else low)
    return f"{number} {name}" if name else number


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _dates(text: str) -> list[Quantity]:
    found: list[Quantity] = []
    for m in _YEAR_RANGE.finditer(text):
        found.append(Quantity(m.start(), m.end(), m[0], "year", english=f"{m['y1']}–{m['y2']}"))
    for m in _MONTH_RANGE.finditer(text):
        months = f"{_MONTHS[int(m['m1']) - 1]}–{_MONTHS[int(m['m2']) - 1]}"
        found.append(Quantity(m.start(), m.end(), m[0], "date", english=months))
    taken = [(q.start, q.end) for q in found]
    for m in _DATE.finditer(text):
        if not (m["y"] or m["m"]) or any(a < m.end() and m.start() < b for a, b in taken):
            continue
        year = _digits_year(m["y"]) if m["y"] else None
        if m["y"] and not m["y"][0].isdigit() and chinese_numeral(m["y"]) is not None:
            continue
        month = _small_cn(m["m"]) if m["m"] else None
        day = _small_cn(m["d"]) if m["d"] else None
        end = m.end()
        words = [str(day)] if day else []
        if day and (until := _DAY_RANGE.match(text, end)):  # 10月22日至25日
            words, end = [f"{day}–{int(until['d2'])}"], until.end()
        words += [_MONTHS[month - 1]] if month else []
        words += [str(year)] if year else []
        kind = "year" if month is None else "date"
        if m["decade"]:  # 1990年代 → the 1990s
            words, kind = [f"the {year}s"], "year"
        found.append(Quantity(m.start(), end, text[m.start() : end], kind, english=" ".join(words)))
    return found


def quantities(text: str) -> list[Quantity]:
    """Every figure of ``text`` in order, with spans into ``text`` itself."""
    norm = text.translate(_FULL_WIDTH)
    found = _dates(norm)
    taken = [(q.start, q.end) for q in found]
    pos = 0
    while (m := _QUANTITY.search(norm, pos)) is not None:
        pos = max(m.end("anum"), m.start() + 1)
        if any(a < m.end("anum") and m.start("anum") < b for a, b in taken):
            continue
        q = _compound(norm, m.start("anum")) or _quantity(m, norm)
        if q is not None:
            found.append(q)
            pos = q.end
    found.sort(key=lambda q: q.start)
    return [
        Quantity(
            q.start,
            q.end,
            text[q.start : q.end],
            q.kind,
            q.low,
            q.high,
            q.unit,
            q.approx,
            q.english,
        )
        for q in found
    ]


def _compound(text: str, at: int) -> Quantity | None:
    """``2万5千公里`` (25,000 km), ``1亿3千多万`` (more than 130 million)."""
    m = _COMPOUND.match(text, at)
    if m is None:
        return None
    top = SCALES[m["s1"]]
    tail = Decimal(m["n2"]) * (1000 if m["s2"] == "千" else 100) * (10**4 if m["s3"] else 1)
    if tail >= top:
        return None
    value = Decimal(m["n1"]) * top + tail
    unit = m["unit"] or ""
    approx = "more than" if m["more"] else ""
    english = _say(value, None, unit, "number")
    english = f"{approx} {english}" if approx else english
    return Quantity(at, m.end(), m[0], "number", value, None, unit, approx, english)


def _side(m: re.Match[str], p: str) -> tuple[Decimal | None, str]:
    value = _number(m[f"{p}num"])
    if value is not None and m[f"{p}scale"]:
        value *= SCALES[m[f"{p}scale"]]
    return value, m[f"{p}unit"] or ""


def _end_of(m: re.Match[str], p: str) -> int:
    return max(
        m.end(g) for g in (f"{p}num", f"{p}more", f"{p}scale", f"{p}more2", f"{p}unit") if m[g]
    )


def _quantity(m: re.Match[str], text: str) -> Quantity | None:
    """The figure ``m`` found, or None when it is not one (a word such as 统一)."""
    arabic = m["anum"][0].isdigit()
    low, unit = _side(m, "a")
    if low is None:
        return None
    if not arabic and not (m["aunit"] or m["ascale"] or m["ordinal"] or m["before"] == "百分之"):
        return None  # 统一, 一是: a Chinese numeral counts only with a unit
    if not arabic and m.start("anum") > 0 and text[m.start("anum") - 1] in '“"《「':
        return None  # “四个意识”: a name that starts with a numeral
    at = m.start("anum")
    if not arabic and (
        (m.end() < len(text) and text[m.end()] in _CN_NUM_CHARS)
        or (at >= 2 and text[at - 1] in CLASSIFIERS and text[at - 2] in _CN_NUM_CHARS)
    ):
        return None  # 三位一体, 一件一件: an idiom
    before, after = text[m.start("anum") - 1 : m.start("anum")], text[m.end() : m.end() + 1]
    if arabic and (before.isascii() and before.isalpha() or after.isascii() and after.isalpha()):
        return None  # IPv6, 5G, PM2.5: part of a name
    if (
        arabic
        and not m["aunit"]
        and not m["ascale"]
        and after in ".．、"
        and (m.start() == 0 or text[m.start() - 1].isspace())
    ):
        return None  # "20.激发…": a list's numbering
    start = m.start()
    if m["ordinal"]:
        end = _end_of(m, "a")
        unit = m["aunit"] or ""
        name = UNITS[unit][0] if unit in UNITS else ""  # 第二轮 → "2nd round"
        english = f"{_ordinal(int(low))} {name}".strip()
        return Quantity(start, end, text[start:end], "ordinal", low, unit=unit, english=english)
    high, end, more = None, _end_of(m, "a"), m["amore"] or m["amore2"] or ""
    if m["sep"]:
        b, unit_b = _side(m, "b")
        same_script = b is not None and m["bnum"][0].isdigit() == arabic
        clash = bool(m["aunit"] and unit_b and m["aunit"] != unit_b)
        if same_script and not clash and not more:
            high, end = b, _end_of(m, "b")
            if not m["ascale"] and m["bscale"]:
                low *= SCALES[m["bscale"]]
            unit = unit or unit_b
            more = m["bmore"] or m["bmore2"] or ""
    after = ""
    if m["after"] and end == m.start("after"):
        after, end = m["after"], m.end("after")
    before = m["before"] or ""
    if before == "百分之":
        unit = "%"
    kind = "percent" if unit == "%" else "points" if "百分点" in unit else "number"
    approx = _APPROX.get(before) or _APPROX.get(more) or _APPROX.get(after, "")
    english = _say(low, high, unit, kind)
    if kind == "number" and not unit and not m["ascale"] and high is None:
        english = _plain(low)  # a bare figure may be a name (the 12345 hotline): as written
    if approx:
        english = f"{approx} {english}"
    return Quantity(start, end, text[start:end], kind, low, high, unit, approx, english)


def to_english(text: str) -> str:
    """``text`` (a short span such as ``93.8亿元，增长5.4%``) with each figure in English."""
    out, last = [], 0
    for q in quantities(text):
        out.append(text[last : q.start])
        out.append(q.english)
        last = q.end
    out.append(text[last:])
    return "".join(out)


_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_YEAR_DIGITS = re.compile(r"(?:19|20)\d\d")
_COUNTED = re.compile(r"[%\u3400-\u9fff]")  # what follows a count, not a year ("2019家")
# A share in words answers "how many" too: 三分之二, 一半以上, 半数, 过半.
_FRACTION = re.compile(r"[\d一二三四五六七八九十百千]+分之[\d一二三四五六七八九十]+|一半|半数|过半")
# A figure that names rather than counts: inside a short quotation or title (the “12·20”
# landslide, the “1+5” system, 《2035年远景目标纲要》) or numbering a thing (8号线, 玉函路45号,
# 5号种子, 〔2017〕80号).
_NAMING_FIGURE = re.compile(
    r"“[^“”]{1,12}”|「[^「」]{1,12}」|《[^《》]{1,12}》|\"[^\"]{1,12}\"|\d+号(?!召)"
)


def blank_names(text: str) -> str:
    """``text`` with each figure that names something (:data:`_NAMING_FIGURE`) blanked out,
    positions kept: it answers no "how many"."""
    return _NAMING_FIGURE.sub(lambda m: "_" * len(m.group()), text)


def has_figure(text: str, named: frozenset[str] = frozenset()) -> bool:
    """Whether ``text`` states a figure the question did not name: digits ("3.2 million",
    "73轮"), Chinese numerals with a unit ("两个校区", "四所") or a share (三分之二, 一半).
    A year or a date dates a sentence and "一批", "一个" are articles: none of them
    answers "how many", nor does a figure in a name (:func:`blank_names`)."""
    text = blank_names(text)
    if _FRACTION.search(text):
        return True
    found = quantities(text)
    dated = [(q.start, q.end) for q in found if q.kind in ("year", "date")]
    for m in _DIGITS.finditer(text):
        if m.group() in named or any(a <= m.start() < b for a, b in dated):
            continue
        if not _YEAR_DIGITS.fullmatch(m.group()) or _COUNTED.match(text, m.end()):
            return True  # not a year written without 年 ("in 2019 the…")
    return any(
        q.kind not in ("year", "date") and not _DIGITS.search(q.text)
        and not (q.low == 1 and not q.approx and q.kind == "number")
        for q in found
    )
