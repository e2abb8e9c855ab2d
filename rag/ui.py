"""The Gradio chat UI: cited, streamed answers over the indexed reports.

Everything shown in the page passes through :func:`html.escape` before any
markup is added, so questions and document text are always displayed as text.
The same answer function is exposed as the API endpoint ``/ask``. A document
uploaded in the page is copied into the documents folder, indexed incrementally
and swapped in without a restart.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from rag.config import Settings
from rag.documents import DocumentError, add_document
from rag.embeddings import EmbeddingModelError
from rag.http_limits import UPLOAD_CACHE
from rag.loaders import SUPPORTED_SUFFIXES
from rag.names import plain_markdown
from rag.pipeline import Pipeline, PipelineHolder, default_holder
from rag.store.base import IndexError_, Progress
from rag.types import Answer, Citation

log = logging.getLogger(__name__)

ALL_DOCUMENTS = "All documents"
EXAMPLES = [
    "全年开展了多少轮全员核酸检测？",
    "How many rounds of COVID testing were carried out?",
    "2023年地区生产总值预期增长多少？",
    "新增数字经济企业多少家？",
]
LOADING = "Loading the model and the index… 正在加载模型和索引…"
LOAD_FAILED = "Not ready: the model or the index failed to load. 加载失败。"
GENERIC_ERROR = (
    "抱歉，回答这个问题时出了点问题，请稍后再试。 "
    "Sorry, something went wrong while answering; please try again."
)
UNKNOWN_SOURCE = "没有这个文档。 There is no document of that name."
MAX_HISTORY = 20  # earlier questions kept per chat; only the latest ones matter
STREAM_DELAY_S = 0.04  # pause between streamed clauses, so the answer visibly grows
LLM_POLL_S = 0.1  # how often a streaming LLM reply is redrawn
CHECKING = " … (checking · 核对中)"  # shown after the unverified LLM reply while it streams

# Styles for the markup below; Gradio 6 takes CSS at launch(), so app.py passes this on.
CSS = """
#chatbot .rag-answer-text { margin: 0 0 .4em 0; }
#chatbot .rag-ref { color: var(--color-accent); font-weight: 600; }
#chatbot .rag-cites { margin-top: .6em; border-top: 1px solid var(--border-color-primary);
  padding-top: .4em; font-size: .92em; }
#chatbot .rag-cites-title { font-weight: 600; margin-bottom: .3em; }
#chatbot .rag-cite { margin: .4em 0 .7em 0; }
#chatbot .rag-cite-meta { color: var(--body-text-color-subdued); font-size: .9em; }
#chatbot .rag-cite blockquote { margin: .2em 0 0 0; padding: .3em .6em;
  border-left: 3px solid var(--color-accent); }
