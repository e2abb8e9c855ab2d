"""English leads for Chinese quotes: converted figures and real CC-CEDICT glosses."""

from __future__ import annotations

import pytest

from rag.english import gloss, key_terms, pinyin, render_english, section_english, segment
from rag.glossary import Glossary, english_of, load_glossary
from rag.short_answer import pick_span

COVID = "全年开展73轮全员核酸检测,累计检测714万人次,圆满完成各项防控任务。"
GDP = "全年地区生产总值完成93.8亿元,增长5.4%;"
DROWNING = "开展高频次巡查,全年未发生一例溺水事故,全力守护百姓安宁。"


@pytest.fixture(scope="module")
def glossary(seed_text: str) -> Glossary:
    return load_glossary(lambda word: word in seed_text)


def test_dictionary_lookup() -> None:
    assert english_of("派出所") == "local police station"
    assert english_of("核酸") == "nucleic acid"
    assert english_of("累计") == "cumulative"  # a short gloss, not "to calculate the running total"
    assert english_of("收入") == "income"  # a noun's gloss before a verb's
    assert english_of("工作") == "work"  # the sense "to work" and "work" share, not "job"
    assert english_of("重点") == "important point"  # zhong4dian3, not chong2dian3 "to recount"
    assert english_of("江西") == "Jiangxi"  # not "Jiangxi province in southeast China"
    assert english_of("不是一个词") is None


def test_segment_keeps_names_the_dictionary_lacks() -> None:
    words = segment("京东派出所被评为全国优秀公安基层单位")
    assert [w.chinese for w in words][:2] == ["京东", "派出所"]
    assert all(w.english for w in words if w.chinese in ("派出所", "优秀", "单位"))


def test_what_a_figure_measures_is_cut_between_words(glossary: Glossary) -> None:
    sentence = "扎实推进全镇23个区重大重点项目建设，动员300余名党员志愿者下沉一线。"
    question = "How many projects will the town push forward?"
    lead = render_english(question, sentence, "", None, glossary)
    assert lead.startswith("23 (区重大重点项目: ")  # not 重点项, glossed "back of neck"
    assert "neck" not in lead
    assert "(党员志愿者下沉: " in lead


def test_the_asked_figure_leads_in_english(glossary: Glossary) -> None:
    question = "How many tests were carried out in total?"
    lead = render_english(
        question, COVID, "二、疫情防控", pick_span(question, COVID, glossary), glossary
    )
    first, *rest = lead.splitlines()
    assert first.startswith("7.14 million person-times (累计检测: cumulative")
    assert any(line.startswith("Other figures quoted: 73 rounds (全员核酸检测:") for line in rest)
    assert "nucleic acid" in lead
    assert rest[-1] == "Section: 疫情防控 (epidemic situation · prevent and control)."
    assert "万人 " not in lead  # a figure's characters are never glossed as a word


def test_rounds_question(glossary: Glossary) -> None:
    question = "How many rounds of COVID testing were carried out?"
    lead = render_english(question, COVID, "", None, glossary)
    assert lead.startswith("73 rounds (全员核酸检测: all personnel · nucleic acid · detection).")
    assert "7.14 million person-times" in lead


def test_two_figures_and_their_attribute(glossary: Glossary) -> None:
    question = "What was the town's GDP, and by what percentage did it grow?"
    lead = render_english(question, GDP, "", None, glossary)
    assert lead.splitlines()[0] == (
        "9.38 billion yuan (全年地区生产总值完成: local · gross domestic production); "
        "5.4% (增长: grow)."
    )


def test_without_a_span_every_figure_is_listed(glossary: Glossary) -> None:
    lead = render_english("How is the town doing?", COVID, "", None, glossary)
    assert lead.startswith("Figures quoted: 73 rounds")
    assert "7.14 million person-times" in lead.splitlines()[0]


def test_a_span_given_as_offsets() -> None:
    start = COVID.index("714")
    lead = render_english("Total tests?", COVID, "", (start, start + len("714万人次")))
    assert lead.startswith("7.14 million person-times")


def test_yes_no_says_no_when_the_quote_negates(glossary: Glossary) -> None:
    question = "Did any drowning accidents happen last year?"
    lead = render_english(question, DROWNING, "", None, glossary)
    assert lead.startswith("No: 未发生一例溺水事故 (")
    assert "not · happen" in lead and "drown" in lead


def test_key_terms_put_the_question_words_first(glossary: Glossary) -> None:
    terms = key_terms(COVID, "How many nucleic acid tests?", glossary)
    assert "核酸" in [t.chinese for t in terms][:3]
    assert len(terms) <= 6


def test_names_are_read_aloud_as_well_as_glossed(glossary: Glossary) -> None:
    assert pinyin("高兴村、月坊村") == "Gaoxing Cun, Yue Fang Cun"
    sentence = "京东派出所被评为全国优秀公安基层单位。"
    question = "Which police station was named a national outstanding grassroots unit?"
    lead = render_english(question, sentence, "", None, glossary)
    assert lead.startswith("京东派出所 (Jingdong Paichusuo; Jingdong · local police station).")


def test_section_names_are_glossed_without_numbering() -> None:
    assert section_english("一、2022年工作回顾 > 二是疫情防控").startswith("2022年工作回顾 (2022 ")
    assert section_english("").strip() == ""
    assert gloss("疫情防控") == "epidemic situation · prevent and control"
