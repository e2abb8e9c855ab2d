"""The query path end to end: real model, real FAISS, the real report."""

from __future__ import annotations

import pytest

from rag.config import PROJECT_ROOT
from rag.question import asks_list, split_question
from rag.types import Answer

SEED_NAME = "000_12477834bc4718d4.txt"


def _assert_citations_are_verbatim(answer: Answer, seed_text: str) -> None:
    for c in answer.citations:
        assert seed_text[c.start : c.end] == c.quote
        assert c.source == SEED_NAME
        assert c.line == seed_text.count("\n", 0, c.start) + 1
        assert c.quote in c.context
        assert seed_text[c.context_start : c.context_start + len(c.context)] == c.context


def test_chinese_question_cites_the_73_rounds_passage(pipeline, seed_text: str) -> None:
    answer = pipeline.query("全年开展了多少轮全员核酸检测？")
    assert not answer.abstained
    assert "73" in answer.text and "[1]" in answer.text
    assert "73轮" in answer.citations[0].quote
    assert answer.citations[0].section.endswith("疫情防控科学精准。")
    _assert_citations_are_verbatim(answer, seed_text)


def test_english_question_cites_the_same_passage(pipeline, seed_text: str) -> None:
    answer = pipeline.query("How many rounds of COVID testing were carried out?")
    assert not answer.abstained
    assert "73轮" in answer.citations[0].quote and "73" in answer.text
    _assert_citations_are_verbatim(answer, seed_text)


def test_english_words_find_the_reports_chinese_terms(pipeline, seed_text: str) -> None:
    answer = pipeline.query("Which police station received a national honour?")
    assert not answer.abstained
    assert "京东派出所" in answer.citations[0].quote
    _assert_citations_are_verbatim(answer, seed_text)


def test_english_question_about_an_absent_topic_abstains(pipeline) -> None:
    answer = pipeline.query("How many hospitals does the town have?")
    assert answer.abstained
    assert answer.text.startswith("The documents do not say")


def test_absent_fact_abstains_with_closest_passages(pipeline, seed_text: str) -> None:
    answer = pipeline.query("京东镇的常住人口有多少？")
    assert answer.abstained
    assert "没有找到" in answer.text
    assert answer.citations  # the closest passages, for the reader to judge
    _assert_citations_are_verbatim(answer, seed_text)


def test_a_year_not_in_the_report_abstains(pipeline) -> None:
    assert pipeline.query("2021年京东镇的地区生产总值是多少亿元？").abstained


def test_a_place_the_report_never_names_is_not_answered_for(pipeline, seed_text: str) -> None:
    """The town's GDP sentence shares every word of the question but the place."""
    assert "上海" not in seed_text
    answer = pipeline.query("上海2022年GDP增长多少？")
    assert answer.abstained
    assert answer.text.startswith("文档中没有提到“上海”。")
    assert answer.citations  # the closest passages still shown
    # The same question of the report's own town is answered; a name it uses is no bar.
    assert "5.4%" in pipeline.query("2022年GDP增长多少？").text
    assert not pipeline.query("京东镇2022年GDP增长多少？").abstained


def test_an_english_question_naming_a_place_the_report_never_names_abstains(pipeline) -> None:
    """Before, "Shanghai" was read as the syllables of the report's 伤害 ("to harm") and the
    town's own GDP sentence answered; a name the report does mention is no bar."""
    answer = pipeline.query("What was Shanghai's GDP growth in 2022?")
    assert answer.abstained
    assert answer.text.startswith("The documents never mention Shanghai.")
    assert answer.citations
    # The same name inside a Chinese question.
    assert pipeline.query("Shanghai的GDP增长了多少？").text.startswith("文档中没有提到“Shanghai”。")
    assert not pipeline.query("What did the report say about Xi Jinping's thought?").abstained