#chatbot mark { background: #ffe58a; color: #000; padding: 0 .1em; }
#status { font-size: .95em; }
"""

_CLAUSE_END = re.compile(r"(?<=[,，;；。！？!?：:、])")
_MARKER = re.compile(r"\[(\d{1,2})\]")


# --------------------------------------------------------------------------- rendering


def _text(value: object) -> str:
    """Escaped text with line breaks kept, safe inside any element.

    Newlines become ``<br>`` so that a message never contains a blank line,
    which would end the HTML block and hand the rest to the Markdown parser.
    """
    return html.escape(str(value)).replace("\r\n", "\n").replace("\n", "<br>")


def _answer_text_html(text: str) -> str:
    """The answer text, escaped, with the [n] markers set off."""
    return _MARKER.sub(r'<sup class="rag-ref">[\1]</sup>', _text(text))


def _citation_html(n: int, c: Citation) -> str:
    """One cited passage: where it is, and its chunk with the quote highlighted."""
    where = [f"<b>[{n}]</b> {_text(c.source)}"]
    if c.section:
        where.append(_text(c.section))
    where.append(f"page {int(c.page)}" if c.page is not None else f"line {int(c.line)}")
    lo, hi = c.start - c.context_start, c.end - c.context_start
    if c.context and 0 <= lo <= hi <= len(c.context) and c.context[lo:hi] == c.quote:
        passage = f"{_text(c.context[:lo])}<mark>{_text(c.quote)}</mark>{_text(c.context[hi:])}"
    else:  # no usable context: the quote alone
        passage = f"<mark>{_text(c.quote)}</mark>"
    return (
        f'<div class="rag-cite"><div class="rag-cite-meta">{" · ".join(where)}</div>'
        f"<blockquote>{passage}</blockquote></div>"
    )


def citations_html(answer: Answer) -> str:
    """The cited passages under an answer; for an abstention, the closest ones, so labelled."""
    if not answer.citations:
        return ""
    title = (
        "Closest passages (they do not answer the question) · 最接近的段落（并非答案）"
        if answer.abstained
        else "Sources · 引用"
    )
    items = "".join(_citation_html(n, c) for n, c in enumerate(answer.citations, 1))
    return f'<div class="rag-cites"><div class="rag-cites-title">{title}</div>{items}</div>'


def answer_html(text: str, answer: Answer | None = None) -> str:
    """An assistant message: the (partial) text, then the citations once complete."""
    cites = citations_html(answer) if answer is not None else ""
    return (
        f'<div class="rag-answer"><div class="rag-answer-text">{_answer_text_html(text)}</div>'
        f"{cites}</div>"
    )


def question_html(question: str, limit: int = 600) -> str:
    """The user's message as plain text (a very long one shortened for display)."""
    shown = question if len(question) <= limit else question[:limit] + "…"
    return f'<div class="rag-question">{_text(shown)}</div>'


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The JSON shape of an answer returned by the ``/ask`` API."""
    return {
        "text": answer.text,
        "abstained": bool(answer.abstained),
        "citations": [
            {
                "quote": c.quote,
                "source": c.source,
                "section": c.section,
                "line": int(c.line),
                "start": int(c.start),
                "end": int(c.end),
                "score": round(float(c.score), 4),
            }
            for c in answer.citations
        ],
        **({"checks": answer.checks} if getattr(answer, "checks", None) else {}),
    }


def clauses(text: str) -> list[str]:
    """Growing prefixes of ``text``, one clause longer each, for streaming."""
    parts = [p for p in _CLAUSE_END.split(text) if p]
    out, acc = [], ""
    for part in parts:
        acc += part
        out.append(acc)
    return out or [text]


# --------------------------------------------------------------------------- inputs


def parse_history(history: Sequence[str] | str | None) -> list[str]:
    """Earlier questions from a list, a JSON list, or a single string; anything else → none."""
    if history is None:
        return []
    if isinstance(history, str):
        stripped = history.strip()
        if not stripped:
            return []
        try:
            decoded = json.loads(stripped)
        except ValueError:
            return [stripped]
        if isinstance(decoded, str):
            return [decoded]
        history = decoded if isinstance(decoded, list) else []
    if not isinstance(history, (list, tuple)):
        return []
    return [str(q) for q in history if isinstance(q, str) and q.strip()][-MAX_HISTORY:]


def _source_or_none(source: str | None) -> str | None:
    if source is None:
        return None
    source = str(source).strip()
    return None if not source or source == ALL_DOCUMENTS else source


# --------------------------------------------------------------------------- the UI


class ChatHandlers:
    """The event handlers of one UI, sharing one lazily loaded pipeline.

    Kept apart from the layout so that they can be called directly, e.g. in tests.
    """

    def __init__(self, pipelines: PipelineHolder | Callable[[], Pipeline] | None = None) -> None:
        """``pipelines``: a holder to share, or a factory for a pipeline of its own."""
        if isinstance(pipelines, PipelineHolder):
            self.holder = pipelines
        else:
            self.holder = PipelineHolder(pipelines) if pipelines else default_holder()

    def add_document(self, file_path: str | None, progress: Progress | None = None) -> str:
        """Add an uploaded file to the documents (see :func:`rag.documents.add_document`).

        Returns a message for the page; never raises.
        """
        if not file_path:
            return "请选择一个文件。 Choose a file to add."
        try:
            change = add_document(self.holder, Path(file_path), progress)
        except DocumentError as exc:
            return plain_markdown(exc)
        except Exception:
            log.exception("Adding %s failed", file_path)
            return GENERIC_ERROR
        return plain_markdown(change.message)

    def answer(
        self,
        question: str,
        history: Sequence[str],
        source: str | None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Ask the pipeline (raises on failure); an unknown document is a friendly answer."""
        pipeline = self.holder.get()
        chosen = _source_or_none(source)
        if chosen is not None and chosen not in pipeline.sources:
            return Answer(UNKNOWN_SOURCE, [], True)
        started = time.perf_counter()
        result = pipeline.query(
            question or "", history=list(history), source=chosen, on_token=on_token
        )
        log.info(
            "Answered a %d-character question in %.2f s (abstained=%s, %d citations)",
            len(question or ""),
            time.perf_counter() - started,
            result.abstained,
            len(result.citations),
        )
        return result

    def ask(
        self, question: str, history: list[str] | str | None = None, source: str | None = None
    ) -> dict[str, Any]:
        """Answer a question about the documents, with citations.

        history: the earlier questions of the conversation, oldest first (a list or JSON list).
        source: a document name to search only that document; empty for all.
        """
        try:
            return answer_to_dict(self.answer(str(question or ""), parse_history(history), source))
        except Exception:
            log.exception("The /ask API failed")
            return {"text": GENERIC_ERROR, "abstained": True, "citations": []}

    def uses_llm(self) -> bool:
        """Whether answers come from an LLM (and so stream as the model writes)."""
        return getattr(self.holder.get().settings, "llm", None) is not None

    def _answer_streaming(
        self,
        question: str,
        earlier: list[str],
        source: str | None,
        messages: list[dict[str, Any]],
    ) -> Iterator[tuple[list[dict[str, Any]], list[str], str]]:
        """Answer in a worker thread, showing the model's (unverified) reply as it grows.

        Returns the final answer (``yield from``); re-raises the worker's exception.
        """
        latest = [""]
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["answer"] = self.answer(
                    question, earlier, source, on_token=lambda text: latest.__setitem__(0, text)
                )
            except Exception as exc:  # handed to the caller below
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="rag-llm-answer", daemon=True)
        worker.start()
        shown = ""
        while worker.is_alive():
            worker.join(LLM_POLL_S)
            if latest[0] != shown:
                shown = latest[0]
                messages[-1] = {"role": "assistant", "content": answer_html(shown + CHECKING)}
                yield list(messages), earlier, ""
        if "error" in outcome:
            raise outcome["error"]
        return outcome["answer"]

    def status(self) -> dict[str, Any]:
        """Whether the model and the index are loaded, and what is indexed."""
        try:
            p = self.holder.get()
        except Exception as exc:
            log.exception("Loading the pipeline failed")
            actionable = isinstance(exc, (IndexError_, EmbeddingModelError))
            return {"ready": False, "documents": 0, "chunks": 0, "sources": [],
                    "error": str(exc) if actionable else "see the server log"}
        return {
            "ready": True,
            "documents": len(p.sources),
            "chunks": len(p.store.chunks),
            "sources": list(p.sources),
            **({"warning": p.store.warning} if p.store.warning else {}),
        }

    def status_text(self) -> tuple[str, list[str]]:
        """The status line and the document filter's choices, loading the pipeline if needed."""
        info = self.status()
        if not info["ready"]:
            return f"{LOAD_FAILED} {_text(info['error'])}", [ALL_DOCUMENTS]
        docs, chunks = info["documents"], info["chunks"]
        text = (
            f"Ready: {docs} document{'s' if docs != 1 else ''}, "
            f"{chunks} chunk{'s' if chunks != 1 else ''}"
        )
        if "warning" in info:
            text += f" ⚠ {_text(info['warning'])}"
        return text, [ALL_DOCUMENTS, *info["sources"]]

    def respond(
        self,
        question: str,
        messages: list[dict[str, Any]] | None,
        asked: list[str] | None,
        source: str | None,
    ) -> Iterator[tuple[list[dict[str, Any]], list[str], str]]:
        """Stream one turn: the question, the answer clause by clause, then its sources.

        Yields (chat messages, earlier questions, new textbox value). Never raises:
        a failure becomes a generic message in the chat and a stack trace in the log.
        """
        question = question or ""
        messages = list(messages or [])
        earlier = list(asked or [])
        if question.strip():
            messages.append({"role": "user", "content": question_html(question)})
        messages.append({"role": "assistant", "content": answer_html("…")})
        yield list(messages), earlier, ""
        streamed = False
        try:
            if question.strip() and self.uses_llm():
                streamed = True
                result = yield from self._answer_streaming(question, earlier, source, messages)
            else:
                result = self.answer(question, earlier, source)
        except Exception:
            log.exception("Answering in the chat failed")
            messages[-1] = {"role": "assistant", "content": answer_html(GENERIC_ERROR)}
            yield list(messages), earlier, ""
            return
        if question.strip() and not (result.abstained and not result.citations):
            earlier = [*earlier, question][-MAX_HISTORY:]  # only real questions give context
        for partial in [] if streamed else clauses(result.text)[:-1]:
            messages[-1] = {"role": "assistant", "content": answer_html(partial)}
            yield list(messages), earlier, ""
            time.sleep(STREAM_DELAY_S)
        messages[-1] = {"role": "assistant", "content": answer_html(result.text, result)}
        yield list(messages), earlier, ""


