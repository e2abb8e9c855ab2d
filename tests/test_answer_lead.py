"""Short answer first, on real seed citations and through the real pipeline."""

from __future__ import annotations

import pytest

from rag.answer_lead import find_lead, lead_answer
from rag.glossary import Glossary, load_glossary
from rag.types import Answer, Citation

COVID = "全年开展73轮全员核酸检测,累计检测714万人次,圆满完成各项防控任务。"


@pytest.fixture(scope="module")
def glossary(seed_text: str) -> Glossary:
    return load_glossary(lambda word: word in seed_text)


def _cited(seed_text: str, quote: str, prefix: str = "") -> Answer:
    start = seed_text.index(quote)
    citation = Citation(quote, "seed.txt", "一、2022年工作回顾 > 疫情防控", 11, start,
                        start + len(quote), 0.9)  # fmt: skip
    return Answer(text=f"{prefix}{quote}[1]", citations=[citation])


def test_chinese_answers_open_with_the_exact_span(seed_text: str) -> None:
    answer = lead_answer("全年开展了多少轮全员核酸检测？", _cited(seed_text, COVID))
    assert answer.text == f"73轮\n{COVID}[1]"
    lead = find_lead("全年开展了多少轮全员核酸检测？", _cited(seed_text, COVID))
    assert lead is not None
    assert seed_text[lead.source_start : lead.source_end] == "73轮"


def test_english_answers_open_in_english(seed_text: str, glossary: Glossary) -> None:
    question = "How many tests were carried out in total?"
    prefix = "The report (in Chinese) says: "
    answer = lead_answer(question, _cited(seed_text, COVID, prefix), glossary)
    first, *rest = answer.text.splitlines()
    assert first.startswith("7.14 million person-times")
    assert rest[-1] == f"{prefix}{COVID}[1]"
    assert "Section: 2022年工作回顾 (2022" in answer.text


def test_abstentions_and_llm_answers_are_left_alone(seed_text: str) -> None:
    abstained = Answer("文档中没有找到这个问题的答案。", [], abstained=True)
    assert lead_answer("全镇有多少人口？", abstained) is abstained
    llm = Answer("全年开展73轮。[1]", _cited(seed_text, COVID).citations, checks={"kept": 1})
    assert lead_answer("全年开展了多少轮全员核酸检测？", llm) is llm


def test_the_readme_question_through_the_pipeline(pipeline) -> None:  # noqa: ANN001
    """The real index and scorer cite the COVID sentence; the answer opens with the lead,
    which converts its figures, and ends with the quote."""
    question = "How many rounds of COVID testing were carried out?"
    answer = pipeline.query(question)
    assert not answer.abstained and "73轮" in answer.citations[0].quote
    assert answer.text.splitlines()[0].startswith("73 rounds")
    assert "7.14 million person-times" in answer.text
    assert answer.text.endswith(f"{answer.citations[0].quote}[1]")
    chinese = pipeline.query("全年开展了多少轮全员核酸检测？")
    assert chinese.text.splitlines()[0] == "73轮"
