"""Reading the documents folder: text exactly as written, or a clear reason why not."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md")
_ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK, common for Chinese files


@dataclass(frozen=True)
class SourceText:
    """One readable document; citation offsets index into ``text``."""

    name: str  # path relative to the documents folder
    text: str
    sha256: str


@dataclass(frozen=True)
class SkippedFile:
    name: str
    reason: str


def decode(data: bytes) -> str | None:
    """Decode bytes as text, or ``None`` when they are not text (NUL bytes, no encoding fits)."""
    if b"\x00" in data:
        return None
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def read_sources(docs_dir: Path) -> tuple[list[SourceText], list[SkippedFile]]:
    """Every supported file under ``docs_dir``, in a stable order; unreadable ones are reported."""
    sources: list[SourceText] = []
    skipped: list[SkippedFile] = []
    if not docs_dir.is_dir():
        return sources, skipped
    for path in sorted(p for p in docs_dir.rglob("*") if p.is_file()):
        name = path.relative_to(docs_dir).as_posix()
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or name.startswith("."):
            continue
        data = path.read_bytes()
        text = decode(data)
        if text is None:
            skipped.append(SkippedFile(name, "not a text file (binary or unknown encoding)"))
        elif not text.strip():
            skipped.append(SkippedFile(name, "empty"))
        else:
            sources.append(SourceText(name, text, hashlib.sha256(data).hexdigest()))
    for item in skipped:
        log.warning("Skipped %s: %s", item.name, item.reason)
    return sources, skipped
