"""Reading the documents folder: each file's text (see rag.loaders), or a clear reason why not."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from rag.loaders import SUPPORTED_SUFFIXES, UnreadableError, extract_text
from rag.types import SkippedFile, SourceText

log = logging.getLogger(__name__)


def read_source(path: Path, name: str) -> SourceText:
    """One document; raises :class:`UnreadableError` with the reason when it gives no text."""
    data = path.read_bytes()
    extracted = extract_text(path, data)
    digest = hashlib.sha256(data).hexdigest()
    return SourceText(name, extracted.text, digest, extracted.pages, extracted.ocr_lines)


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
        try:
            sources.append(read_source(path, name))
        except UnreadableError as exc:
            skipped.append(SkippedFile(name, str(exc)))
        except OSError as exc:
            skipped.append(SkippedFile(name, f"cannot be read ({exc.strerror or exc})"))
    for item in skipped:
        log.warning("Skipped %s: %s", item.name, item.reason)
    return sources, skipped
