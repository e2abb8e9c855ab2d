"""Calibrated abstention: shipped weights, clear errors, training, and its decisions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.abstention import (
    INPUT_NAMES,
    MANIFEST_FILE,
    WEIGHTS_FILE,
    AbstentionFileError,
    anchors_figure,
    check_manifest,
    load_abstention,
)
from rag.config import Settings
from rag.numbers import has_figure
from rag.question import asks_date, content_bigrams, measure_words, qualifiers_asked
from rag.short_answer import names_asked_person
from rag.types import Term


def assert_answered_from(answer, quoted: str | None) -> None:  # noqa: ANN001
    """Abstained when ``quoted`` is None, else answered with it in the first citation."""
    if quoted is None:
        assert answer.abstained, answer.text
    else:
        assert not answer.abstained, answer.text
        assert quoted in answer.citations[0].quote, answer.citations[0].quote


def test_shipped_weights_load_offline_and_match_the_training_manifest() -> None:
    model = load_abstention()
    check_manifest()
    manifest = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    assert tuple(manifest["input_names"]) == INPUT_NAMES
    assert manifest["threshold"] == pytest.approx(model.threshold)
    assert all(len(d["sha256"]) == 64 for d in manifest["data"])
    assert Settings().answering.scorer == "calibrated"  # the default decision


@pytest.mark.parametrize(
    "content",
    [
        None,  # missing
        "{not json",
        '{"format": 99}',
        json.dumps({"format": 1, "input_names": ["dense"]}),  # another version's inputs
    ],
)
def test_a_bad_weights_file_names_itself_and_make_train(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "abstention.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(AbstentionFileError) as info:
        load_abstention(path)
    message = str(info.value)
    assert str(path) in message and "make train" in message and "\n" not in message


def test_a_changed_weights_file_fails_the_manifest_check(tmp_path: Path) -> None:
    path = tmp_path / "abstention.json"
    raw = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    raw["bias"] += 1.0
    path.write_text(json.dumps(raw), encoding="utf-8")
    load_abstention(path)  # well-formed …
    with pytest.raises(AbstentionFileError, match="checksum"):
        check_manifest(path)  # … but not what training wrote


def test_fitting_separates_answers_from_near_misses_and_round_trips(tmp_path: Path) -> None:
    """The trainer's own fit, held-out figures and writer on a small made-up set: a top
    candidate far ahead with the asked figure is an answer, a close one without it is not."""
    from evals.train_abstention import Part, Sample, decide, fit, lodo, write_weights

    rng = np.random.default_rng(0)
    lead, quantity = INPUT_NAMES.index("handset_lead"), INPUT_NAMES.index("quantity")

    def sample(n: int, group: str, answerable: bool) -> Sample:
        row = rng.normal(0, 0.1, len(INPUT_NAMES))
        row[lead] += 0.2 if answerable else 0.0
        row[quantity] = float(answerable)
        part = Part(["句子。"], [row.tolist()], [answerable])
        answers = [["1"]] if answerable else []
        return Sample(f"{group}{n}", group, "zh", "number", ["句子"], answers, [part],
                      {"first": "句子。", "text": "句子。", "abstained": False})

    samples = [sample(n, g, n % 3 != 0) for g in ("a", "b", "c") for n in range(30)]
    result = lodo(samples)
    held_out = result["table"]["reports all"]["calibrated"]
    assert held_out["false_abstentions"] <= 0.1 and held_out["unanswerable_abstained"] >= 0.9
    model = fit(samples, result["pooled_threshold"])
    write_weights(model, {}, tmp_path / "w.json", tmp_path / "m.json")
    loaded = load_abstention(tmp_path / "w.json")
    check_manifest(tmp_path / "w.json", tmp_path / "m.json")
    for s in samples:
        assert decide(loaded, s, loaded.threshold) == decide(model, s, model.threshold)


def test_a_sentence_without_a_figure_never_answers_how_many() -> None:
    """However much else speaks for it (here: every input far on the answering side)."""
    model = load_abstention()
    row = model.mean + 3 * model.scale * np.sign(model.weights)
    absent = INPUT_NAMES.index("figure_absent")
    row[absent] = 0.0
    assert model.probability(row[None, :])[0] > 0.99
    row[absent] = 1.0
    assert model.probability(row[None, :])[0] == 0.0


def test_a_measure_asked_in_words_weighs_against_a_sentence_without_a_figure() -> None:
    """"What is the target for revenue?" is not vetoed like "how much": a report may answer it
    in words (与区持平). The model learnt the input lowers the probability, without a veto."""
    model = load_abstention()
    measured = INPUT_NAMES.index("measured_absent")
    assert model.weights[measured] < 0
    row = model.mean + 3 * model.scale * np.sign(model.weights)
    row[INPUT_NAMES.index("figure_absent")] = 0.0
    row[measured] = 1.0
    assert model.probability(row[None, :])[0] > 0.5


@pytest.mark.parametrize(
    "question",
    [
        "京东镇一共有多少所中小学？",  # the report covers schooling, never the count
        "京东镇的养老机构一共有多少张床位？",  # the report covers elderly care, never the beds
        "2021年京东镇的地区生产总值是多少亿元？",  # a year the report does not give
        "How many hospitals are there in Jingdong town?",
        "What was the average wage of residents?",  # a measure asked in words, not "how much"
    ],
)
def test_a_figure_the_report_does_not_give_abstains(pipeline, question: str) -> None:  # noqa: ANN001
    assert pipeline.settings.answering.scorer == "calibrated"
    answer = pipeline.query(question)
    assert answer.abstained, answer.text


def test_the_sentence_that_answers_is_cited_first(pipeline) -> None:  # noqa: ANN001
    answer = pipeline.query("全年开展了多少轮全员核酸检测？累计检测多少人次？")
    scores = [c.score for c in answer.citations]
    assert not answer.abstained
    assert scores == sorted(scores, reverse=True)
    assert "73轮" in answer.citations[0].quote


@pytest.fixture(scope="module")
def hailar(hailar_settings, embeddings):  # noqa: ANN001, ANN201
    """The corpus report answered with the default, calibrated decision."""
    from rag.pipeline import Pipeline

    return Pipeline(hailar_settings, embeddings=embeddings)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("今年地区生产总值预期增长多少？", "地区生产总值增长20%"),
        ("去年全区地区生产总值增长了多少？", "235.2亿元"),
    ],
)
def test_this_years_target_and_last_years_result_cite_their_own_sentence(
    hailar, question: str, expected: str  # noqa: ANN001
) -> None:
    answer = hailar.query(question)
    assert not answer.abstained, answer.text
    assert expected in answer.citations[0].quote, answer.citations[0].quote


@pytest.mark.parametrize(
    ("question", "needed"),
    [
        ("2012年全区人均地区生产总值是多少？", ["人均"]),
        ("What was the district's GDP per capita?", ["人均"]),
        ("平均每天接待多少游客？", ["均", "日均"]),
        ("What was the average daily number of visitors?", ["均"]),
        ("超级水稻亩产多少公斤？", ["亩产"]),
        ("2012年全区地区生产总值是多少？", []),
        ("What does the report say about residents' daily life?", []),
        ("What does 三小场所 mean?", []),
    ],
)
def test_a_question_names_the_qualifiers_its_figure_needs(question: str, needed: list[str]) -> None:
    """Per person, per day, on average, per mu: each must be said by the answering sentence."""
    asked = qualifiers_asked(question)
    assert len(asked) == len(needed)
    assert all(p.search(word) for p, word in zip(asked, needed, strict=True))


@pytest.mark.parametrize(
    ("question", "answered"),
    [
        ("2012年全区地区生产总值是多少？", "235.2亿元"),  # the total: stated
        ("2012年全区人均地区生产总值是多少？", None),  # per person: only the total is given
        ("What was Hailar's per-capita GDP in 2012?", None),
        ("2012年城镇居民人均可支配收入是多少？", "23267元"),  # per person, and stated so
        ("2012年海拉尔平均每天接待多少游客？", None),  # a year's total, not a day's average
    ],
)
def test_a_figure_per_person_or_per_day_is_not_answered_by_a_total(
    hailar, question: str, answered: str | None  # noqa: ANN001
) -> None:
    assert_answered_from(hailar.query(question), answered)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When was the report delivered?", True),
        ("Who is credited at the end of the document, and when?", True),
        ("What principle did officials follow when helping each enterprise?", False),
        ("报告是什么时候作的？", True),
    ],
)
def test_when_asks_a_date_only_as_the_question_word(question: str, expected: bool) -> None:
    assert asks_date(question) is expected


@pytest.mark.parametrize(
    ("question", "measures"),
    [
        ("How many rounds of COVID testing were carried out?", {"轮"}),
        ("How many national high-tech enterprises did the city have?", {"家"}),
        ("How many hospital beds were added in 2015?", set()),  # beds, not hospitals (家)
        ("全年开展了多少轮核酸检测？", {"轮"}),
    ],
)
def test_the_measure_word_is_the_counted_nouns(question: str, measures: set[str]) -> None:
    assert measure_words(question) == measures


@pytest.mark.parametrize(
    ("question", "bigrams"),
    [
        ("什么是乙酰胺？", {"乙酰", "酰胺"}),  # not 是乙: "…是乙酰胺氨基的…" defines nothing
        ("谁是牛佬？", {"牛佬"}),
        ("乙酰胺是什么？", {"乙酰", "酰胺", "胺是"}),  # "乙酰胺是…" is the definition
        # "this report": 的这, 这份, 份报 point at it and no sentence holds them; 报告 names it
        ("谁作的这份报告？", {"谁作", "作的", "报告"}),
        ("这些年来建了几所学校？", {"年来", "来建", "建了", "几所", "所学", "学校"}),
    ],
)
def test_the_question_frame_is_no_topic(question: str, bigrams: set[str]) -> None:
    assert content_bigrams(question) == bigrams


def test_the_documents_own_place_anchors_no_figure() -> None:
    """Every figure of a district's report stands near its name: naming it is no evidence."""
    sentence = "海拉尔机场年旅客吞吐量突破100万人次，国内、国际航线达到34条。"
    place, asked = Term(("海拉",), 6.0), Term(("吞吐",), 8.0)
    assert anchors_figure(sentence, [place])
    assert not anchors_figure(sentence, [place], subject="海拉尔区2013年政府工作报告")
    assert anchors_figure(sentence, [place, asked], subject="海拉尔区2013年政府工作报告")


