"""Time scoping read from real reports: their year, their sections' roles, questions' time cues."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.chunking import ChunkerSettings, split_sentences
from rag.config import PROJECT_ROOT
from rag.ingest import read_sources
from rag.store.build import sentence_records as _sentence_records
from rag.timeline import (
    APPENDIX,
    LATER,
    MULTI_YEAR,
    OTHER,
    PLAN,
    REVIEW,
    TimeCue,
    build_timeline,
    question_time,
    role_label,
)

CORPUS = PROJECT_ROOT / "evals" / "corpus"


@pytest.fixture(scope="module")
def corpus():  # noqa: ANN201 - (texts, records, timeline)
    sources, _ = read_sources(Path(CORPUS))
    sources = [s for s in sources if s.name.endswith(".txt")]
    records = []
    for source in sources:
        records += _sentence_records(source, split_sentences(source.text, ChunkerSettings()))
    texts = {s.name: s.text for s in sources}
    return texts, records, build_timeline(texts, records)


def _role_of(corpus, source: str, needle: str) -> str:  # noqa: ANN001
    _, records, timeline = corpus
    hits = [i for i, r in enumerate(records) if r.source == source and needle in r.text]
    assert hits, f"{needle!r} not in {source}"
    return timeline.roles[hits[0]]


def test_report_years_come_from_the_text(corpus) -> None:  # noqa: ANN001
    _, _, timeline = corpus
    assert timeline.years["hailar_2013_district.txt"] == 2013
    assert timeline.years["guangdong_2019_province.txt"] == 2019
    assert timeline.years["national_2018_guowuyuan.txt"] == 2018
    assert timeline.years["yantian_2017_district.txt"] == 2017
    assert timeline.years["dapeng_2015_newarea.txt"] == 2015
    # A report on 2021 dated January 2022: its plans are for 2022.
    assert timeline.years["guangming_2021_fazhi_report.txt"] == 2022


@pytest.mark.parametrize(
    ("source", "needle", "role"),
    [
        ("hailar_2013_district.txt", "全年地区生产总值完成235.2亿元", REVIEW),
        ("hailar_2013_district.txt", "地区生产总值增长20%，达到282亿元", PLAN),
        ("yantian_2017_district.txt", "实现本区生产总值537.68亿元", REVIEW),
        ("yantian_2017_district.txt", "本区生产总值增长8.5%左右", PLAN),
        ("guangdong_2019_province.txt", "全省地区生产总值达9.73万亿元", REVIEW),
        ("guangdong_2019_province.txt", "主要预期目标是", PLAN),
        ("national_2018_guowuyuan.txt", "五年来，经济实力跃上新台阶", MULTI_YEAR),
        ("national_2018_guowuyuan.txt", "今年发展主要预期目标是", PLAN),
        ("guangming_2021_fazhi_report.txt", "2022年，光明区将认真贯彻落实", PLAN),
        ("dapeng_2015_newarea.txt", "各位代表：", OTHER),
        # "一是…。五年来，…": the cue opens the sentence after the lead-in naming the topic.
        ("shenzhen_2016_city.txt", "地区生产总值由9581.5亿元增加到1.75万亿元", MULTI_YEAR),
        ("shenzhen_2016_city.txt", "病床数从2.3万张增至3.7万张", MULTI_YEAR),
        ("shenzhen_2016_city.txt", "新增病床6400张", REVIEW),
        # A paragraph opening with a year ("刚刚过去的2017年，…") speaks of that year, here
        # inside the five-year review of a report on 2018.
        ("national_2018_guowuyuan.txt", "城镇新增就业1351万人", REVIEW),
        ("national_2018_guowuyuan.txt", "国内生产总值增长6.9%", REVIEW),
        ("hailar_2013_district.txt", "各位代表，过去的一年", REVIEW),
        # A sentence stating a span of years speaks of several, inside last year's review too.
        ("guangdong_2019_province.txt", "从1978年的186亿元增加到2018年的9.73万亿元", MULTI_YEAR),
    ],
)
def test_sections_get_their_roles(corpus, source: str, needle: str, role: str) -> None:  # noqa: ANN001
    assert _role_of(corpus, source, needle) == role


def test_an_appendix_line_starts_the_appendix(corpus) -> None:  # noqa: ANN001
    _, records, timeline = corpus
    roles = [
        timeline.roles[i]
        for i, r in enumerate(records)
        if r.source == "guangdong_2019_province.txt" and r.section.startswith("十、")
    ]
    assert roles and set(roles) == {APPENDIX}


@pytest.mark.parametrize(
    ("question", "cue"),
    [
        ("今年地区生产总值预期增长多少？", TimeCue(PLAN, None)),
        ("去年地区生产总值增长了多少？", TimeCue(REVIEW, None)),
        ("过去五年国内生产总值年均增长多少？", TimeCue(MULTI_YEAR, None)),
        ("改革开放以来GDP年均增速是多少？", TimeCue(MULTI_YEAR, None)),
        ("What was the average annual GDP growth?", TimeCue(MULTI_YEAR, None)),
        ("What is the GDP growth target?", TimeCue(PLAN, None)),
        # The plan in any form of its verbs, and in the future tense.
        ("What GDP growth is the district aiming for?", TimeCue(PLAN, None)),
        ("How many new jobs is the city planning to add?", TimeCue(PLAN, None)),
        ("Which road will be opened up?", TimeCue(PLAN, None)),
        ("Were the residents willing to move?", TimeCue(None, None)),
        ("How much did GDP grow last year?", TimeCue(REVIEW, None)),
        ("2012年地区生产总值是多少？", TimeCue(None, 2012)),
        ("全年开展了多少轮全员核酸检测？", TimeCue(None, None)),
    ],
)
def test_question_time_cues(question: str, cue: TimeCue) -> None:
    assert question_time(question) == cue


def test_an_explicit_year_is_read_against_the_report(corpus) -> None:  # noqa: ANN001
    _, _, timeline = corpus
    source = "hailar_2013_district.txt"
    assert timeline.wanted_role(TimeCue(None, 2013), source) == PLAN
    assert timeline.wanted_role(TimeCue(None, 2012), source) == REVIEW
    assert timeline.wanted_role(TimeCue(None, 2009), source) == MULTI_YEAR
    # A year after the report's is no time it speaks of as its own.
    assert timeline.wanted_role(TimeCue(PLAN, 2018), source) == LATER
    assert role_label(PLAN, 2013) == "2013 targets"
    assert role_label(REVIEW, 2013) == "2012 review"


def test_among_reports_of_several_years_a_named_year_finds_its_own_report(
    tmp_path: Path, embeddings  # noqa: ANN001
) -> None:
    """Before, the 2016 report's own target (本地生产总值增长8—8.5%) answered "2018's target":
    a plan sentence of any year passed for the plan of the year asked."""
    from rag.config import Settings
    from rag.pipeline import Pipeline

    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("national_2018_guowuyuan.txt", "shenzhen_2016_city.txt"):
        (docs / name).write_bytes((CORPUS / name).read_bytes())
    settings = Settings().override(docs_dir=docs, index_dir=tmp_path / "index", llm=None)
    answer = Pipeline(settings, embeddings=embeddings).query("2018年经济增速的预期目标定在多少？")
    assert not answer.abstained
    assert answer.citations[0].source == "national_2018_guowuyuan.txt"
    assert "6.5%" in answer.text
