"""Proper names a question asks about that the documents never mention.

"上海2022年GDP增长多少？" asked of a town's report found the town's own GDP sentence, which
shares every word but the place, and answered with it. A report that never names 上海 says
nothing about Shanghai, whatever its sentences share with the question. The names are
CC-CEDICT's headwords that are only ever proper nouns (places, people, bodies: 上海,
加拿大, 珠穆朗玛峰), never a common word too (成功 is also "success") nor a language (英文).
An English question's names ("Shanghai", "Mount Everest") are read through the entries the
dictionary reads with a capital: 上海 [Shang4 hai3] /Shanghai municipality, …/.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rag.glossary import STOPWORDS, dictionary_lines

_ENTRY = re.compile(r"\S+ (?P<word>\S+) \[(?P<reading>[^\]]*)\] /(?P<glosses>.*)/\s*$")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]{2,8}")
_NOT_A_NAME = re.compile(r"\b(language|script|dialect|people|nationality|surname|given name)\b",
                         re.I)
# Question words go first: 胡充华为什么 holds 为什么, not the company 华为.
_QUESTION_WORDS = re.compile(r"为什么|什么|多少|哪些|哪个|哪里|怎么|如何|是否|谁")
_LONGEST = 8
# Capitalised words in a row, "of" or "de" between two: "Mount Everest", "Bank of China".
_ENGLISH_NAME = re.compile(r"\b[A-Z][A-Za-z'-]*(?:\s+(?:(?:of|de)\s+)?[A-Z][A-Za-z'-]*)*")
_OF = re.compile(r"\s+(?:of|de)\s+")
_POSSESSIVE = re.compile(r"'s\b|'(?!\w)")  # not Nan'ao's apostrophe
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|‘[^’]*’")  # a quoted title names nothing asked
_GLOSS_HEAD = re.compile(r"(?:the |The )?([A-Z][^,;(]*)")  # "Shanghai municipality, central…"
_READING = re.compile(r"[\u3400-\u9fff|]+\[[^\]]*\]")
_NOTE = re.compile(r"(?:Taiwan pr\.|also pr\.|CL:|see |variant of|old variant)")
_GLOSS_WORDS = re.compile(r"[^,;(]*")
_NAME_WORDS = 4  # "Shanghai Stock Exchange Composite Index" is named by its first words


@dataclass(frozen=True)
class _Dictionary:
    """What CC-CEDICT says about names, read once (≈1 s)."""

    chinese: frozenset[str]  # headwords only ever proper nouns: 上海, not 成功
    named: dict[str, set[str]]  # "shanghai" → the headwords a gloss opens with it for
    mentioned: dict[str, set[str]]  # "macao" → every headword a gloss names it in: 港澳
    spelled: dict[str, set[str]]  # "guangming" → a proper noun's first characters: 光明
    common: frozenset[str]  # headwords never read with a capital: 伤害 "to harm"
    english: frozenset[str]  # common words' one-word glosses: "three", "party"
    titles: frozenset[str]  # names a gloss gives alone: "china" (中国 /China/), not "party"


@functools.cache
def _dictionary() -> _Dictionary:
    proper: set[str] = set()
    improper: set[str] = set()
    capitalised: set[str] = set()
    common: set[str] = set()
    english: set[str] = set()
    titles: set[str] = set()
    named: dict[str, set[str]] = defaultdict(set)
    mentioned: dict[str, set[str]] = defaultdict(set)
    spelled: dict[str, set[str]] = defaultdict(set)
    for line in dictionary_lines():
        entry = _ENTRY.match(line)
        if entry is None:
            continue
        word, reading = entry["word"], entry["reading"]
        glosses = [g.strip() for g in entry["glosses"].split("/") if g.strip()]
        if not reading[:1].isupper():
            english.update(g for g in glosses if g.isalpha() and g.islower())  # 黄 "yellow"
        if not _CJK_WORD.fullmatch(word):
            continue
        if reading[:1].isupper():
            capitalised.add(word)
            for gloss in glosses:
                if _NOTE.match(gloss):
                    continue
                # 富士山 "Mt. Fuji"; 港澳 "Hong Kong 香港[Xiang1 gang3] and Macao 澳門|澳门[…]";
                # 人大 "(Chinese) National People's Congress (abbr. for …)"
                gloss = _READING.sub("", gloss.replace("Mt. ", "Mount "))
                gloss = re.sub(r"^\([^)]*\)\s*", "", gloss)
                head = _GLOSS_HEAD.match(gloss)
                words = head.group(1).split() if head else []
                for n in range(1, min(len(words), _NAME_WORDS) + 1):
                    named[" ".join(words[:n]).lower()].add(word)
                if len(words) == 1:
                    titles.add(words[0].lower())
                # Names in the gloss's own words, not its notes: 时代 "Time, US weekly…"
                # names no US.
                for name in _ENGLISH_NAME.findall(_GLOSS_WORDS.match(gloss).group()):
                    for part in _runs(name.replace("-", " ").split()):
                        mentioned[part.lower()].add(word)
            syllables = [re.sub(r"[\d:]", "", s).lower() for s in reading.split()]
            if len(syllables) == len(word):
                for n in range(2, len(word) + 1):
                    spelled["".join(syllables[:n])].add(word[:n])
        else:
            common.add(word)
        meanings = [
            g for g in glosses
            if not g.startswith(("(", "CL:", "see ", "variant of", "old variant"))
        ]
        if (
            meanings
            and reading[:1].isupper()
            and all(g[0].isupper() for g in meanings)
            and not _NOT_A_NAME.search(entry["glosses"])
        ):
            proper.add(word)
        else:
            improper.add(word)
    return _Dictionary(
        chinese=frozenset(proper - improper),
        named=dict(named),
        mentioned=dict(mentioned),
        spelled=dict(spelled),
        common=frozenset(common - capitalised),
        english=frozenset(english),
        titles=frozenset(titles),
    )


def _runs(words: list[str]) -> set[str]:
    """Every run of ``words``: "National People's Congress" is mentioned by its 人大 when
    a question asks about "Congress" or "People's Congress"."""
    return {
        " ".join(words[i:j])
        for i in range(len(words))
        for j in range(i + 1, min(len(words), i + _NAME_WORDS) + 1)
    }


def proper_names() -> frozenset[str]:
    """CC-CEDICT's Chinese headwords whose every entry is a proper noun (≈1 s, once)."""
    return _dictionary().chinese


