"""How much one document may cost to read: pages, paragraphs, characters, seconds, memory.

A small upload can expand into a huge amount of work (a 40 KB Word file of
40,000 empty paragraphs, a 16 MB PDF of 100,000 pages). The loaders check these
limits while they read, and stop at the first one crossed; the message names
the limit and the environment variable that raises it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class IngestLimits:
    """Per-document bounds; each field has a ``RAG_*`` environment variable (see ``ENV``)."""

    max_pages: int = 2_000
    max_paragraphs: int = 200_000
    max_chars: int = 5_000_000
    max_parse_seconds: float = 120.0
    parse_memory_mb: int = 2_048  # address-space cap of the parsing process

    ENV: ClassVar[dict[str, str]] = {
        "max_pages": "RAG_MAX_PAGES",
        "max_paragraphs": "RAG_MAX_PARAGRAPHS",
        "max_chars": "RAG_MAX_CHARS",
        "max_parse_seconds": "RAG_MAX_PARSE_SECONDS",
        "parse_memory_mb": "RAG_PARSE_MEMORY_MB",
    }

    def __post_init__(self) -> None:
        for f in fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(f"{self.ENV[f.name]} must be a positive number")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestLimits:
        """The defaults, overridden by whichever ``RAG_*`` variables are set."""
        env = os.environ if env is None else env
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = (env.get(cls.ENV[f.name]) or "").strip().replace("_", "")
            if not raw:
                continue
            kind = float if f.type in (float, "float") else int
            try:
                values[f.name] = kind(raw)
            except ValueError:
                wanted = "a number" if kind is float else "a whole number"
                raise ValueError(f"{cls.ENV[f.name]}={raw!r} is not {wanted}") from None
        return cls(**values)  # type: ignore[arg-type]

    def exceeded(self, what: str, field_name: str) -> str:
        """The refusal message: which limit, its value, and the setting that raises it."""
        limit = getattr(self, field_name)
        shown = f"{limit:,}" if isinstance(limit, int) else f"{limit:g}"
        return (
            f"more than {shown} {what} (limit {self.ENV[field_name]}={limit}; "
            "raise it to index this file)"
        )


class LimitExceeded(ValueError):
    """A document crossed one of the :class:`IngestLimits`; the message names which."""


class ReadBudget:
    """What a loader has read so far, checked against the limits as it goes.

    Loaders call :meth:`add` per paragraph (or page) so a hostile file is stopped
    at the limit, not after it has been read whole.
    """

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_parse_seconds
        self.chars = 0
        self.paragraphs = 0

    def pages(self, count: int) -> None:
        """Refuse a document of more than ``max_pages`` pages."""
        if count > self.limits.max_pages:
            raise LimitExceeded(self.limits.exceeded("pages", "max_pages"))

    def add(self, chars: int, paragraphs: int = 1) -> None:
        """Count ``chars`` characters in ``paragraphs`` paragraphs; raise past any limit."""
        self.chars += chars
        self.paragraphs += paragraphs
        if self.paragraphs > self.limits.max_paragraphs:
            raise LimitExceeded(self.limits.exceeded("paragraphs", "max_paragraphs"))
        if self.chars > self.limits.max_chars:
            raise LimitExceeded(self.limits.exceeded("characters", "max_chars"))
        self.check_time()

    def check_time(self) -> None:
        """Refuse a document that has taken longer than ``max_parse_seconds`` so far."""
        if time.monotonic() > self.deadline:
            raise LimitExceeded(self.limits.exceeded("seconds to read", "max_parse_seconds"))