def test_two_part_question_gets_both_facts(pipeline) -> None:
    answer = pipeline.query("新增数字经济企业多少家？总数达到多少家？")
    assert "128" in answer.text and "305" in answer.text
    answer = pipeline.query("全年重点检查了多少家生产企业，发现了多少处安全隐患？")
    assert "67" in answer.text and "62" in answer.text


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("新增数字经济企业多少家？总数达到多少家？", ["新增数字经济企业多少家", "总数达到多少家"]),
        ("整治了多少个排水单元？其中验收达标的有几个？",
         ["整治了多少个排水单元", "整治了多少个排水单元 其中验收达标的有几个"]),
        ("How many firms are there, and what was their output?",
         ["How many firms are there", "How many firms are there what was their output"]),
    ],
)
def test_a_part_naming_its_subject_by_a_pronoun_carries_the_part_before(
    question: str, parts: list[str]
) -> None:
    assert split_question(question) == parts


def test_a_follow_up_is_read_in_context(pipeline) -> None:
    answer = pipeline.query("那疫苗接种呢？", history=["全年开展了多少轮全员核酸检测？"])
    assert not answer.abstained
    assert "11万" in answer.citations[0].quote


def test_bad_input_gets_a_message_not_an_exception(pipeline) -> None:
    limit = pipeline.settings.answering.max_question_chars
    for question in ("", "   \n\t ", "？？？！！", "x" * (limit + 1), "\x00\x01\x02"):
        answer = pipeline.query(question)
        assert answer.abstained and answer.text and not answer.citations


def test_retriever_is_a_langchain_retriever(pipeline) -> None:
    docs = pipeline.langchain_retriever().invoke("全年开展了多少轮全员核酸检测？")
    assert any("73轮" in d.page_content for d in docs)
    assert {"source", "section", "start", "end", "line"} <= set(docs[0].metadata)


def test_public_api_from_a_fresh_process(tmp_path) -> None:
    """`from rag import query` works with nothing but the environment's settings."""
    import os
    import subprocess
    import sys

    env = os.environ | {"RAG_INDEX_DIR": str(tmp_path / "index")}
    code = "from rag import query; a = query('全年开展了多少轮全员核酸检测？'); print(a.text)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True,
        text=True, timeout=300, check=True,
    )
    assert "73轮" in out.stdout


def test_cli_ask_prints_answer_and_citation(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = os.environ | {"RAG_INDEX_DIR": str(tmp_path / "index")}
    out = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "全年开展了多少轮全员核酸检测？"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    assert "73轮" in out.stdout and f"{SEED_NAME}:11" in out.stdout


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("全年开展了多少轮全员核酸检测？", "2022 review"),
        ("How many rounds of COVID testing were carried out?", "2022 review"),
        ("2023年地区生产总值预期增长多少？", "2023 targets"),
    ],
)
def test_citations_say_which_year_and_part_of_the_report_they_quote(
    pipeline, question: str, period: str  # noqa: ANN001
) -> None:
    """The report reviews 2022 and plans 2023; its year and roles come from its own text."""
    from rag.cli import format_answer
    from rag.ui import answer_to_dict, where_text

    answer = pipeline.query(question)
    first = answer.citations[0]
    assert not answer.abstained and first.period == period
    assert period in where_text(first)
    assert answer_to_dict(answer)["citations"][0]["period"] == period
    assert period in format_answer(answer)


def test_one_shared_word_and_a_number_do_not_hijack_a_count_question(
    pipeline, embeddings, tmp_path  # noqa: ANN001
) -> None:
    """A one-line upload shares "testing" (测试) with the question and has a figure; the
    report's sentence has the asked measure word (73轮 for "how many rounds") and wins."""
    import shutil

    from conftest import copy_seeds

    from rag.config import Settings
    from rag.pipeline import Pipeline

    docs = copy_seeds(tmp_path / "docs")
    (docs / "load_test.txt").write_text(
        "负载测试文档。全年新建了 4646 个负载测试灯塔。\n", encoding="utf-8"
    )
    index_dir = tmp_path / "index"
    shutil.copytree(pipeline.settings.store.index_dir, index_dir)  # reuse the seed's vectors
    settings = Settings().override(docs_dir=docs, index_dir=index_dir, llm=None)
    answer = Pipeline(settings, embeddings=embeddings).query(
        "How many rounds of COVID testing were carried out?"
    )
    assert not answer.abstained and "73" in answer.text
    assert answer.citations[0].source == SEED_NAME and "73轮" in answer.citations[0].quote


