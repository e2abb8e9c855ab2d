"""The learned answer scorer: shipped weights, clear errors, and its decisions on real reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.answering import TermWeights, defines, question_terms, score_sentences
from rag.features import FEATURE_NAMES, candidate_features
from rag.glossary import load_glossary
from rag.question import asked_definition
from rag.scorer import (
    MANIFEST_FILE,
    WEIGHTS_FILE,
    ScorerFileError,
    file_sha256,
    load_scorer,
)
from rag.types import SentenceRecord


def test_shipped_weights_load_offline_and_match_the_training_manifest() -> None:
    scorer = load_scorer()
    manifest = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    assert file_sha256(WEIGHTS_FILE) == manifest["weights_sha256"]
    assert tuple(manifest["feature_names"]) == scorer.names == FEATURE_NAMES
    assert manifest["threshold"] == pytest.approx(scorer.threshold)
    assert all(len(d["sha256"]) == 64 for d in manifest["data"])
    assert manifest["positives"] > 0 and manifest["candidates"] > manifest["positives"]


@pytest.mark.parametrize(
    "content",
    [
        None,  # missing
        "{not json",
        '{"format": 1, "feature_names": ["dense"], "mean": [0], "scale": [1], '
        '"weights": [1], "bias": 0, "threshold": 0.5}',
    ],
)
def test_a_bad_weights_file_names_itself_and_make_train(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "scorer.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ScorerFileError) as info:
        load_scorer(path)
    message = str(info.value)
    assert str(path) in message and "make train" in message
    assert "\n" not in message


def test_a_truncated_copy_of_the_shipped_weights_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scorer.json"
    path.write_bytes(WEIGHTS_FILE.read_bytes()[:200])
    with pytest.raises(ScorerFileError, match="make train"):
        load_scorer(path)


def _record(text: str, n: int) -> SentenceRecord:
    return SentenceRecord("doc.txt", "一、工作回顾", n * 100, n * 100 + len(text), n + 1, text)


def test_attribute_words_count_more_than_the_shared_topic() -> None:
    """Every candidate names the topic; only one states the asked attribute."""
    texts = [
        "京东镇樱花园每年三月樱花盛开，游客众多。",
        "京东镇樱花园的樱花以粉白色为主。",
        "京东镇樱花园位于镇区东部，占地200亩。",
    ]
    records = [_record(t, n) for n, t in enumerate(texts)]
    question = "京东镇樱花园的樱花是什么颜色？"
    terms = question_terms(question, TermWeights(texts))
    kept, rows = candidate_features(
        question, np.array([0.85, 0.84, 0.85]), [0, 1, 2], {0: 0, 1: 0, 2: 0},
        {0: 0.0, 1: 0.5, 2: 1.0}, records, terms, None,
    )
    attribute = rows[:, FEATURE_NAMES.index("attribute")]
    assert kept == [0, 1, 2]
    assert int(np.argmax(attribute)) == 1


def test_a_bigram_of_a_question_word_no_sentence_has_is_no_topic() -> None:
    """"概多" and "速怎" only straddle 大概多少 and 增速怎样; 多元 is a word the report uses."""
    texts = ["全年实现地区生产总值260亿元，增长5.5%。", "推动产业多元发展。"]
    grams = {t.forms[0] for t in question_terms("生产总值大概多少，增速怎样？", TermWeights(texts))}
    assert {"生产", "总值", "大概", "增速"} <= grams
    assert not grams & {"概多", "速怎"}
    assert "多元" in {t.forms[0] for t in question_terms("产业多元发展了吗？", TermWeights(texts))}


@pytest.mark.parametrize("question", ["How much did the bridge cost?", "大桥花了多少钱？"])
def test_a_money_question_wants_an_amount_in_yuan_at_any_scale(question: str) -> None:
    """Naming the bridge is no answer to its cost; 93.8亿元 is one, 万元 or 元 too."""
    texts = ["完善大桥的运营管理和机制安排。", "大桥总投资93.8亿元，全长55公里。"]
    records = [_record(t, n) for n, t in enumerate(texts)]
    glossary = load_glossary(lambda word: any(word in t for t in texts))  # bridge → 大桥
    _, rows = candidate_features(
        question, np.array([0.86, 0.84]), [0, 1], {0: 0, 1: 0}, {0: 0.0, 1: 0.5},
        records, question_terms(question, TermWeights(texts), glossary), None,
    )
    assert rows[:, FEATURE_NAMES.index("unit")].tolist() == [0.0, 1.0]


def test_a_figure_in_the_asked_unit_counts_only_on_the_asked_topic() -> None:
    """"改造危桥3座" has the asked measure word but nothing of the sewage plants asked."""
    texts = ["全年新修农村公路12公里，改造危桥3座。", "全年新建污水处理厂2座。"]
    records = [_record(t, n) for n, t in enumerate(texts)]
    question = "新建了几座污水处理厂？"
    _, rows = candidate_features(
        question, np.array([0.86, 0.84]), [0, 1], {0: 0, 1: 0}, {0: 0.0, 1: 0.5},
        records, question_terms(question, TermWeights(texts)), None,
    )
    for name in ("quantity", "measure", "unit"):
        assert rows[:, FEATURE_NAMES.index(name)].tolist() == [0.0, 1.0], name


def test_a_question_asking_what_something_is_prefers_the_sentence_defining_it() -> None:
    assert asked_definition("什么是三小场所？") == asked_definition("“三小场所”是什么意思？")
    assert asked_definition("三小场所的数量是多少？") is None  # asks a figure of it
    texts = ["全面开展三小场所消防隐患排查，整治三小场所1200家。",
             "28.三小场所：小档口、小作坊、小娱乐场所。"]
    assert [defines(t, "三小场所") for t in texts] == [False, True]
    assert defines("在数学中，约化群是幂单根为平凡群的代数群", "约化群")
    assert defines("暴发户（），也称为新贵，指一个人在短时间内就取得了可观的财富。", "暴发户")
    records = [_record(t, n) for n, t in enumerate(texts)]
    question = "什么是三小场所？"
    ranked = score_sentences(
        question, np.array([0.80, 0.80]), [0, 1], {0: 0, 1: 0}, records,
        question_terms(question, TermWeights(texts)),
    )
    assert ranked[0].sentence == 1


@pytest.mark.parametrize("question", ["百老汇剧院是因何得名的？", "Why is it called Broadway?"])
def test_a_question_asking_why_prefers_the_sentence_giving_a_reason(question: str) -> None:
    """As near on every other count, the sentence saying 因为…故 answers "why"."""
    texts = ["百老汇以演出音乐剧著名，和伦敦的西区剧院同为最著名的剧院区域。",
             "因为剧院大多数皆在百老汇街道附近，故被统称为百老汇剧院。"]
    records = [_record(t, n) for n, t in enumerate(texts)]
    ranked = score_sentences(
        question, np.array([0.80, 0.79]), [0, 1], {0: 0, 1: 0}, records,
        question_terms(question, TermWeights(texts)),
    )
    assert ranked[0].sentence == 1

@pytest.mark.parametrize(
    ("question", "texts"),
    [
        ("天门冬分布在哪些地区？",  # a list is asked: the sentence listing places answers
         ["天门冬分布于华中及长江流域的山坡。",
          "天门冬分布于老挝、朝鲜、越南、日本以及河北、海南等地。"]),
        ("浮龙化石是什么时候发现的？",  # a year answers "when" as a full date does
         ["浮龙属是沧龙科的一属，化石发现于加州费雷斯诺县。",
          "种名以Allan Bennison为名，他在1937年发现浮龙的化石。"]),
    ],
)
def test_a_question_asking_a_list_or_a_time_prefers_the_sentence_giving_one(
    question: str, texts: list[str]
) -> None:
    records = [_record(t, n) for n, t in enumerate(texts)]
    ranked = score_sentences(
        question, np.array([0.80, 0.79]), [0, 1], {0: 0, 1: 0}, records,
        question_terms(question, TermWeights(texts)),
    )
    assert ranked[0].sentence == 1

def test_the_date_of_the_report_is_on_topic_for_a_question_about_the_report() -> None:
    """The sign-off's date shares no word with "On what date was this report issued?", yet
    it is what was asked; a date in the body answers only a question on its topic."""
    texts = ["2022年1月5日", "2021年3月1日起施行新条例。"]
    records = [_record(t, n) for n, t in enumerate(texts)]
    for question, expected in [
        ("On what date was this report issued?", [1.0, 1.0]),
        ("新条例什么时候施行？", [0.0, 1.0]),
    ]:
        glossary = load_glossary(lambda word: any(word in t for t in texts))
        _, rows = candidate_features(
            question, np.array([0.80, 0.78]), [0, 1], {0: 0, 1: 0}, {0: 0.0, 1: 0.0},
            records, question_terms(question, TermWeights(texts), glossary), None,
        )
        assert rows[:, FEATURE_NAMES.index("date")].tolist() == expected, question


@pytest.fixture(scope="module")
def hailar(hailar_settings, embeddings):  # noqa: ANN001, ANN201
    """The corpus report answered by the learned scorer."""
    from rag.pipeline import Pipeline

    return Pipeline(hailar_settings.override(scorer="learned"), embeddings=embeddings)


@pytest.fixture(scope="module")
def learned(pipeline, embeddings):  # noqa: ANN001, ANN201
    """The seed pipeline's index, answered by the learned scorer (RAG_ANSWER_SCORER=learned)."""
    from rag.pipeline import Pipeline

    return Pipeline(pipeline.settings.override(scorer="learned"), embeddings=embeddings)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("今年地区生产总值预期增长多少？", "地区生产总值增长20%"),
        ("去年全区地区生产总值增长了多少？", "235.2亿元"),
        ("What is the GDP growth target for 2013?", "地区生产总值增长20%"),
        ("How much did the district's GDP grow last year?", "235.2亿元"),
    ],
)
def test_this_years_target_and_last_years_result_cite_their_own_sentence(
    hailar, question: str, expected: str  # noqa: ANN001
) -> None:
    answer = hailar.query(question)
    assert not answer.abstained, answer.text
    assert expected in answer.citations[0].quote, answer.citations[0].quote


