"""The OpenAI-compatible chat endpoint, reached through LangChain's ``ChatOpenAI``.

``langchain_openai`` is imported only when a model is first used, so that extractive
answers never pay for it. Streaming lets the UI show the reply as it is written and
lets a deadline bound the whole reply, not just each network wait; every failure
becomes a short reason (``timeout``, ``HTTP 500`` …) instead of an exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rag.config import LLMSettings

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.prompt_values import PromptValue


class LLMUnavailable(RuntimeError):
    """The endpoint did not give a usable reply; ``str(self)`` is the short reason."""


@lru_cache(maxsize=8)
def chat_model(settings: LLMSettings) -> BaseChatModel:
    """The LangChain chat model for ``settings`` (one client per settings, reused)."""
    from langchain_openai import ChatOpenAI

    # Plain chat completions, which every OpenAI-compatible server speaks (the option exists
    # from langchain-openai 0.3.9; older versions never use the Responses API).
    extra = {"use_responses_api": False} if "use_responses_api" in ChatOpenAI.model_fields else {}
    return ChatOpenAI(
        model=settings.model,
        base_url=settings.base_url,
        # Never fall back to OPENAI_API_KEY: that key must not go to an arbitrary endpoint.
        api_key=settings.api_key or "not-needed",
        timeout=settings.timeout,
        max_retries=0,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        streaming=True,
        **extra,
    )


def _chunk_text(chunk: Any) -> str:
    content = getattr(chunk, "content", "")
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in content
    )


def failure_reason(exc: BaseException) -> str:
    """A short, user-facing name for what went wrong."""
    try:
        import httpx
        import openai
    except ImportError:  # pragma: no cover - both come with langchain-openai
        return type(exc).__name__
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, LLMUnavailable):
            return str(current)
        if isinstance(current, (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)):
            return "timeout"
        if isinstance(current, openai.APIStatusError):
            return f"HTTP {current.status_code}"
        if isinstance(current, (openai.APIConnectionError, httpx.TransportError, OSError)):
            return "connection error"
        current = current.__cause__ or current.__context__
    return type(exc).__name__


def stream_reply(
    llm: BaseChatModel,
    prompt: PromptValue,
    deadline_seconds: float,
    on_token: Callable[[str], None] | None = None,
) -> str:
    """The model's whole reply, streamed; raises :class:`LLMUnavailable` on a useless one."""
    deadline = time.monotonic() + deadline_seconds
    text, refused = "", False
    with closing(iter(llm.stream(prompt))) as stream:
        for chunk in stream:
            refused = refused or bool(getattr(chunk, "additional_kwargs", {}).get("refusal"))
            piece = _chunk_text(chunk)
            if piece:
                text += piece
                if on_token is not None:
                    on_token(text)
            if time.monotonic() > deadline:
                raise LLMUnavailable("timeout")
    if refused and not text.strip():
        raise LLMUnavailable("refused")
    if not text.strip():
        raise LLMUnavailable("empty reply")
    return text