def test_a_number_that_names_a_line_anchors_no_figure() -> None:
    line = Term(("交通",), 5.0)
    assert not anchors_figure("加快推动轨道交通8号线一期建设", [line])
    assert anchors_figure("轨道交通运营里程达到411公里", [line])


@pytest.mark.parametrize(
    "question",
    ["报告是哪天在哪次会议上作的？", "On what date and at which meeting was the report delivered?"],
)
def test_a_question_about_the_report_itself_is_answered_from_its_cover(
    hailar, question: str  # noqa: ANN001
) -> None:
    answer = hailar.query(question)
    assert not answer.abstained, answer.text
    assert "2013年2月28日" in answer.citations[0].quote, answer.citations[0].quote


@pytest.mark.parametrize(
    "question",
    [
        "Who delivered this report?",
        "谁作的这份报告？",
        "Who gave the report, and what is his title?",
    ],
)
def test_who_delivered_the_report_is_answered_by_the_person_on_its_cover(
    pipeline, question: str  # noqa: ANN001
) -> None:
    answer = pipeline.query(question)
    assert not answer.abstained, answer.text
    assert "镇长 魏 翔" in answer.citations[0].quote, answer.citations[0].quote


def test_a_person_the_question_names_is_not_the_one_it_asks_for() -> None:
    assert names_asked_person("谁作的报告？", "镇人民政府镇长 魏 翔")
    assert not names_asked_person("魏翔是谁？", "镇人民政府镇长 魏 翔")
    assert not names_asked_person("Who photographed Li Keqiang?", "国务院总理 李克强", ["克强"])
    assert not names_asked_person("How big is the town?", "镇人民政府镇长 魏 翔")


