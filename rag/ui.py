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
from urllib.parse import quote

import gradio as gr

from rag.config import Settings
from rag.document_view import (
    EMPTY_VIEW,
    CitedSpan,
    document_view_html,
    scan_view,
    strip_heading_marks,
)
from rag.documents import DocumentError, add_document, list_documents, reindex, remove_document
from rag.embeddings import EmbeddingModelError
from rag.feedback import Feedback, record_feedback
from rag.http_limits import UPLOAD_CACHE
from rag.loaders import SUPPORTED_SUFFIXES
from rag.names import plain_markdown
from rag.ocr import PageReport, reporting_pages
from rag.pipeline import Pipeline, PipelineHolder, default_holder
from rag.store.base import IndexError_, Progress
from rag.types import Answer, Citation
from rag.ui_assets import COPY_PREFIX, HEAD, OPEN_PREFIX, SCROLL_TO_HIT, SHOW_LATEST_START
from rag.ui_assets import CSS as ASSETS_CSS

log = logging.getLogger(__name__)

ALL_DOCUMENTS = "All documents"
EXAMPLES = [
    "全年开展了多少轮全员核酸检测？",
    "How many rounds of COVID testing were carried out?",
    "2023年地区生产总值预期增长多少？",
    "新增数字经济企业多少家？",
]
LOADING = "Loading the model and the index… 正在加载模型和索引…"
LOADING_ANSWER = (
    "Loading the model… the answer follows in a moment. 正在加载模型，稍后回答…"
)
LOAD_FAILED = "Not ready: the model or the index failed to load. 加载失败。"
GENERIC_ERROR = (
    "抱歉，回答这个问题时出了点问题，请稍后再试。 "
    "Sorry, something went wrong while answering; please try again."
)
# A change that failed for a reason other than a refusal (documents.py puts the folder back).
ADD_FAILED = (
    "添加 {name} 时出错，未做任何更改。 Something went wrong adding {name}; nothing was "
    "changed; details in the server log."
)
REMOVE_FAILED = (
    "移除 {name} 时出错，未做任何更改。 Something went wrong removing {name}; nothing was "
    "changed; details in the server log."
)
REINDEX_FAILED = (
    "重建索引时出错，仍在使用原索引。 Something went wrong re-indexing; the index in use is "
    "unchanged; details in the server log."
)
CHANGES_OFF = (
    "此服务器未启用登录，不能添加或移除文档。 Adding and removing documents is off: this server "
    "listens beyond this machine without a login (set RAG_AUTH=user:password to allow it)."
)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
UNKNOWN_SOURCE = "没有这个文档。 There is no document of that name."
MAX_HISTORY = 20  # earlier questions kept per chat; only the latest ones matter
STREAM_DELAY_S = 0.04  # pause between streamed clauses, so the answer visibly grows
LLM_POLL_S = 0.1  # how often a streaming LLM reply is redrawn
CHECKING = " … (checking · 核对中)"  # shown after the unverified LLM reply while it streams

CSS = ASSETS_CSS  # launch(css=...) in rag.server; kept here for existing importers
ABSTAINED_HEAD = "ℹ Not found in the documents · 文档中没有找到答案"
MAX_TURNS = 50  # answers kept in the browser for a reload and for feedback

_CLAUSE_END = re.compile(r"(?<=[,，;；。！？!?：:、])")
_MARKER = re.compile(r"\[(\d{1,2})\]")


# --------------------------------------------------------------------------- rendering


def _text(value: object) -> str:
    """Escaped text with line breaks kept, safe inside any element.

    Newlines become ``<br>`` so that a message never contains a blank line,
    which would end the HTML block and hand the rest to the Markdown parser.
    """
    return html.escape(str(value)).replace("\r\n", "\n").replace("\n", "<br>")


def _attr(value: object) -> str:
    """``value`` escaped for an attribute; newlines as character references, so that a
    multi-line value never puts a blank line (the end of an HTML block) into a message."""
    return html.escape(str(value), quote=True).replace("\r", "").replace("\n", "&#10;")


def _open_href(c: Citation) -> str:
    """The link of a citation: the span in the URL fragment (the chat's sanitizer keeps only
    ``class`` and ``href``); the page script turns a click into the document view."""
    return _attr(OPEN_PREFIX + quote(CitedSpan(c.source, int(c.start), int(c.end)).encode()))


