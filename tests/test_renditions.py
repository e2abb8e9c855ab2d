"""A report as users drop it in (hard-wrapped text, a PDF, Word, a web page) is read as its
paragraphs: a wrapped report's sentences are cited whole, with the real model and a real
index; a question in traditional characters, typed full-width or with a greeting and a
thanks is answered as the same plainly typed. The renditions are those ``make eval-wrapped``
(…-pdf, -docx, -html, -traditional, -fullwidth, -chatty) measure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evals.renditions import (
    FONT,
    full_width,
    hard_wrap,
    markdown,
    traditional,
    typeset,
    web_page,
    word,
)
from rag.chunking import ChunkerSettings, split_sentences
from rag.config import Settings
from rag.loaders import extract_text
from rag.pipeline import Pipeline
from rag.question import without_frame
from rag.simplified import is_traditional, to_simplified

REPORT = Path(__file__).resolve().parents[1] / "evals" / "corpus" / "yantian_2017_district.txt"


def _paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


@pytest.fixture(scope="module")
def report_head() -> str:
    """The report's cover and first review paragraphs (a few hundred sentences)."""
    return "\n".join(REPORT.read_text(encoding="utf-8").split("\n")[:9]) + "\n"


def test_a_wrapped_file_is_read_as_its_paragraphs(tmp_path: Path, report_head: str) -> None:
    wrapped = tmp_path / "wrapped.txt"
    wrapped.write_text(hard_wrap(report_head, 38), encoding="utf-8")
    assert len(_paragraphs(wrapped.read_text(encoding="utf-8"))) > 3 * len(
        _paragraphs(report_head)
    )
    text = extract_text(wrapped).text
    joined = set(_paragraphs(text))
    kept = [p for p in _paragraphs(report_head) if p in joined]
    # A sentence that ends exactly at a line's end leaves its paragraph split there: the
    # wrap leaves no trace of it.
    assert len(kept) >= len(_paragraphs(report_head)) - 2


@pytest.mark.skipif(not FONT.exists(), reason="needs fonts-wqy-microhei")
def test_a_chinese_pdf_is_read_with_nothing_added_where_lines_join(
    tmp_path: Path, report_head: str
) -> None:
    """The page width cuts lines anywhere, even inside a figure (``2`` + ``5.0%``): joined
    back, no space comes between CJK or digits, and most paragraphs are whole again. The
    page numbers at the feet ("— 1 —") are dropped, and a sentence the page's end cut goes on
    where the next page begins."""
    typeset(report_head, tmp_path / "report.pdf")
    extracted = extract_text(tmp_path / "report.pdf")
    text = extracted.text
    assert len(extracted.pages) == 3
    assert re.sub(r"[\n\f]", "", text) == "".join(_paragraphs(report_head))
    assert len(_paragraphs(text)) < 2 * len(_paragraphs(report_head))
    assert "华大基因发布的新一代高通量台式测序系统，标志我国" in text  # across pages 1 and 2
    assert text[extracted.pages[1] :].startswith("序系统")  # page 2 still begins where it did


def test_word_and_web_page_renditions_keep_the_paragraphs(tmp_path: Path, report_head: str) -> None:
    """Headings come back as Markdown ``#`` lines; a page's navigation and footer are lines of
    their own, outside every paragraph."""
    for write, name in ((word, "report.docx"), (web_page, "report.html")):
        write(report_head, tmp_path / name)
        lines = {line.lstrip("# ") for line in _paragraphs(extract_text(tmp_path / name).text)}
        assert set(_paragraphs(report_head)) <= lines, name


def test_a_markdown_report_is_read_without_its_marks_under_nested_headings(
    tmp_path: Path, report_head: str
) -> None:
    markdown(report_head + "产业发展稳中有进。新建工厂3家。\n", tmp_path / "report.md")
    written = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "**" in written and "\n## 一、" in written
    text = extract_text(tmp_path / "report.md").text
    assert "**" not in text
    assert text.count("\n") == written.count("\n")  # a citation's line is the file's line
    sentences = split_sentences(text, ChunkerSettings())
    section = {text[s.start : s.end]: s.section for s in sentences}
    # Under its ### heading, itself under the ## one; its bold topic sentence labels it.
    assert section["新建工厂3家。"].startswith("一、2016年工作回顾 > （五）")
    assert section["新建工厂3家。"].endswith(" > 产业发展稳中有进。")
    assert extract_text(tmp_path / "report.md", data=b"[a link](http://x) and `code`").text == (
        "a link and code"
    )


def test_a_file_of_one_paragraph_a_line_is_kept_exactly(tmp_path: Path) -> None:
    original = tmp_path / "report.txt"
    original.write_bytes(REPORT.read_bytes())
    assert extract_text(original).text == REPORT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def wrapped_pipeline(
    tmp_path_factory: pytest.TempPathFactory, embeddings, report_head: str  # noqa: ANN001
) -> Pipeline:
    root = tmp_path_factory.mktemp("wrapped")
    (root / "docs").mkdir()
    (root / "docs" / "yantian.txt").write_text(hard_wrap(report_head, 38), encoding="utf-8")
    settings = Settings().override(
        embed_model="bundled", docs_dir=root / "docs", index_dir=root / "index"
    )
    return Pipeline(settings, embeddings=embeddings)