def test_the_answer_may_come_from_beyond_the_chunks_shown(embeddings, tmp_path) -> None:  # noqa: ANN001
    """The sentence scorer reads more chunks than a caller is shown: in the city report the
    sentence stating the high-tech enterprises sits in a chunk the retrieval ranks below the
    first five, under another chunk with "2010" and a share."""
    import dataclasses

    from rag.config import Settings
    from rag.pipeline import Pipeline

    name = "shenzhen_2016_city.txt"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / name).write_bytes((PROJECT_ROOT / "evals" / "corpus" / name).read_bytes())
    settings = Settings().override(docs_dir=docs, index_dir=tmp_path / "index", llm=None)
    question = (
        "How many national high-tech enterprises did Shenzhen have at the end of the five"
        " years, compared with 2010?"
    )
    wide = Pipeline(settings, embeddings=embeddings)
    retrieval = wide.retrieve(question)
    assert len(retrieval.hits) == settings.retrieval.k
    assert not retrieval.answer.abstained and "5524" in retrieval.answer.citations[0].quote
    first = retrieval.evidence.chosen[0].sentence
    assert all(first not in wide.records.sentences_in(h.chunk) for h in retrieval.hits)
    # Reading only the chunks shown, the same question cites another sentence.
    narrow = dataclasses.replace(
        settings, retrieval=dataclasses.replace(settings.retrieval, read=settings.retrieval.k)
    )
    shown_only = Pipeline(narrow, embeddings=embeddings).query(question)
    assert shown_only.abstained or "5524" not in shown_only.citations[0].quote


@pytest.fixture(scope="module")
def guangdong(embeddings, tmp_path_factory):  # noqa: ANN001, ANN201
    """The province report (no cover: it opens "各位代表：现在，我代表省人民政府向大会作…")."""
    from rag.config import Settings
    from rag.pipeline import Pipeline

    name = "guangdong_2019_province.txt"
    docs = tmp_path_factory.mktemp("guangdong_docs")
    (docs / name).write_bytes((PROJECT_ROOT / "evals" / "corpus" / name).read_bytes())
    index_dir = tmp_path_factory.mktemp("guangdong_index")
    return Pipeline(
        Settings().override(docs_dir=docs, index_dir=index_dir, llm=None), embeddings=embeddings
    )


def test_content_on_a_heading_line_is_cited(guangdong) -> None:  # noqa: ANN001
    """The province report lists its ten livelihood projects as "一、提高…水平。全省…从每人
    每月148元提高到170元；…", heading and content on one line: the content answers, under
    the heading as its section."""
    answer = guangdong.query("城乡居民基础养老金的最低标准要从多少提到多少？")
    assert not answer.abstained
    first = answer.citations[0]
    assert "148元提高到170元" in first.quote
    assert first.section.startswith("一、提高城乡居民基础养老金等六类底线民生保障水平。")
    assert "全省" not in first.section  # the heading is the first sentence, not the line


@pytest.mark.parametrize(
    "question", ["Who delivered this report?", "Which body is presenting this report?"]
)
def test_without_a_cover_the_presenting_sentence_says_who_delivered_it(
    guangdong, question: str  # noqa: ANN001
) -> None:
    answer = guangdong.query(question)
    assert not answer.abstained, answer.text
    assert "我代表省人民政府向大会作政府工作报告" in answer.citations[0].quote
    assert answer.text.startswith("省人民政府"), answer.text  # the short answer first


def test_a_question_for_another_name_finds_any_word_for_also_called(
    embeddings, tmp_path  # noqa: ANN001
) -> None:
    """别称 is asked, 又名 is written: the sentence giving the other names answers."""
    from conftest import one_text_pipeline

    pipeline = one_text_pipeline(
        tmp_path,
        embeddings,
        "云岭山猫（学名：Felis yunlingensis），又名雪线猫或高山豹猫，是一种小型猫科动物。\n"
        "云岭山猫的爪厚而强壮，可以攀爬岩壁。云岭山猫的毛色灰白，夏季略深。\n"
        "云岭山猫的尾巴很长，约占体长的一半。\n",
    )
    answer = pipeline.query("云岭山猫的别称是什么？")
    assert not answer.abstained, answer.text
    assert "又名雪线猫" in answer.citations[0].quote, answer.citations[0].quote