def build_ui(settings: Settings | None = None, pipelines: PipelineHolder | None = None
             ) -> gr.Blocks:
    """The chat app. The pipeline is loaded once, when the app starts, not per question
    (``rag serve`` warms it up in the background before launching)."""
    settings = settings or Settings.from_env()
    handlers = ChatHandlers(pipelines)
    max_upload_mb = settings.documents.max_upload_bytes // 2**20

    def on_load() -> tuple[str, Any]:
        text, choices = handlers.status_text()
        return text, gr.Dropdown(choices=choices, value=ALL_DOCUMENTS)

    def clear() -> tuple[list[dict[str, Any]], list[str], str]:
        return [], [], ""

    def on_upload(
        file_path: str | None,
        current: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio injects it
    ) -> tuple[str, str, Any, None]:
        def report(done: int, total: int) -> None:
            progress((done, total), desc="Embedding · 正在建立索引", unit="texts")

        message = handlers.add_document(file_path, report)
        text, choices = handlers.status_text()
        value = current if current in choices else ALL_DOCUMENTS
        return message, text, gr.Dropdown(choices=choices, value=value), None

    with gr.Blocks(
        title="Work report QA · 政府工作报告问答",
        analytics_enabled=False,
        delete_cache=UPLOAD_CACHE,  # uploads are copied to the documents folder: drop the temp
    ) as demo:
        gr.Markdown(
            "## 政府工作报告问答 · Work report QA\n"
            "Ask about the town government work report in Chinese or English. Every answer "
            "quotes the report and cites where the quote comes from."
        )
        status_line = gr.Markdown(LOADING, elem_id="status")
        asked = gr.State([])
        chatbot = gr.Chatbot(
            elem_id="chatbot",
            label="Chat",
            height=560,
            latex_delimiters=[],
            buttons=["copy"],
            feedback_options=None,
            sanitize_html=True,
            placeholder="问一个关于报告的问题 · Ask a question about the report",
        )
        with gr.Row():
            question = gr.Textbox(
                elem_id="question",
                show_label=False,
                placeholder="例如：全年开展了多少轮全员核酸检测？",
                lines=1,
                max_lines=4,
                scale=6,
                autofocus=True,
            )
            send = gr.Button("Send · 发送", variant="primary", elem_id="send", scale=1)
            clear_btn = gr.Button("Clear · 清空", elem_id="clear", scale=1)
        with gr.Row():
            source = gr.Dropdown(
                choices=[ALL_DOCUMENTS],
                value=ALL_DOCUMENTS,
                label="Document · 文档",
                elem_id="source",
                scale=2,
            )
            upload = gr.File(
                label=f"Add a document · 添加文档 ({max_upload_mb} MB max)",
                file_types=list(SUPPORTED_SUFFIXES),
                type="filepath",
                elem_id="upload",
                height=110,
                scale=3,
            )
        upload_message = gr.Markdown("", elem_id="upload-message")
        gr.Examples(EXAMPLES, inputs=question, label="Examples · 示例问题")

        chat_args = {
            "fn": handlers.respond,
            "inputs": [question, chatbot, asked, source],
            "outputs": [chatbot, asked, question],
            "api_visibility": "private",
            "concurrency_id": "rag",
            "show_progress": "minimal",
        }
        question.submit(**chat_args)
        send.click(**chat_args)
        clear_btn.click(
            clear, outputs=[chatbot, asked, question], api_visibility="private", queue=False
        )
        # The chatbot's own trash icon empties the chat; forget its questions too.
        chatbot.clear(lambda: [], outputs=asked, api_visibility="private", queue=False)
        demo.load(
            on_load,
            outputs=[status_line, source],
            api_visibility="private",
            concurrency_limit=None,
        )
        upload.upload(
            on_upload,
            inputs=[upload, source],
            outputs=[upload_message, status_line, source, upload],
            api_visibility="private",
            concurrency_limit=1,
            show_progress="full",
        )
        gr.api(handlers.ask, api_name="ask", concurrency_id="rag")
        gr.api(handlers.status, api_name="status", concurrency_limit=None)

    demo.queue(
        default_concurrency_limit=settings.server.concurrency,
        max_size=settings.server.queue_size,
    )
    return demo