@pytest.mark.parametrize(
    ("question", "sentence", "fact"),
    [
        ("港区后方新增了多少个临时停车位？", "新增临时停车场车位1250个", "1250个"),
        ("What was total tourism revenue in 2016?", "旅游业总收入91.00亿元，增长2.2%", "91.00亿元"),
    ],
)
def test_a_sentence_cut_by_the_wrap_is_cited_whole(
    wrapped_pipeline: Pipeline, report_head: str, question: str, sentence: str, fact: str
) -> None:
    assert sentence in report_head and sentence not in hard_wrap(report_head, 38)
    answer = wrapped_pipeline.query(question)
    assert not answer.abstained, answer.text
    assert sentence in answer.citations[0].quote
    assert fact in answer.text


def test_traditional_characters_read_as_simplified_but_those_the_documents_use() -> None:
    asked = traditional("过去五年经济增长多少？")
    assert asked == "過去五年經濟增長多少？"
    assert to_simplified(asked) == "过去五年经济增长多少？"
    # A Wikipedia article's 快砲 keeps the 砲 its document writes; simplified text is left as is.
    assert to_simplified("快砲的定位", keep=lambda ch: ch == "砲") == "快砲的定位"
    assert to_simplified("乾隆年间的起征点") == "乾隆年间的起征点"
    # A document is read as traditional when much of it is; the CMRC article on the 快砲,
    # simplified but for its name (2 % of its characters), is not.
    assert is_traditional(traditional("过去五年经济增长多少？各项工作取得了新的进展。"))
    cmrc = json.loads((REPORT.parents[1] / "cmrc2018" / "cmrc2018_trial.json").read_text("utf-8"))
    article = next(a for a in cmrc["data"] if "快砲" in a["title"])["paragraphs"][0]["context"]
    assert "砲" in article and not is_traditional(article)


def test_a_question_in_traditional_characters_is_answered_as_in_simplified(
    wrapped_pipeline: Pipeline,
) -> None:
    question = "港区后方新增了多少个临时停车位？"
    asked = wrapped_pipeline.query(traditional(question))
    assert traditional(question) != question
    assert not asked.abstained, asked.text
    assert "新增临时停车场车位1250个" in asked.citations[0].quote
    assert asked.text == wrapped_pipeline.query(question).text


def test_a_question_typed_in_full_width_is_answered_as_in_ascii(
    wrapped_pipeline: Pipeline,
) -> None:
    question = "2016年旅游业总收入是多少？"
    asked = wrapped_pipeline.query(full_width(question))
    assert full_width(question).startswith("２０１６年")
    assert not asked.abstained, asked.text
    assert "91.00亿元" in asked.text
    assert asked.text == wrapped_pipeline.query(question).text


def test_only_a_greeting_a_request_to_tell_a_source_and_a_thanks_are_dropped() -> None:
    assert without_frame("您好！我想了解一下，今年的目标是什么？谢谢") == "今年的目标是什么？"
    assert without_frame("Hello! I'd like to know: how many schools?") == "How many schools?"
    assert without_frame("What is the target, please?") == "What is the target?"
    assert without_frame("Please tell me about the budget") == "The budget"
    assert without_frame("According to the report, how many schools?") == "How many schools?"
    assert without_frame("How many schools, according to the work report?") == "How many schools?"
    assert without_frame("据报告显示，新增就业多少？") == "新增就业多少？"
    # A word that merely starts like a greeting, a question about the report itself or
    # naming which one, and a question that is all frame, stay.
    for kept in ("Historic sites?", "Tell me more about it", "Who delivered the report?",
                 "报告是谁作的？", "In the Shenzhen report, how many?", "请问", "Thanks",
                 "谢谢信有几封？"):
        assert without_frame(kept) == kept


@pytest.mark.parametrize(
    ("chatty", "plain"),
    [
        ("你好，请问2016年旅游业总收入是多少？谢谢！", "2016年旅游业总收入是多少？"),
        ("Hi, could you tell me: what was total tourism revenue in 2016? Thanks!",
         "What was total tourism revenue in 2016?"),
        ("According to the report, what was total tourism revenue in 2016?",
         "What was total tourism revenue in 2016?"),
        ("根据报告，2016年旅游业总收入是多少？", "2016年旅游业总收入是多少？"),
    ],
)
def test_a_greeting_a_source_and_a_thanks_change_no_answer(
    wrapped_pipeline: Pipeline, chatty: str, plain: str
) -> None:
    asked = wrapped_pipeline.query(chatty)
    assert not asked.abstained, asked.text
    assert "91.00" in asked.text
    assert asked.text == wrapped_pipeline.query(plain).text


def test_a_report_in_traditional_characters_is_read_and_answered_in_simplified(
    tmp_path: Path, embeddings, report_head: str  # noqa: ANN001
) -> None:
    """A Hong Kong, Macao or Taiwan report: character for character, so offsets still hold."""
    written = traditional(report_head)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "yantian.txt").write_text(written, encoding="utf-8")
    assert "旅遊業總收入91.00億元" in written
    text = extract_text(tmp_path / "docs" / "yantian.txt").text
    assert len(text) == len(written) and "旅游业总收入91.00亿元" in text
    settings = Settings().override(
        embed_model="bundled", docs_dir=tmp_path / "docs", index_dir=tmp_path / "index"
    )
    pipeline = Pipeline(settings, embeddings=embeddings)
    for question in ("2016年旅游业总收入是多少？", "What was total tourism revenue in 2016?"):
        answer = pipeline.query(question)
        assert not answer.abstained, answer.text
        assert "旅游业总收入91.00亿元" in answer.citations[0].quote