def names_in(question: str) -> list[str]:
    """The proper names in a Chinese ``question``, longest first from the left."""
    names = proper_names()
    text = _QUESTION_WORDS.sub(" ", question)
    found, i = [], 0
    while i < len(text):
        for n in range(min(_LONGEST, len(text) - i), 1, -1):
            if text[i : i + n] in names:
                found.append(text[i : i + n])
                i += n
                break
        else:
            i += 1
    return found


def absent_names(question: str, texts: Iterable[str]) -> list[str]:
    """The proper names a Chinese ``question`` asks about that none of ``texts`` mentions."""
    texts = list(texts)
    return [name for name in names_in(question) if not any(name in t for t in texts)]


def english_names_in(question: str) -> list[str]:
    """The names in an English ``question``: its capitalised words after the first, or the
    first too when it is no common word ("Shanghai's GDP…"), outside quotation marks."""
    text = _POSSESSIVE.sub(",", _QUOTED.sub(" ", question))
    dictionary = _dictionary()
    found = []
    for match in _ENGLISH_NAME.finditer(text):
        words = match.group().split()
        first = words[0].lower()
        if text[: match.start()].strip(" \"'“‘(") == "" and (
            first in STOPWORDS or first in dictionary.english
        ):
            words = words[1:]
        name = " ".join(words)
        # "GDP of Germany" is no name as a whole, "Bank of China" is.
        for part in [name] if name.lower() in dictionary.named else _OF.split(name):
            if part and (named := _as_name(part, dictionary)):
                found.append(named)
    return found


def _as_name(words: str, dictionary: _Dictionary) -> str | None:
    """``words`` as the name of a place, a person or a body ("Berlin" of "the Berlin Wall");
    None for a thing common words name ("the Three Rural Issues", "the Spring Festival",
    "the Communist Party": a report calls it 党) or a people's adjective ("Chinese")."""
    *rest, last = words.split()
    if last.isupper():
        return words  # "US", "PRC"
    common = {last.lower(), last.lower().removesuffix("s")} & dictionary.english
    if common and last.lower() not in dictionary.titles:  # "Party", not "China"
        if len(rest) != 1 or rest[0].endswith(("ist", "ic", "al")):  # "Communist Party"
            return None
        return _as_name(rest[0], dictionary)
    adjective = last.endswith(("ese", "ish")) or (
        last.endswith("n") and last[:-1].lower() in dictionary.named  # Mongolia-n
    )
    return None if adjective and not rest else words


def absent_english_names(
    question: str, texts: Iterable[str], romanised: Callable[[str], Iterable[str] | None]
) -> list[str]:
    """The names an English ``question`` asks about that none of ``texts`` mentions.

    A name counts only where the dictionary translates it (Shanghai → 上海); it is
    mentioned when a text holds any headword whose gloss names it (Macao → 港澳, Russia →
    中俄), the first characters a proper noun spells it with
    (Guangming → 光明 of 光明日报), or characters spelling it that form no common word
    (``romanised``: Huangcheng → 黄城; not Shanghai → 伤害 "to harm")."""
    texts = list(texts)
    dictionary = _dictionary()
    absent = []
    for name in english_names_in(question):
        key = name.lower()
        if key not in dictionary.named:
            continue
        letters = re.sub(r"[\s'-]", "", key)
        forms = (
            dictionary.named[key]
            | dictionary.mentioned.get(key, set())
            | dictionary.spelled.get(letters, set())
        )
        if any(form in t for form in forms for t in texts):
            continue
        if any(w not in dictionary.common for w in romanised(letters) or ()):
            continue
        absent.append(name)
    return absent
