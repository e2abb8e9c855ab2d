"""Where the chat model is, read from ``RAG_LLM_*``.

Kept apart, with nothing heavier than the standard library, because the settings are
read at start-up by every entry point while the rest of the package runs only when
an LLM is configured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0


def _seconds(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


@dataclass(frozen=True)
class LLMSettings:
    """Where the chat model is and how long to wait for it.

    ``timeout`` bounds connecting and every wait for data; ``max_seconds`` (default
    four times ``timeout``) bounds the whole streamed reply.
    """

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT_S
    max_seconds: float | None = None
    max_tokens: int = 512
    temperature: float = 0.0

    @property
    def deadline_seconds(self) -> float:
        return self.max_seconds if self.max_seconds is not None else 4 * self.timeout

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMSettings | None:
        """Settings from ``RAG_LLM_*``; ``None`` (extractive answers) unless URL and model are set.

        Raises ``ValueError`` for a timeout that is not a positive number.
        """
        env = os.environ if environ is None else environ
        base_url = env.get("RAG_LLM_BASE_URL", "").strip()
        model = env.get("RAG_LLM_MODEL", "").strip()
        if not (base_url and model):
            if base_url or model:
                log.warning(
                    "LLM answers need both RAG_LLM_BASE_URL and RAG_LLM_MODEL; "
                    "answering extractively"
                )
            return None
        return cls(
            base_url=base_url,
            model=model,
            api_key=env.get("RAG_LLM_API_KEY", "").strip(),
            timeout=_seconds(env, "RAG_LLM_TIMEOUT", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S,
            max_seconds=_seconds(env, "RAG_LLM_MAX_SECONDS", None),
        )
