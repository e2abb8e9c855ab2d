"""The `/ask` API of the running app (via gradio_client), the chat handlers, the HTML."""

from __future__ import annotations

from typing import Any

import pytest

from rag.config import Settings
from rag.types import Answer, Citation
from rag.ui import (
    GENERIC_ERROR,
    ChatHandlers,
    answer_html,
    answer_to_dict,
    citations_html,
    clauses,
    parse_history,
)

COVID = "全年开展了多少轮全员核酸检测？"


@pytest.fixture(scope="module")
def client(ui_server: str):  # noqa: ANN201 - gradio_client.Client
    from gradio_client import Client

    return Client(ui_server, verbose=False)


def ask(client: Any, question: str, history: Any = None, source: Any = None) -> dict[str, Any]:
    result = client.predict(question, history, source, api_name="/ask")
    assert isinstance(result, dict)
    assert set(result) == {"text", "abstained", "citations"}
    return result


def test_ask_answers_with_a_cited_quote(client: Any) -> None:
    result = ask(client, COVID)
    assert "73" in result["text"]
    assert not result["abstained"]
    assert any("73轮" in c["quote"] for c in result["citations"])
    cite = result["citations"][0]
    assert set(cite) == {
        "quote", "source", "title", "section", "period", "line", "start", "end", "score"
    }
    assert cite["title"] == "京东镇2023年政府工作报告"
    assert cite["source"].endswith(".txt") and cite["line"] >= 1
    assert cite["end"] - cite["start"] == len(cite["quote"])


def test_follow_up_reads_the_history(client: Any) -> None:
    result = ask(client, "那疫苗接种呢？", [COVID])
    assert "11万" in result["text"] or "93.9%" in result["text"]
    as_json = ask(client, "那疫苗接种呢？", '["全年开展了多少轮全员核酸检测？"]')
    assert as_json["text"] == result["text"]


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_empty_question_gets_a_friendly_message(client: Any, question: str) -> None:
    result = ask(client, question)
    assert result["abstained"] and result["citations"] == []
    assert "Please type a question" in result["text"]


def test_too_long_question_gets_a_friendly_message(client: Any) -> None:
    result = ask(client, "多少" * 2000)
    assert result["abstained"]
    assert "too long" in result["text"]
    assert "Traceback" not in result["text"]


def test_document_filter(client: Any) -> None:
    status = client.predict(api_name="/status")
    assert status["ready"] and status["chunks"] > 0
    source = status["sources"][0]
    result = ask(client, COVID, None, source)
    assert all(c["source"] == source for c in result["citations"])
    assert "73" in result["text"]
    unknown = ask(client, COVID, None, "no-such-report.txt")
    assert unknown["abstained"] and unknown["citations"] == []


# --- Rendering, on real Answer objects (no server needed) ---------------------------------


def _citation(quote: str, context: str, section: str = "一、回顾 > <b>x</b>") -> Citation:
    start = context.index(quote)
    return Citation(
        quote=quote,
        source="<script>alert(1)</script>.txt",
        section=section,
        line=3,
        start=100 + start,
        end=100 + start + len(quote),
        score=0.9,
        context=context,
        context_start=100,
    )


def test_rendering_escapes_everything_and_marks_the_quote() -> None:
    quote = "全年开展73轮<img src=x onerror=alert(1)>检测。"
    context = "前文 & <i>。\n\n" + quote + "后文"
    answer = Answer(text=f"{quote}[1]", citations=[_citation(quote, context)])
    out = answer_html(answer.text, answer)
    assert (
        "<img" not in out and "<script>" not in out and "<b>x</b>" not in out and "<i>" not in out
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "<mark>全年开展73轮&lt;img src=x onerror=alert(1)&gt;检测。</mark>" in out
    assert "&amp; &lt;i&gt;" in out
    assert "\n" not in out  # a blank line would hand the rest of the message to Markdown
    assert '<a class="rag-ref" href="#rag-open=' in out  # [1] opens the cited span
    assert "line 3" in out and "Sources" in out


def test_abstention_labels_the_closest_passages() -> None:
    cite = _citation("某句话。", "上文。某句话。下文。")
    answer = Answer(text="The documents do not say.", citations=[cite], abstained=True)
    html_out = citations_html(answer)
    assert "Closest passages" in html_out and "Sources" not in html_out
    assert citations_html(Answer(text="请输入一个问题。", citations=[], abstained=True)) == ""
    assert answer_to_dict(answer)["abstained"] is True


def test_answer_streams_by_clause() -> None:
    text = "全年地区生产总值完成93.8亿元,增长5.4%;[1]"
    steps = clauses(text)
    assert len(steps) >= 2
    assert steps[-1] == text
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(steps, steps[1:], strict=False))


def test_history_parsing() -> None:
    assert parse_history(None) == []
    assert parse_history("") == []
    assert parse_history('["a", "b"]') == ["a", "b"]
    assert parse_history(["a", "  ", 3, "b"]) == ["a", "b"]  # type: ignore[list-item]
    assert parse_history("just one question") == ["just one question"]
    assert parse_history('{"not": "a list"}') == []


# --- The handlers in-process, on real pipelines ---------------------------------------------


def test_chat_turn_streams_then_cites_and_remembers_the_question(pipeline: Any) -> None:
    handlers = ChatHandlers(lambda: pipeline)
    steps = list(handlers.respond(COVID, [], [], None))
    assert len(steps) >= 3  # the question, at least one partial answer, the final answer
    first_messages, _, textbox = steps[0]
    assert textbox == ""
    assert [m["role"] for m in first_messages] == ["user", "assistant"]
    messages, asked, _ = steps[-1]
    final = messages[-1]["content"]
    assert "73" in final and "<mark>" in final and "rag-cites" in final
    assert all("<mark>" not in m[0][-1]["content"] for m in steps[:-1])  # sources come last
    assert asked == [COVID]

    follow = list(handlers.respond("那疫苗接种呢？", messages, asked, "All documents"))[-1]
    assert "11万" in follow[0][-1]["content"] or "93.9%" in follow[0][-1]["content"]
    assert len(follow[0]) == 4 and follow[1] == [COVID, "那疫苗接种呢？"]

    empty = list(handlers.respond("   ", [], [], None))[-1]
    assert "Please type a question" in empty[0][-1]["content"]
    assert empty[1] == []  # a blank question is no context for the next one


def test_a_failure_is_a_friendly_message(
    settings: Settings, embeddings: Any, tmp_path: Any
) -> None:
    from rag.pipeline import Pipeline

    broken = settings.override(docs_dir=tmp_path / "missing", index_dir=tmp_path / "index")
    handlers = ChatHandlers(lambda: Pipeline(broken, embeddings=embeddings))
    assert handlers.status()["ready"] is False
    text, choices = handlers.status_text()
    assert text.startswith("Not ready") and choices == ["All documents"]

    result = handlers.ask(COVID)
    assert result == {"text": GENERIC_ERROR, "abstained": True, "citations": []}
    final = list(handlers.respond(COVID, [], [], None))[-1][0][-1]["content"]
    assert "Sorry, something went wrong" in final
    assert str(tmp_path) not in final and "Traceback" not in final