def _answer_text_html(text: str, answer: Answer | None = None) -> str:
    """The answer text, escaped; each [n] of a known citation a button opening it."""
    cites = answer.citations if answer is not None else []

    def marker(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if 1 <= n <= len(cites):
            c = cites[n - 1]
            return f'<a class="rag-ref" href="{_open_href(c)}">[{n}]</a>'
        return f'<sup class="rag-ref">[{n}]</sup>'

    return _MARKER.sub(marker, _text(text))


def where_text(c: Citation) -> str:
    """Where a quote is, for people: title, file, section, line or page."""
    parts = [c.title if c.title and c.title != c.source else "", c.source]
    if c.section:
        parts.append(strip_heading_marks(c.section))
    if c.period:
        parts.append(c.period)
    parts.append(f"page {int(c.page)}" if c.page is not None else f"line {int(c.line)}")
    return " · ".join(p for p in parts if p)


def _citation_html(n: int, c: Citation) -> str:
    """One cited passage: where it is (a button opening the document), the quote highlighted."""
    lo, hi = c.start - c.context_start, c.end - c.context_start
    shown = strip_heading_marks(c.quote)
    if c.context and 0 <= lo <= hi <= len(c.context) and c.context[lo:hi] == c.quote:
        before, after = strip_heading_marks(c.context[:lo]), strip_heading_marks(c.context[hi:])
        passage = f"{_text(before)}<mark>{_text(shown)}</mark>{_text(after)}"
    else:  # no usable context: the quote alone
        passage = f"<mark>{_text(shown)}</mark>"
    return (
        f'<div class="rag-cite"><div class="rag-cite-meta">'
        f'<a class="rag-open" href="{_open_href(c)}">[{n}]</a> '
        f"{_text(where_text(c))}</div>"
        f"<blockquote>{passage}</blockquote></div>"
    )


def citations_html(answer: Answer) -> str:
    """The cited passages under an answer; for an abstention, the closest ones, so labelled
    and folded away (they are not the answer)."""
    if not answer.citations:
        return ""
    items = "".join(_citation_html(n, c) for n, c in enumerate(answer.citations, 1))
    if answer.abstained:
        return (
            '<details class="rag-cites"><summary class="rag-cites-title">Closest passages '
            "(they do not answer the question) · 最接近的段落（并非答案）</summary>"
            f"{items}</details>"
        )
    return f'<div class="rag-cites"><div class="rag-cites-title">Sources · 引用</div>{items}</div>'


def plain_text(answer: Answer) -> str:
    """The answer as plain text, for the clipboard: the text with [n], then the numbered quotes."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", "Closest passages (not an answer):" if answer.abstained else "Sources:"]
    for n, c in enumerate(answer.citations, 1):
        lines += [f"[{n}] {where_text(c)}", f"    {c.quote}"]
    return "\n".join(lines)


def answer_html(text: str, answer: Answer | None = None) -> str:
    """An assistant message: the (partial) text, then the citations and a copy button once
    complete. An abstention has its own style and icon."""
    cites = citations_html(answer) if answer is not None else ""
    abstained = answer is not None and answer.abstained
    head = f'<div class="rag-abstained-head">{_text(ABSTAINED_HEAD)}</div>' if abstained else ""
    copy = (
        f'<a class="rag-copy" href="{_attr(COPY_PREFIX + quote(plain_text(answer)))}">'
        "Copy · 复制</a>"
        if answer is not None
        else ""
    )
    kind = "rag-answer rag-abstained" if abstained else "rag-answer"
    return (
        f'<div class="{kind}">{head}<div class="rag-answer-text">'
        f"{_answer_text_html(text, answer)}</div>{cites}{copy}</div>"
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
                "title": c.title or c.source,
                "section": c.section,
                "period": c.period,
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
        self.changes_allowed = True  # False: documents cannot be added or removed from the page

    def add_document(
        self, file_path: str | None, progress: Progress | None = None, replace: bool = False
    ) -> str:
        """Add an uploaded file to the documents (see :func:`rag.documents.add_document`).

        Returns a message for the page; never raises.
        """
        if not self.changes_allowed:
            return CHANGES_OFF
        if not file_path:
            return "请选择一个文件。 Choose a file to add."
        try:
            change = add_document(self.holder, Path(file_path), progress, replace=replace)
        except DocumentError as exc:
            return plain_markdown(exc)
        except Exception:
            log.exception("Adding %s failed", file_path)
            return ADD_FAILED.format(name=plain_markdown(Path(file_path).name))
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
            known = ", ".join(pipeline.sources[:20]) or "none"
            return Answer(f"{UNKNOWN_SOURCE} Documents: {known}.", [], True)
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
        """Whether the model and the index are loaded, and what is indexed; answers at
        once while they are still loading (``"loading": true``)."""
        if self.holder.loading:
            return {"ready": False, "loading": True, "documents": 0, "chunks": 0, "sources": []}
        return self._status()

    def _status(self) -> dict[str, Any]:
        """:meth:`status`, waiting for a load under way."""
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

    def status_text(self) -> tuple[str, list[Any]]:
        """The status line and the document filter's choices (title, name), loading if needed."""
        info = self._status()
        if not info["ready"]:
            return f"{LOAD_FAILED} {_text(info['error'])}", [ALL_DOCUMENTS]
        docs, chunks = info["documents"], info["chunks"]
        text = (
            f"Ready: {docs} document{'s' if docs != 1 else ''}, "
            f"{chunks} chunk{'s' if chunks != 1 else ''}"
        )
        if "warning" in info:
            text += f" ⚠ {_text(info['warning'])}"
        return text, [(ALL_DOCUMENTS, ALL_DOCUMENTS), *self.document_choices()]

    def document_choices(self) -> list[tuple[str, str]]:
        """(title, file name) of each indexed document, for the menus."""
        p = self.holder.get()
        titles = getattr(p, "titles", {})
        return [
            (f"{titles[n]} ({n})" if titles.get(n, n) != n else n, n) for n in p.sources
        ]

    # ----------------------------------------------------------------- the document view

    def open_document(self, value: str | None) -> str:
        """The document view for a clicked citation (``CitedSpan`` JSON); never raises."""
        span = CitedSpan.decode(value or "")
        if span is None:
            return EMPTY_VIEW
        try:
            p = self.holder.get()
        except Exception:
            log.exception("Loading the pipeline failed")
            return EMPTY_VIEW
        text = p.store.texts.get(span.source)
        if text is None or not 0 <= span.start <= span.end <= len(text):
            return (
                '<div class="rag-doc-empty">That document is no longer indexed. '
                "该文档已不在索引中。</div>"
            )
        section = next(
            (
                s.section
                for s in p.store.sentences
                if s.source == span.source and s.start <= span.start < s.end
            ),
            "",
        )
        scan = scan_view(
            p.store.ocr_lines.get(span.source),
            span,
            p.settings.documents.docs_dir / span.source,
            p.store.manifest.get("sources", {}).get(span.source),
        )
        return document_view_html(
            getattr(p, "titles", {}).get(span.source, span.source),
            span,
            text,
            section,
            text.count("\n", 0, span.start) + 1,
            p.records.page_at(span.source, span.start),
            scan,
        )

    # ----------------------------------------------------------------- the documents panel

    def documents_html(self) -> str:
        """The indexed documents as a table: title, file, type, size, chunks, when changed."""
        try:
            docs = list_documents(self.holder.get())
        except Exception:
            log.exception("Listing the documents failed")
            return f"<p>{_text(LOAD_FAILED)}</p>"
        rows = "".join(
            "<tr>"
            f"<td>{_text(d.title)}</td><td>{_text(d.name)}</td><td>{_text(d.kind)}</td>"
            f"<td>{f'{d.pages} pages' if d.pages else f'{d.lines} lines'}</td>"
            f"<td>{d.chunks}</td>"
            f"<td>{_when(d.modified)}</td>"
            "</tr>"
            for d in docs
        )
        return (
            "<table><thead><tr><th>Title · 标题</th><th>File · 文件</th><th>Type</th>"
            "<th>Size</th><th>Chunks</th><th>Added or changed · 加入时间</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

    def remove_document(self, name: str | None, progress: Progress | None = None) -> str:
        """Remove one document (:func:`rag.documents.remove_document`); a message, never raises."""
        if not self.changes_allowed:
            return CHANGES_OFF
        if not name:
            return "请选择要移除的文档。 Choose a document to remove."
        try:
            return _text(remove_document(self.holder, str(name), progress).message)
        except DocumentError as exc:
            return _text(exc)
        except Exception:
            log.exception("Removing %s failed", name)
            return REMOVE_FAILED.format(name=_text(name))

    def reindex(self, progress: Progress | None = None) -> str:
        """Bring the index up to date with the documents folder; a message, never raises."""
        if not self.changes_allowed:
            return CHANGES_OFF
        try:
            p = reindex(self.holder, progress)
        except Exception:
            log.exception("Re-indexing failed")
            return REINDEX_FAILED
        embedded = p.store.manifest.get("embedded", 0)
        return _text(
            f"Index up to date: {len(p.sources)} documents, {len(p.store.chunks)} chunks "
            f"({embedded} texts embedded). 索引已更新。"
        )

    # ----------------------------------------------------------------- feedback

    def feedback(self, turns: list[dict[str, Any]] | None, index: Any, liked: Any) -> str:
        """Record 👍/👎 on the answer at chat message ``index``; a short message for the page."""
        position = index[0] if isinstance(index, (list, tuple)) else index
        turn = next((t for t in turns or [] if t.get("index") == position), None)
        if turn is None:
            return ""
        verdict = "up" if liked is True or str(liked).lower() in ("like", "true", "up") else "down"
        answer = turn.get("answer") or {}
        try:
            record_feedback(
                self.holder.get().settings.store.index_dir,
                Feedback(
                    question=str(turn.get("question", "")),
                    answer=str(answer.get("text", "")),
                    verdict=verdict,
                    citations=list(answer.get("citations", [])),
                ),
            )
        except Exception:
            log.exception("Recording feedback failed")
            return GENERIC_ERROR
        return "Thanks for the feedback. 感谢反馈。"

    # ----------------------------------------------------------------- a chat turn

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
        for messages_now, earlier, box, _ in self._turn(question, messages, asked, source):
            yield messages_now, earlier, box

    def respond_and_save(
        self,
        question: str,
        messages: list[dict[str, Any]] | None,
        asked: list[str] | None,
        source: str | None,
        saved: dict[str, Any] | None,
    ) -> Iterator[tuple[list[dict[str, Any]], list[str], str, dict[str, Any]]]:
        """:meth:`respond`, also keeping the chat in the browser (for a reload and feedback)."""
        saved = dict(saved or {})
        for messages_now, earlier, box, result in self._turn(question, messages, asked, source):
            if result is not None:
                turns = list(saved.get("turns") or [])
                turns.append(
                    {
                        "index": len(messages_now) - 1,
                        "question": question,
                        "answer": answer_to_dict(result),
                    }
                )
                saved = {
                    "messages": messages_now,
                    "asked": earlier,
                    "turns": turns[-MAX_TURNS:],
                }
            yield messages_now, earlier, box, saved

    def _turn(
        self,
        question: str,
        messages: list[dict[str, Any]] | None,
        asked: list[str] | None,
        source: str | None,
    ) -> Iterator[tuple[list[dict[str, Any]], list[str], str, Answer | None]]:
        """The steps of one turn, the last with its answer (None before, and on failure)."""
        question = question or ""
        messages = list(messages or [])
        earlier = list(asked or [])
        if question.strip():
            messages.append({"role": "user", "content": question_html(question)})
        waiting = "…" if self.holder.loaded else LOADING_ANSWER
        messages.append({"role": "assistant", "content": answer_html(waiting)})
        yield list(messages), earlier, "", None
        streamed = False
        try:
            if question.strip() and self.uses_llm():
                streamed = True
                stream = self._answer_streaming(question, earlier, source, messages)
                out: list[Answer] = []
                for shown, before, box in _returning(stream, out):
                    yield shown, before, box, None
                result = out[0]
            else:
                result = self.answer(question, earlier, source)
        except Exception:
            log.exception("Answering in the chat failed")
            messages[-1] = {"role": "assistant", "content": answer_html(GENERIC_ERROR)}
            yield list(messages), earlier, "", None
            return
        if question.strip() and not (result.abstained and not result.citations):
            earlier = [*earlier, question][-MAX_HISTORY:]  # only real questions give context
        for partial in [] if streamed else clauses(result.text)[:-1]:
            messages[-1] = {"role": "assistant", "content": answer_html(partial)}
            yield list(messages), earlier, "", None
            time.sleep(STREAM_DELAY_S)
        messages[-1] = {"role": "assistant", "content": answer_html(result.text, result)}
        yield list(messages), earlier, "", result


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else ""


def _returning(generator: Iterator[Any], out: list[Any]) -> Iterator[Any]:
    """Yield what ``generator`` yields; put its return value into ``out``."""
    out.append((yield from generator))


def build_ui(settings: Settings | None = None, pipelines: PipelineHolder | None = None
             ) -> gr.Blocks:
    """The chat app. The pipeline is loaded once, when the app starts, not per question
    (``rag serve`` warms it up in the background before launching)."""
    settings = settings or Settings.from_env()
    handlers = ChatHandlers(pipelines)
    server = settings.server
    # Beyond this machine, only a logged-in user may change the documents.
    handlers.changes_allowed = server.auth is not None or server.host in _LOOPBACK
    max_upload_mb = settings.documents.max_upload_bytes // 2**20

    def menus(current: str | None = None) -> tuple[str, Any, Any, str]:
        text, choices = handlers.status_text()
        values = [c[1] if isinstance(c, tuple) else c for c in choices]
        value = current if current in values else ALL_DOCUMENTS
        removable = [c for c in choices if isinstance(c, tuple) and c[1] != ALL_DOCUMENTS]
        return (
            text,
            gr.Dropdown(choices=choices, value=value),
            gr.Dropdown(choices=removable, value=None),
            handlers.documents_html() if text.startswith("Ready") else "",
        )

    def on_load(saved: dict[str, Any] | None) -> tuple[Any, ...]:
        saved = saved or {}
        return (
            *menus(),
            list(saved.get("messages") or []),
            list(saved.get("asked") or []),
        )

    def clear() -> tuple[list[dict[str, Any]], list[str], str, dict[str, Any], str]:
        return [], [], "", {}, EMPTY_VIEW

    def bar(progress: gr.Progress) -> Progress:
        def report(done: int, total: int) -> None:
            progress((done, total), desc="Embedding · 正在建立索引", unit="texts")

        return report

    def pages(progress: gr.Progress) -> PageReport:
        def report(name: str, done: int, total: int) -> None:
            progress((done, total), desc=f"OCR {name} · 正在识别扫描页", unit="pages")

        return report

    def on_upload(
        file_path: str | None,
        replace: bool,
        current: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio injects it
    ) -> tuple[Any, ...]:
        with reporting_pages(pages(progress)):
            message = handlers.add_document(file_path, bar(progress), replace=bool(replace))
        return (message, *menus(current), None)

    def on_remove(
        name: str | None,
        current: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio injects it
    ) -> tuple[Any, ...]:
        message = handlers.remove_document(name, bar(progress))
        return (message, *menus(current))

    def on_reindex(
        current: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio injects it
    ) -> tuple[Any, ...]:
        with reporting_pages(pages(progress)):
            message = handlers.reindex(bar(progress))
        return (message, *menus(current))

    def on_like(saved: dict[str, Any] | None, like: gr.LikeData) -> str:
        return handlers.feedback((saved or {}).get("turns"), like.index, like.liked)

    with gr.Blocks(
        title="Work report QA · 政府工作报告问答",
        analytics_enabled=False,
        delete_cache=UPLOAD_CACHE,  # uploads are copied to the documents folder: drop the temp
    ) as demo:
        gr.Markdown(
            "## 政府工作报告问答 · Work report QA\n"
            "Ask about the town government work report in Chinese or English. Every answer "
            "quotes the report and cites where the quote comes from; click a citation [n] "
            "to read it in its document."
        )
        status_line = gr.Markdown(LOADING, elem_id="status")
        asked = gr.State([])
        saved = gr.BrowserState({}, storage_key="rag-chat")
        with gr.Row():
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    elem_id="chatbot",
                    label="Chat",
                    height=560,
                    latex_delimiters=[],
                    buttons=[],
                    feedback_options=("Like", "Dislike"),
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
                feedback_message = gr.Markdown("", elem_id="feedback-message")
                source = gr.Dropdown(
                    choices=[ALL_DOCUMENTS],
                    value=ALL_DOCUMENTS,
                    label="Document · 文档",
                    elem_id="source",
                )
            with gr.Column(scale=2, min_width=300):
                doc_view = gr.HTML(EMPTY_VIEW, elem_id="doc-view", label="Document view")
        open_ref = gr.Textbox(elem_id="open-ref", visible="hidden", show_label=False)
        gr.Examples(EXAMPLES, inputs=question, label="Examples · 示例问题")
        with gr.Accordion("Documents · 文档管理", open=False, elem_id="documents"):
            documents_table = gr.HTML("", elem_id="documents-table")
            with gr.Row():
                to_remove = gr.Dropdown(
                    choices=[], value=None, label="Remove a document · 移除文档",
                    elem_id="remove-choice", scale=3,
                )
                remove_btn = gr.Button("Remove · 移除", elem_id="remove", variant="stop", scale=1)
                reindex_btn = gr.Button("Re-index · 重建索引", elem_id="reindex", scale=1)
            upload = gr.File(
                label=f"Add a document · 添加文档 ({max_upload_mb} MB max)",
                file_types=list(SUPPORTED_SUFFIXES),
                type="filepath",
                elem_id="upload",
                height=110,
                interactive=handlers.changes_allowed,
            )
            replace = gr.Checkbox(
                False,
                label="Replace a document of the same name (the old one is kept) · 替换同名文档",
                elem_id="replace",
                interactive=handlers.changes_allowed,
            )
            upload_message = gr.Markdown(
                "" if handlers.changes_allowed else CHANGES_OFF, elem_id="upload-message"
            )

        chat_args = {
            "fn": handlers.respond_and_save,
            "inputs": [question, chatbot, asked, source, saved],
            "outputs": [chatbot, asked, question, saved],
            "api_visibility": "private",
            "concurrency_id": "rag",
            "show_progress": "minimal",
        }
        for trigger in (question.submit, send.click):
            trigger(**chat_args).then(
                None, js=SHOW_LATEST_START, api_visibility="private", queue=False
            )
        clear_btn.click(
            clear,
            outputs=[chatbot, asked, question, saved, doc_view],
            api_visibility="private",
            queue=False,
        )
        # The chatbot's own trash icon empties the chat; forget its questions too.
        chatbot.clear(
            lambda: ([], {}), outputs=[asked, saved], api_visibility="private", queue=False
        )
        chatbot.like(
            on_like, inputs=saved, outputs=feedback_message, api_visibility="private"
        )
        open_ref.change(
            handlers.open_document,
            inputs=open_ref,
            outputs=doc_view,
            api_visibility="private",
            concurrency_limit=None,
        ).then(None, js=SCROLL_TO_HIT, api_visibility="private", queue=False)
        panel = [status_line, source, to_remove, documents_table]
        demo.load(
            on_load,
            inputs=saved,
            outputs=[*panel, chatbot, asked],
            api_visibility="private",
            concurrency_limit=None,
        )
        upload.upload(
            on_upload,
            inputs=[upload, replace, source],
            outputs=[upload_message, *panel, upload],
            api_visibility="private",
            concurrency_limit=1,
            show_progress="full",
        )
        remove_btn.click(
            on_remove,
            inputs=[to_remove, source],
            outputs=[upload_message, *panel],
            api_visibility="private",
            concurrency_limit=1,
        )
        reindex_btn.click(
            on_reindex,
            inputs=source,
            outputs=[upload_message, *panel],
            api_visibility="private",
            concurrency_limit=1,
        )
        gr.api(handlers.ask, api_name="ask", concurrency_id="rag")
        gr.api(handlers.status, api_name="status", concurrency_limit=None)

    demo.queue(
        default_concurrency_limit=settings.server.concurrency,
        max_size=settings.server.queue_size,
    )
    return demo


__all__ = ["CSS", "HEAD", "ChatHandlers", "answer_html", "answer_to_dict", "build_ui"]