def test_training_reads_real_candidates_through_the_pipeline(embeddings) -> None:  # noqa: ANN001
    """The collection step of ``make train`` on three seed questions: one row of inputs per
    top candidate, the gold sentence found among them, an off-topic one labelled as such."""
    from evals.train_abstention import _collect, off_topic
    from evals.train_scorer import SEED_DOCS

    questions = [
        {"id": "a", "question": "全年开展了多少轮全员核酸检测？", "lang": "zh", "kind": "number",
         "answers": [["73轮"]], "gold": "全年开展73轮全员核酸检测", "group": "seed"},
        {"id": "b", "question": "京东镇的常住人口有多少？", "lang": "zh", "kind": "unanswerable",
         "answers": [], "gold": None, "group": "seed"},
    ]
    samples = _collect("seed", SEED_DOCS, embeddings, questions)
    (part,) = samples[0].parts
    assert len(part.rows[0]) == len(INPUT_NAMES) and part.positive[0]
    assert "73轮" in part.texts[0] and samples[0].baseline["first"]
    assert not any(p.positive[0] for p in samples[1].parts)
    # Both ask how many: a candidate without any figure says so.
    absent = INPUT_NAMES.index("figure_absent")
    assert part.rows[0][absent] == 0.0
    for p in samples[1].parts:
        assert [row[absent] for row in p.rows] == [float(not has_figure(t)) for t in p.texts]
    asked = off_topic("seed", SEED_DOCS, ["cmrc"])
    assert len(asked) == 300 and all(q["answers"] == [] and q["group"] == "seed" for q in asked)