def test_a_list_question_cites_the_whole_list_its_item_is_of(pipeline, seed_text: str) -> None:
    """The shortcomings are one list cut at its semicolon ("主要是:经济总量还不够大,…;产业优化
    升级还需加快,…。"): asked for them, the answer quotes both sentences, not the one ranked
    first."""
    answer = pipeline.query("What shortcomings does the report admit the town still faces?")
    assert not answer.abstained, answer.text
    quote = answer.citations[0].quote
    assert quote.startswith("主要是:经济总量还不够大") and "产业优化升级还需加快" in quote, quote
    assert f"{quote}[1]" in answer.text
    _assert_citations_are_verbatim(answer, seed_text)
    # Asked in Chinese, the sentence announcing the list ranks first; the list follows it.
    answer = pipeline.query("报告认为京东镇还存在哪些问题和不足？")
    quote = answer.citations[0].quote
    assert quote.startswith("在总结成绩的同时") and quote.endswith("还不匹配等。"), quote
    _assert_citations_are_verbatim(answer, seed_text)


def test_the_targets_list_is_quoted_whole_and_one_target_alone(guangdong) -> None:  # noqa: ANN001
    listed = guangdong.query("What are the main economic targets for 2019?")
    assert not listed.abstained, listed.text
    quote = listed.citations[0].quote
    assert quote.startswith("今年我省经济社会发展的主要预期目标是：地区生产总值增长6—6.5%"), quote
    assert quote.endswith("单位地区生产总值能耗下降3%。"), quote  # the eighth item, the last
    one = guangdong.query("2019年城镇新增就业的目标是多少？")
    assert not one.abstained, one.text
    assert one.citations[0].quote.startswith("城镇新增就业110万人"), one.citations[0].quote
    assert "主要预期目标" not in one.citations[0].quote


@pytest.mark.parametrize(
    ("question", "listed"),
    [
        ("有哪些项目结转到2023年继续建设？", True),
        ("What are the main targets for 2019?", True),
        ("Which villages got smart 'safe community' projects?", True),
        ("What shortcomings does the report admit?", True),
        ("Name the well-known digital economy companies.", True),
        ("What does the report say about jobs?", False),
        ("Which typhoon hit Guangdong?", False),
        ("What was the hotel occupancy rate in 2012?", False),
        ("Which dead-end road will be opened up, and between which two roads?", True),
        ("Which large international sports event did Shenzhen host?", False),
        ("How many items will the provincial list of powers be cut to?", False),
        ("Which planet is closest to the sun?", False),
    ],
)
def test_a_question_asking_for_a_list_is_told_from_one_asking_one_thing(
    question: str, listed: bool
) -> None:
    assert asks_list(question) is listed


@pytest.mark.parametrize(
    "question", ["2023年的主要预期目标有哪些？", "What are the main targets for 2023?"]
)
def test_a_list_on_lines_of_its_own_is_quoted_from_the_line_it_follows(
    pipeline, seed_text: str, question: str
) -> None:
    """The seed's targets are a line "主要预期目标是:" and one line per target: the line the list
    follows, a label that answers nothing else, answers a question asking for the list."""
    answer = pipeline.query(question)
    assert not answer.abstained, answer.text
    quote = answer.citations[0].quote
    assert quote.startswith("主要预期目标是:\n地区生产总值增长8%左右;"), quote
    assert quote.endswith("外贸出口总额促稳提质。"), quote
    _assert_citations_are_verbatim(answer, seed_text)
    # No span of a list stands for the rest: an English reader gets its figures in English,
    # a Chinese reader the list alone.
    first_line = answer.text.splitlines()[0]
    if question.isascii():
        assert first_line.startswith("Figures quoted: about 8% (地区生产总值增长"), first_line
    else:
        assert answer.text.startswith(quote), first_line
    from rag.cli import format_answer

    shown = format_answer(answer)  # the terminal indents every line of the quote
    assert "\n    主要预期目标是:\n    地区生产总值增长8%左右;\n    地方一般" in shown, shown
