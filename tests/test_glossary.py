"""The bilingual glossary: real CC-CEDICT against a small Chinese text."""

from __future__ import annotations

import pytest

from rag.answering import TermWeights, question_terms
from rag.glossary import Glossary, english_stems, load_glossary

TEXT = (
    "京东派出所被评为全国优秀公安基层单位。"
    "配合做好了南昌轨道交通融资用地。桃湖垃圾中转站设备升级。"
)


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return load_glossary(lambda word: word in TEXT)


def _forms(glossary: Glossary, question: str) -> dict[str, frozenset[str]]:
    return {c.word: c.forms for c in glossary.concepts(question)}


def test_stems_drop_function_words_and_inflections() -> None:
    assert english_stems("How many police stations were there?") == ["polic", "station"]


def test_english_words_map_to_words_the_text_contains(glossary: Glossary) -> None:
    forms = _forms(glossary, "Which police station was honoured?")
    assert "派出所" in forms["polic"] and "派出所" in forms["station"]
    assert "垃圾" in _forms(glossary, "Where is the garbage station?")["garbag"]
    assert all(form in TEXT for found in forms.values() for form in found)


def test_a_word_the_text_never_uses_is_an_absent_concept(glossary: Glossary) -> None:
    assert _forms(glossary, "How many hospitals are there?") == {"hospit": frozenset()}


def test_romanised_names_are_spelt_back_in_chinese(glossary: Glossary) -> None:
    assert _forms(glossary, "What land near Nanchang was transferred?")["nanchang"] == {"南昌"}
    assert _forms(glossary, "What happened in Taohu?")["taohu"] == {"桃湖"}
    # Pinyin, but no such name in the text: the name is absent.
    assert _forms(glossary, "What happened in Xiamen?")["xiamen"] == frozenset()
    # Not pinyin at all: says nothing.
    assert "covid" not in _forms(glossary, "How was COVID handled?")


def test_acronyms_in_glosses_are_words_too() -> None:
    text = "全年地区生产总值完成93.8亿元。"
    glossary = load_glossary(lambda word: word in text)
    assert "生产总值" in _forms(glossary, "What was the GDP?")["gdp"]
    # An English word inside a Chinese question is translated too; the Chinese is not.
    sentences = [text, "全镇新增企业1635户。"]
    terms = question_terms("全镇GDP是多少？", TermWeights(sentences), glossary)
    assert any("生产总值" in t.forms for t in terms)
    bigrams = question_terms("全镇GDP是多少？", TermWeights(sentences))  # no glossary
    assert set(bigrams) < set(terms) and all(t.forms != ("GDP",) for t in terms)


def test_a_word_the_dictionary_translates_is_not_read_as_pinyin() -> None:
    text = "中国经济增长。整治吃拿卡要。推进旧城改造和新城建设。"
    glossary = load_glossary(lambda word: word in text)
    # China is a dictionary word (中国), not the syllables chi + na (吃拿).
    china = _forms(glossary, "How fast did China grow?")["china"]
    assert "中国" in china and "吃拿" not in china
    # "old; opposite: new" names an antonym: 旧 is no translation of "new".
    new = _forms(glossary, "What is new in town?")["new"]
    assert "新" in new and "旧" not in new


def test_the_base_of_an_x_hua_word_shares_its_english() -> None:
    # 城镇化 is "urbanization" (stem "urban"); without 化 it is what "urban" asks for.
    text = "城镇新增就业1351万人。"
    glossary = load_glossary(lambda word: word in text)
    assert "城镇" in _forms(glossary, "How many new urban jobs were created?")["urban"]


def test_british_spellings_find_the_dictionarys_american_glosses() -> None:
    """CC-CEDICT glosses in American spelling; a British question found nothing, and a
    known word with no translation ("programme", "defence") read as an absent topic."""
    text = "国防支出增长8.1%。新建光纤网络。劳动者权益保障。"
    glossary = load_glossary(lambda word: word in text)
    for british, american in [("defence", "defense"), ("fibre", "fiber"), ("labour", "labor")]:
        forms = _forms(glossary, f"What about {british}?")
        assert forms == _forms(glossary, f"What about {american}?")
        assert any(found for found in forms.values()), british
    assert english_stems("the organised programmes") == english_stems("organized programs")


def test_a_noun_finds_the_words_its_verb_translates() -> None:
    """CC-CEDICT glosses 整改 "to rectify" and 消费 "to consume"; the nouns stem to other
    stems ("rectif", "consumpt") and read as topics the text never mentions."""
    text = "整改各类安全隐患8031项,整改率为99.8%。促进居民消费。"
    glossary = load_glossary(lambda word: word in text)
    assert _forms(glossary, "What was the rectification rate?")["rectif"] == {"整改"}
    assert "消费" in _forms(glossary, "Did consumption grow?")["consumpt"]
    assert _forms(glossary, "How many hospitals are there?") == {"hospit": frozenset()}


def test_an_english_word_of_many_senses_weighs_less_than_its_commonest_sense() -> None:
    sentences = [
        "全镇新建一所学校。",
        "推进医院改造。",
        "加强河道整治。",
        "计划投资3亿元。",
        "按照总体规划推进。",
        "制定实施方案。",
    ]
    weights = TermWeights(sentences)
    glossary = load_glossary(lambda word: weights.df_of(word) > 0)
    (plan,) = question_terms("What is the plan?", weights, glossary)
    assert {"计划", "总体规划", "规划", "方案"} <= set(plan.forms)
    # Its words' sentences summed (总体规划's counts twice, with 规划's); no lone character.
    assert plan.weight == pytest.approx(weights.idf(4))
    (school,) = question_terms("Which school?", weights, glossary)
    assert school.weight == pytest.approx(weights.idf(1))  # one sense: its own rarity
    # Inside a Chinese question an English word is one abbreviation: its commonest form
    # (划, in two sentences) sets its weight.
    (plan_zh,) = [t for t in question_terms("镇里的plan是什么？", weights, glossary)
                  if "计划" in t.forms]
    assert plan_zh.weight == pytest.approx(weights.idf(2))
    assert plan_zh.weight > plan.weight


def test_a_four_character_word_is_found_by_its_two_character_short_form() -> None:
    """自由贸易 ("free trade") is written 自贸 in 自贸试验区, as 社会保障 is 社保."""
    text = "在上海等省市设立11个自贸试验区。"
    forms = _forms(load_glossary(lambda word: word in text), "How many free trade zones?")
    assert "自贸" in forms["free"] and "自贸" in forms["trade"]
