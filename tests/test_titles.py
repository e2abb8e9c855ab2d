"""Display titles and cover blocks read from real reports; the document view's markup."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import SEED

from rag.config import PROJECT_ROOT, Settings
from rag.document_view import CitedSpan, document_view_html, strip_heading_marks
from rag.question import asks_about_document
from rag.titles import closing_start, cover_end, document_title, subject_of, title_from_text
from rag.types import Answer, Citation
from rag.ui import answer_html, plain_text

CORPUS = PROJECT_ROOT / "evals" / "corpus"


def test_the_seed_title_is_completed_from_its_delivery_line(seed_text: str) -> None:
    assert title_from_text(seed_text) == "京东镇2023年政府工作报告"
    end = cover_end(seed_text)
    assert seed_text[:end].endswith("镇长 魏 翔")  # title, date and speaker; not the salutation
    assert "各位代表" not in seed_text[:end]


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("hailar_2013_district.txt", "海拉尔区2013年政府工作报告"),  # 政 府 工 作 报 告, spaced
        ("national_2018_guowuyuan.txt", "2018年政府工作报告"),  # title——date on one line
        ("shenzhen_2016_city.txt", "shenzhen_2016_city.txt"),  # no cover: the file name
    ],
)
def test_titles_of_real_reports(name: str, title: str) -> None:
    path = CORPUS / name
    text = path.read_text(encoding="utf-8")
    assert document_title(name, text, path) == title
    if title == name:
        assert cover_end(text) == 0  # no cover block: nothing is skipped


def test_html_and_pdf_titles_come_from_the_file(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(
        "<html><head><title>深圳市 2016 &amp; 政府工作报告</title></head>"
        "<body><p>各位代表：</p></body></html>",
        encoding="utf-8",
    )
    assert document_title(page.name, "深圳市 2016 & 政府工作报告\n各位代表：", page) == (
        "深圳市 2016 & 政府工作报告"
    )

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Title": "Annual Work Report 2023"})
    buffer = io.BytesIO()
    writer.write(buffer)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(buffer.getvalue())
    assert document_title(pdf.name, "whatever the text says", pdf) == "Annual Work Report 2023"
    assert document_title("missing.pdf", "no title here", tmp_path / "missing.pdf") == (
        "missing.pdf"
    )


def test_the_document_view_escapes_highlights_and_drops_heading_marks() -> None:
    text = "# 一、工作回顾\n前文<b>x</b>。全年开展73轮检测。后文\n\f\n第二页"
    start = text.index("全年")
    end = text.index("后文")
    span = CitedSpan("a.docx", start, end)
    html = document_view_html("标题 <i>", span, text, "# 一、工作回顾", 2)
    assert '<mark class="rag-doc-hit">全年开展73轮检测。</mark>' in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html and "<i>" not in html
    assert "# " not in html and ">一、工作回顾<" in html
    assert "page 2" in html and "line 2" in html
    assert strip_heading_marks("## 二、计划\n正文 # 不是标题") == "二、计划\n正文 # 不是标题"
    span = CitedSpan("a.txt", 3, 9)
    assert CitedSpan.decode(span.encode() + "|7") == span
    assert CitedSpan.decode("not json") is None and CitedSpan.decode('["a", "1", 2]') is None


def test_answer_markup_links_citations_and_copies_plain_text(seed_text: str) -> None:
    quote = "全年开展73轮全员核酸检测,累计检测714万人次,圆满完成各项防控任务。"
    start = seed_text.index(quote)
    cite = Citation(
        quote, SEED.name, "一、2022年工作回顾 > 疫情防控科学精准。", 11, start,
        start + len(quote), 0.9, context="# 一、2022年工作回顾\n" + quote,
        context_start=start - len("# 一、2022年工作回顾\n"), title="京东镇2023年政府工作报告",
    )
    answer = Answer(f"{quote}[1]", [cite])
    out = answer_html(answer.text, answer)
    assert '<a class="rag-ref" href="#rag-open=' in out and ">[1]</a>" in out
    href = out.split('href="#rag-open=')[1].split('"')[0]
    assert CitedSpan.decode(unquote(href)) == CitedSpan(SEED.name, start, start + len(quote))
    assert "# 一" not in out and "\n" not in out
    assert "京东镇2023年政府工作报告" in out
    text = plain_text(answer)
    assert text.splitlines()[0] == answer.text
    assert "[1] 京东镇2023年政府工作报告 · 000_12477834bc4718d4.txt · " in text
    assert "line 11" in text and f"    {quote}" in text and "<" not in text

    abstained = Answer("The documents do not say.", [cite], abstained=True)
    out = answer_html(abstained.text, abstained)
    assert 'class="rag-answer rag-abstained"' in out and "ℹ" in out
    assert "<details" in out and "<details open" not in out
    assert plain_text(abstained).splitlines()[2].startswith("Closest passages")


def test_a_subject_is_the_cover_title_a_bare_first_line_or_the_issuers_place(
    seed_text: str,
) -> None:
    assert subject_of(seed_text) == "京东镇2023年政府工作报告"
    assert subject_of("六耳铃\n六耳铃（学名：）是菊科艾纳香属的植物。") == "六耳铃"
    assert subject_of("# Passiflora\nA plant.") == "Passiflora"
    # A report without a cover names the body it speaks for in its opening formula.
    shenzhen = (PROJECT_ROOT / "evals/corpus/shenzhen_2016_city.txt").read_text("utf-8")
    assert subject_of(shenzhen) == "深圳市"
    assert subject_of("各位代表：\n现在，我代表大鹏新区管理委员会向大会作工作报告。") == "大鹏新区"
    # A bare title names no place: the body's does.
    titled = "# 政府工作报告\n\n各位代表：\n\n现在，我代表大鹏新区管理委员会向大会作工作报告。"
    assert subject_of(titled) == "大鹏新区"
    # A salutation, a section heading or a sentence is no title; a body without its place
    # (区人民政府) names no subject, nor does the formula deep in the text (a quotation).
    deep = "各位代表：\n" + "…" * 600 + "我代表深圳市人民政府"
    for text in ("各位代表：\n现在，我代表区人民政府向大会作政府工作报告", "一、工作回顾\n…",
                 "花期从10月起至翌年5~6月。\n", deep):
        assert subject_of(text) == ""


def _cmrc_paragraph(paragraph_id: str) -> tuple[str, str]:
    data = json.loads((PROJECT_ROOT / "evals/cmrc2018/cmrc2018_trial.json").read_text("utf-8"))
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            if paragraph["id"] == paragraph_id:
                return article["title"], paragraph["context"]
    raise KeyError(paragraph_id)


@pytest.fixture(scope="module")
def encyclopedia(tmp_path_factory: pytest.TempPathFactory, embeddings):  # noqa: ANN001, ANN201
    """Two encyclopedia paragraphs (CMRC 2018 trial, CC BY-SA), each a title line and its text."""
    from rag.pipeline import Pipeline

    docs = tmp_path_factory.mktemp("encyclopedia")
    for paragraph_id in ("TRIAL_263", "TRIAL_202"):
        title, context = _cmrc_paragraph(paragraph_id)
        (docs / f"{paragraph_id}.txt").write_text(f"{title}\n{context}\n", encoding="utf-8")
    settings = Settings().override(
        embed_model="bundled", docs_dir=docs, index_dir=tmp_path_factory.mktemp("ix"), llm=None
    )
    return Pipeline(settings, embeddings=embeddings)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("大果西番莲的根部有什么作用？", "它的根部可用来当作催吐剂"),
        ("六耳铃的花期是什么时候？", "花期从10月起"),
        ("六耳铃分布在哪些地区？", "分布于印度尼西亚"),
        # Here the embedding favoured the opening sentence too: read without the name, no more.
        ("大果西番莲的叶柄有什么特点？", "其叶柄（petiole）有四到六个腺体"),
        ("大果西番莲分布在什么地区？", "它是分布于热带美洲"),
    ],
)
def test_the_sentence_stating_the_asked_attribute_beats_the_one_naming_the_subject(
    question: str, answer: str, encyclopedia  # noqa: ANN001
) -> None:
    """The paragraphs name their subject in the title and the opening sentence, then say
    "它…". The opening sentence shares the subject's words with the question; the title lends
    them to every sentence, and the similarity is read from the question without the name,
    so the asked attribute decides (answered or, unsure, shown first among the closest)."""
    result = encyclopedia.query(question)
    assert answer in result.citations[0].quote


def test_a_bare_title_line_is_never_the_answer(encyclopedia) -> None:  # noqa: ANN001
    """"什么是六耳铃？" shares every word with the title line "六耳铃", which says nothing."""
    result = encyclopedia.query("什么是六耳铃？")
    assert result.citations
    assert all(c.quote != "六耳铃" for c in result.citations)
    assert "菊科艾纳香属的植物" in result.citations[0].quote


def test_a_sign_off_is_the_short_lines_after_the_last_paragraph() -> None:
    text = "正文很长的一段话，说了很多事情。\n\n特此报告。\n深圳市光明区人民政府\n2022年1月5日\n"
    sign_off = text[closing_start(text) :].split()
    assert sign_off == ["特此报告。", "深圳市光明区人民政府", "2022年1月5日"]
    body = "正文很长的一段话，说了很多事情，一直说到最后一行也没有落款和日期的样子。"
    assert closing_start(body) == len(body)  # no sign-off
    assert closing_start("道路建设\n改造危桥3座。") == len("道路建设\n改造危桥3座。")  # all short


@pytest.mark.parametrize(
    ("question", "about"),
    [
        ("这份政府工作报告是谁作的？", True),
        ("谁作的这份报告？", True),
        ("报告是哪天在哪次会议上作的？", True),
        ("Who delivered this report, and what is his position?", True),
        ("On what date was this report issued?", True),
        ("报告提到的地区生产总值是多少？", False),
        ("What does the report say about housing?", False),
        ("Who built the new bridge?", False),
        ("Who presented the award?", False),
        ("What does the report present as the main task?", False),
        ("报告里提到谁获得了表彰？", False),
    ],
)
def test_questions_about_the_report_itself(question: str, about: bool) -> None:
    assert asks_about_document(question) is about
