"""Reading the documents folder: each file's text (see rag.loaders), or a clear reason why not.

A file whose size and modification time equal those of an earlier reading is not read
again: its earlier text is reused (``known``), so refreshing the index after one upload
parses and hashes that one file, however many are indexed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path

from rag.loaders import SUPPORTED_SUFFIXES, UnreadableError, extract_text
from rag.types import SkippedFile, SourceText

log = logging.getLogger(__name__)


# File times are coarse (a clock tick, or 2 s on FAT): a file written this recently
# could be written again with the same size and time, so its stamp is not trusted.
_RACY_NS = 2_000_000_000


def file_stamp(path: Path) -> tuple[int, int]:
    """(size, mtime in ns): what tells a file changed without reading it."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def read_source(path: Path, name: str) -> SourceText:
    """One document; raises :class:`UnreadableError` with the reason when it gives no text."""
    stamp = file_stamp(path)  # before reading: a write during the read shows next time
    data = path.read_bytes()
    extracted = extract_text(path, data)
    digest = hashlib.sha256(data).hexdigest()
    trusted = time.time_ns() - stamp[1] > _RACY_NS
    return SourceText(
        name, extracted.text, digest, extracted.pages, extracted.ocr_lines,
        stamp if trusted else None,
    )


def read_sources(
    docs_dir: Path, known: Mapping[str, SourceText] | None = None
) -> tuple[list[SourceText], list[SkippedFile]]:
    """Every supported file under ``docs_dir``, in a stable order; unreadable ones are reported.

    A file whose stamp equals its entry in ``known`` is taken from there unread.
    """
    known = known or {}
    sources: list[SourceText] = []
    skipped: list[SkippedFile] = []
    if not docs_dir.is_dir():
        return sources, skipped
    for path in sorted(p for p in docs_dir.rglob("*") if p.is_file()):
        name = path.relative_to(docs_dir).as_posix()
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or name.startswith("."):
            continue
        try:
            earlier = known.get(name)
            if earlier is not None and earlier.stamp == file_stamp(path):
                sources.append(earlier)
                continue
            sources.append(read_source(path, name))
        except UnreadableError as exc:
            skipped.append(SkippedFile(name, str(exc)))
        except OSError as exc:
            skipped.append(SkippedFile(name, f"cannot be read ({exc.strerror or exc})"))
    for item in skipped:
        log.warning("Skipped %s: %s", item.name, item.reason)
    return sources, skipped