def test_a_year_the_report_does_not_give_abstains(learned) -> None:  # noqa: ANN001
    """A named year must be in the sentence or be its section's time: no candidate is.
    (The learned scorer abstains on only about a fifth of the reports' unanswerables held
    out; the default decision's abstentions are tested in test_abstention.py.)"""
    answer = learned.query("2021年京东镇的地区生产总值是多少亿元？")
    assert answer.abstained, answer.text


def test_the_sentence_that_answers_is_cited_first(learned) -> None:  # noqa: ANN001
    retrieval = learned.retrieve("全年开展了多少轮全员核酸检测？累计检测多少人次？")
    scores = [c.score for c in retrieval.answer.citations]
    assert not retrieval.answer.abstained
    assert scores == sorted(scores, reverse=True)
    assert "73轮" in retrieval.answer.citations[0].quote


def test_an_english_qualifier_finds_the_chinese_word_the_dictionary_lacks() -> None:
    """"per day" is written 日均 too: the sentence saying it ranks above one that does not."""
    texts = ["五年来，行政审批事项削减44%，企业投资项目减少90%。",
             "日均新设企业由5千多户增加到1万6千多户。"]
    question = "How many new businesses were set up per day?"
    glossary = load_glossary(lambda word: any(word in t for t in texts))
    terms = question_terms(question, TermWeights(texts), glossary)
    assert any("日均" in t.forms for t in terms)
    records = [_record(t, n) for n, t in enumerate(texts)]
    ranked = score_sentences(
        question, np.array([0.80, 0.79]), [0, 1], {0: 0, 1: 0}, records, terms
    )
    assert ranked[0].sentence == 1
