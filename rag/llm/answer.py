"""The LLM answer, or the extractive one with a visible note: never an error.

Ties the other modules together: prompt, stream, verify. An endpoint problem or a
reply with nothing verifiable left falls back to the extractive answer, so turning
the LLM on can never make an answer less trustworthy than it was without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from rag.config import LLMSettings
from rag.llm.client import chat_model, failure_reason, stream_reply
from rag.llm.passages import PageOf
from rag.llm.prompt import build_prompt
from rag.llm.reply import cited_numbers, split_reply
from rag.llm.verify import LLMCheck, verify_reply
from rag.types import Answer

if TYPE_CHECKING:
    from rag.types import ScoredChunk

log = logging.getLogger(__name__)


def _with_checks(answer: Answer, check: LLMCheck, **changes: Any) -> Answer:
    values = {f.name: getattr(answer, f.name) for f in fields(Answer)}
    values.update(changes)
    if "checks" in values:  # rag.types.Answer has the field
        values["checks"] = {"mode": "llm", **asdict(check)}
    return Answer(**values)


def _fallback(extractive: Answer, check: LLMCheck, note: str) -> Answer:
    check.fell_back, check.passed, check.note = True, False, note
    shown = f"({note} — showing the extractive answer · 显示原文摘录答案)"
    return _with_checks(extractive, check, text=f"{extractive.text}\n{shown}")


def answer_with_llm(
    question: str,
    hits: Sequence[ScoredChunk],
    extractive: Answer,
    settings: LLMSettings,
    on_token: Callable[[str], None] | None = None,
    *,
    previous: str = "",
    page_of: PageOf | None = None,
) -> Answer:
    """The model's answer over ``hits``, verified; ``extractive`` when nothing survives.

    ``on_token`` gets the unverified reply so far, for display while it streams.
    ``previous`` is the earlier question a follow-up refers to; ``page_of`` gives the
    page of a source offset (PDF documents). Never raises for an endpoint problem
    and never waits much beyond ``settings.deadline_seconds``.
    """
    if not hits:
        return extractive
    started = time.monotonic()
    try:
        prompt = build_prompt(question, hits, previous)
        reply = stream_reply(chat_model(settings), prompt, settings.deadline_seconds, on_token)
    except ImportError:
        log.warning("RAG_LLM_* is set but langchain-openai is missing: pip install 'rag[llm]'")
        check = LLMCheck(passed=False, reasons=["langchain-openai is not installed"])
        return _fallback(extractive, check, "LLM unavailable: langchain-openai is not installed")
    except Exception as exc:  # any endpoint problem: the extractive answer, never an error
        reason = failure_reason(exc)
        log.warning(
            "LLM answer failed after %.1f s: %s (%r)", time.monotonic() - started, reason, exc
        )
        check = LLMCheck(passed=False, reasons=[reason])
        return _fallback(extractive, check, f"LLM unavailable: {reason}")
    text, citations, check = verify_reply(reply, hits, question, page_of)
    log.info(
        "LLM answer in %.1f s: %d sentence(s) kept, %d dropped",
        time.monotonic() - started,
        len(split_reply(reply)) - len(check.dropped_sentences),
        len(check.dropped_sentences),
    )
    if not text:
        note = (
            "LLM answer failed verification"
            if cited_numbers(reply)
            else "LLM gave no cited answer"  # e.g. "the passages do not say"
        )
        return _fallback(extractive, check, note)
    if check.dropped_sentences:
        check.note = f"{len(check.dropped_sentences)} unverified sentence(s) removed"
    return _with_checks(extractive, check, text=text, citations=citations, abstained=False)
