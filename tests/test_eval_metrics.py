"""Arithmetic of rag.eval_metrics on a tiny hand-made result set with a known answer key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rag.eval_metrics import (
    QuestionResult,
    answer_correct,
    citation_hit,
    fact_present,
    gold_in,
    gold_rank,
    normalize_for_match,
    percentile,
    summarize,
)

GOLD_DIGITAL = "新增数字经济企业128 家,总数达305 家"
GOLD_COVID = "全年开展73轮全员核酸检测"
GOLD_GDP = "全年地区生产总值完成93.8亿元"
GOLD_SAFETY = "全年重点检查生产企业67家"
OTHER = "社会稳定持续向好。有力有效做好信访维稳工作。"


def _r(**kw: object) -> QuestionResult:
    base: dict[str, object] = {
        "question": "q",
        "retrieved": [],
        "first_quote": None,
        "answer_text": "",
        "abstained": False,
        "correct": False,
        "gold": None,
        "expected": [],
    }
    base.update(kw)
    return QuestionResult(**base)  # type: ignore[arg-type]


def _results() -> list[QuestionResult]:
    # q1: zh, hit at rank 1, answer without the source's spaces and with a full-width comma.
    a1 = "新增数字经济企业128家，总数达305家"
    q1 = _r(
        id="q1",
        lang="zh",
        kind="two-part",
        answerable=True,
        retrieved=["数字经济稳步提升。全年,我镇" + GOLD_DIGITAL + "。", OTHER],
        first_quote=GOLD_DIGITAL,
        answer_text=a1,
        correct=answer_correct(a1, [["128"], ["305"]]),
        latency_s=1.0,
        gold=GOLD_DIGITAL,
        expected=[["128"], ["305"]],
    )
    # q2: en, gold at rank 2 (MRR 0.5), answer and quote use full-width digits.
    a2 = "全年开展７３轮全员核酸检测"
    q2 = _r(
        id="q2",
        lang="en",
        kind="number",
        answerable=True,
        retrieved=[OTHER, "疫情防控科学精准。" + GOLD_COVID + ",累计检测714万人次。"],
        first_quote="全年开展７３轮全员核酸检测，累计检测714万人次",
        answer_text=a2,
        correct=answer_correct(a2, [["73"]]),
        latency_s=2.0,
        gold=GOLD_COVID,
        expected=[["73"]],
    )
    # q3: zh, gold at rank 3, wrong fact in the answer, quote too short to count.
    a3 = "增长5.4%"
    q3 = _r(
        id="q3",
        lang="zh",
        kind="number",
        answerable=True,
        retrieved=[OTHER, OTHER, GOLD_GDP + ",增长5.4%"],
        first_quote="增长5.4%",
        answer_text=a3,
        correct=answer_correct(a3, [["93.8亿元", "93.8"]]),
        latency_s=3.0,
        gold=GOLD_GDP,
        expected=[["93.8亿元", "93.8"]],
    )
    # q4: en, answerable but the system abstained and retrieval missed the gold.
    q4 = _r(
        id="q4",
        lang="en",
        kind="number",
        answerable=True,
        retrieved=[OTHER],
        abstained=True,
        latency_s=4.0,
        gold=GOLD_SAFETY,
        expected=[["67家"]],
    )
    # q5: zh, unanswerable and correctly abstained.
    q5 = _r(
        id="q5",
        lang="zh",
        kind="unanswerable",
        answerable=False,
        retrieved=[OTHER],
        abstained=True,
        latency_s=5.0,
    )
    # q6: en, unanswerable but answered anyway.
    q6 = _r(
        id="q6",
        lang="en",
        kind="unanswerable",
        answerable=False,
        retrieved=[OTHER],
        first_quote=OTHER,
        answer_text="Paris",
        latency_s=10.0,
    )
    return [q1, q2, q3, q4, q5, q6]


def test_normalize_numbers_and_spaces() -> None:
    assert normalize_for_match("128 家") == normalize_for_match("128家") == "128家"
    assert normalize_for_match("７３轮") == "73轮"
    assert normalize_for_match("５０％") == "50%"
    assert normalize_for_match("1,234,567元") == "1234567元"
    assert normalize_for_match("1，234") == "1234"  # full-width comma folds first
    assert normalize_for_match("12,34") == "12,34"  # not a thousands group
    assert normalize_for_match("4, 123") == "4,123"  # a list stays a list
    assert normalize_for_match("ABC Park") == "abcpark"


def test_fact_and_answer_matching() -> None:
    assert fact_present("新增数字经济企业128家", ["128"])
    assert fact_present("全年开展７３轮", ["73"])
    assert not fact_present("全年开展73轮", ["714万"])
    assert not fact_present("anything", ["", "  "])  # empty spellings never match
    assert answer_correct("93.8亿元,增长5.4%", [["93.8亿元", "93.8"], ["5.4%"]])
    assert not answer_correct("93.8亿元", [["93.8亿元"], ["5.4%"]])
    assert not answer_correct("whatever", [])  # unanswerables are scored by abstention


def test_gold_and_citation_helpers() -> None:
    assert gold_in("……全年,我镇新增数字经济企业128家，总数达305家。", GOLD_DIGITAL)
    assert not gold_in(None, GOLD_DIGITAL)
    assert not gold_in("text", None)
    assert gold_rank([OTHER, GOLD_COVID], GOLD_COVID) == 2
    assert gold_rank([OTHER], GOLD_COVID) is None
    assert citation_hit("全年重点检查生产企业", GOLD_SAFETY)  # >= 8 chars inside gold
    assert not citation_hit("企业67家", GOLD_SAFETY)  # too short to count
    assert not citation_hit(None, GOLD_SAFETY)


def test_percentile_linear() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 10.0], 50) == pytest.approx(3.5)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 10.0], 95) == pytest.approx(8.75)
    assert percentile([], 50) is None


def test_summarize_overall() -> None:
    s = summarize(_results())
    assert (s["n"], s["n_answerable"], s["n_unanswerable"]) == (6, 4, 2)
    assert s["hit@1"] == pytest.approx(0.25)
    assert s["hit@5"] == pytest.approx(0.75)
    assert s["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)
    assert s["citation@1"] == pytest.approx(0.5)
    assert s["accuracy"] == pytest.approx(0.5)
    assert s["false_abstention_rate"] == pytest.approx(0.25)
    assert s["abstention_rate"] == pytest.approx(0.5)
    assert s["latency_p50_s"] == pytest.approx(3.5)
    assert s["latency_p95_s"] == pytest.approx(8.75)


def test_summarize_breakdowns() -> None:
    s = summarize(_results())
    zh, en = s["by_lang"]["zh"], s["by_lang"]["en"]
    assert (zh["n_answerable"], zh["n_unanswerable"]) == (2, 1)
    assert zh["hit@1"] == pytest.approx(0.5)
    assert zh["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert zh["accuracy"] == pytest.approx(0.5)
    assert zh["abstention_rate"] == pytest.approx(1.0)
    assert en["hit@5"] == pytest.approx(0.5)
    assert en["mrr"] == pytest.approx(0.25)
    assert en["false_abstention_rate"] == pytest.approx(0.5)
    assert en["abstention_rate"] == pytest.approx(0.0)
    unans = s["by_kind"]["unanswerable"]
    assert unans["hit@1"] is None and unans["accuracy"] is None  # no answerables: undefined
    assert unans["abstention_rate"] == pytest.approx(0.5)
    assert s["by_kind"]["two-part"]["accuracy"] == pytest.approx(1.0)


def test_summarize_failures() -> None:
    fails = {f["id"]: f for f in summarize(_results())["failures"]}
    assert set(fails) == {"q3", "q4", "q6"}
    assert fails["q3"]["reasons"] == ["wrong answer", "citation miss"]
    assert fails["q3"]["got"] == "增长5.4%"
    assert fails["q3"]["expected"] == [["93.8亿元", "93.8"]]
    assert fails["q3"]["cited_quote"] == "增长5.4%"
    assert fails["q4"]["reasons"] == ["false abstention", "citation miss"]
    assert fails["q6"]["reasons"] == ["answered unanswerable"]
    assert fails["q6"]["got"] == "Paris"


def test_summarize_by_document_and_first_citation_file() -> None:
    assert "by_doc" not in summarize(_results())  # single-document sets: no such table
    assert summarize(_results())["doc@1"] is None
    docs = ["a.txt", "a.txt", "b.txt", "b.txt", "a.txt", "b.txt"]
    cited = ["a.txt", "b.txt", "b.txt", None, None, None]
    results = [
        replace(r, doc=d, cited_source=c) for r, d, c in zip(_results(), docs, cited, strict=True)
    ]
    s = summarize(results)
    assert set(s["by_doc"]) == {"a.txt", "b.txt"}
    assert s["by_doc"]["a.txt"]["n"] == 3
    assert s["doc@1"] == pytest.approx(2 / 4)  # answerable q1..q4: right file for q1 and q3
    assert s["by_doc"]["b.txt"]["doc@1"] == pytest.approx(1 / 2)