@pytest.mark.parametrize(
    ("question", "answered"),
    [("地铁5号线是什么时候通车的？", "2016年12月"), ("地铁9号线计划什么时候通车？", None)],
)
def test_when_is_not_answered_by_a_sentence_naming_no_time(
    embeddings, tmp_path, question: str, answered: str | None  # noqa: ANN001
) -> None:
    """The line that will open names no date: "加快推动…建设" says how, not when."""
    from conftest import one_text_pipeline

    pipeline = one_text_pipeline(
        tmp_path,
        embeddings,
        "一、交通建设\n地铁5号线于2016年12月建成通车，日均客流12万人次。\n"
        "加快推动地铁9号线一期建设，优化调整公交线路，加大社区微巴投放力度。\n"
        "新建公共自行车站点30个，升级公共自行车交通系统。\n",
    )
    assert_answered_from(pipeline.query(question), answered)


def test_an_abstention_shows_a_passage_that_states_a_figure_first(embeddings, tmp_path) -> None:  # noqa: ANN001
    """A how-many question's closest passage is one that could answer it: the sentence that
    echoes the question but states no figure gives way to the next one that states one."""
    from conftest import one_text_pipeline

    pipeline = one_text_pipeline(
        tmp_path,
        embeddings,
        "一、过去一年的工作\n过去一年，全区经济增长好于预期，经济发展主要目标任务全面完成。\n"
        "地区生产总值增长6.9%，居民收入增长7.3%，增速均比上年有所加快。\n"
        "新建公园12座，改造老旧小区40个。\n",
    )
    answer = pipeline.query("全区经济增长了多少？")
    assert "6.9%" in answer.citations[0].quote, answer.citations[0].quote
