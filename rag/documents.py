"""Adding and removing documents: checked, written atomically, indexed, undone on failure.

The chat UI's upload and ``rag add`` / ``rag remove`` / ``rag list`` all go
through here. A file is refused before it reaches the documents folder when it is
of an unsupported type, too large or unreadable; once written, the index is
rebuilt (only the new or changed texts are embedded) and swapped in; if that
fails, the folder is put back as it was.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rag.atomic import write_atomically
from rag.limits import IngestLimits
from rag.loaders import SUPPORTED_SUFFIXES, UnreadableError, extract_text
from rag.names import BadNameError, safe_upload_name
from rag.pipeline import Pipeline, PipelineHolder
from rag.store.base import Progress

log = logging.getLogger(__name__)

_TRASH = ".removed"  # a removed file waits here (never indexed) until the index is rebuilt
_VERSIONS = ".versions"  # replaced documents, kept (never indexed) to restore by hand
_change_lock = threading.Lock()  # one change of the documents folder at a time


class DocumentError(ValueError):
    """A document cannot be added or removed; the message says why, for the user."""


@dataclass(frozen=True)
class DocumentChange:
    """What a change did to the documents folder and the index."""

    name: str
    action: str  # "added", "updated", "unchanged" or "removed"
    chunks: int = 0  # the document's chunks in the index (before removal, for "removed")
    embedded: int = 0  # texts embedded by the rebuild

    @property
    def message(self) -> str:
        if self.action == "unchanged":
            return f"{self.name} is already indexed. 该文档已在索引中。"
        if self.action == "removed":
            return f"Removed {self.name} ({self.chunks} chunks). 文档已移除。"
        verb = "Updated" if self.action == "updated" else "Added"
        return f"{verb} {self.name}: {self.chunks} chunks indexed. 文档已加入索引。"


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document, as ``rag list`` and the UI's documents panel show it."""

    name: str
    chunks: int
    sentences: int
    characters: int
    title: str = ""  # from the document itself (rag.titles); the name when it has none
    kind: str = ""  # the file type: "txt", "pdf", …
    lines: int = 0
    pages: int | None = None  # PDF only
    modified: float | None = None  # the file's mtime: when it was added or last changed


def _check(path: Path, name: str, max_bytes: int, limits: IngestLimits) -> bytes:
    """The file's bytes, once it is known to be indexable; otherwise :class:`DocumentError`."""
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DocumentError(
            f"不支持这种文件。 {path.name} is not a supported type; "
            f"use {', '.join(SUPPORTED_SUFFIXES)}."
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                f"文件太大。 {name} is {size / 2**20:.1f} MB; "
                f"the limit is {max_bytes // 2**20} MB."
            )
        data = path.read_bytes()
        extract_text(path, data, limits)
    except UnreadableError as exc:
        raise DocumentError(f"无法读取。 {name} cannot be indexed: {exc}.") from exc
    except OSError as exc:
        raise DocumentError(f"无法读取。 {path.name} cannot be read ({exc.strerror}).") from exc
    return data


def _rebuild(holder: PipelineHolder, old: Pipeline, progress: Progress | None) -> Pipeline:
    new = Pipeline(old.settings, progress, embeddings=old.embeddings)
    holder.replace(new)
    return new


def _free_name(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``…: two replacements in one second keep both."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def add_document(
    holder: PipelineHolder,
    path: Path,
    progress: Progress | None = None,
    replace: bool = False,
) -> DocumentChange:
    """Copy ``path`` into the documents folder, re-index, and swap the new index in.

    Only the new (or changed) file is embedded. A different document of the same
    name is replaced only with ``replace=True``, and its previous version is kept in
    ``.versions/`` (never indexed) to restore. Raises :class:`DocumentError` when the
    file is refused; on a failed re-index the folder is restored and the error
    re-raised.
    """
    try:
        name = safe_upload_name(path.name)
    except BadNameError as exc:
        raise DocumentError(f"文件名无效。 {exc}.") from exc
    documents = holder.settings.documents  # a refusal needs no model
    data = _check(path, name, documents.max_upload_bytes, documents.limits)
    with _change_lock:
        old = holder.get()
        docs_dir = old.settings.documents.docs_dir
        target = docs_dir / name
        previous = target.read_bytes() if target.is_file() else None
        if previous == data:
            return DocumentChange(name, "unchanged", _chunks_of(old, name))
        if previous is not None:
            if not replace:
                raise DocumentError(
                    f"已有同名文档。 A different document named {name} is already indexed; "
                    "to replace it, tick “Replace a document of the same name” "
                    "(or run `rag add --replace`)."
                )
            kept = _free_name(docs_dir / _VERSIONS / f"{name}.{time.strftime('%Y%m%d-%H%M%S')}")
            kept.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(kept, previous)
            log.info("Kept the previous %s as %s", name, kept)
        docs_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)
        try:
            new = _rebuild(holder, old, progress)
        except Exception:
            log.exception("Re-indexing after adding %s failed; putting things back", name)
            if previous is None:
                target.unlink(missing_ok=True)
            else:
                write_atomically(target, previous)
            raise
    change = DocumentChange(
        name,
        "updated" if previous is not None else "added",
        _chunks_of(new, name),
        new.store.manifest.get("embedded", 0),
    )
    log.info("%s %s: %d chunks (%d texts embedded)", change.action, name, change.chunks,
             change.embedded)
    return change


def remove_document(
    holder: PipelineHolder, name: str, progress: Progress | None = None
) -> DocumentChange:
    """Take ``name`` out of the index and then out of the documents folder.

    The file is set aside (not deleted) until the rebuilt index no longer needs
    it, and put back if the rebuild fails.
    """
    with _change_lock:
        old = holder.get()
        if name not in old.sources:
            raise DocumentError(_unknown(name, old.sources))
        docs_dir = old.settings.documents.docs_dir
        target = docs_dir / name
        aside = docs_dir / _TRASH / name
        aside.parent.mkdir(parents=True, exist_ok=True)
        target.replace(aside)
        chunks = _chunks_of(old, name)
        try:
            _rebuild(holder, old, progress)
        except Exception:
            log.exception("Re-indexing after removing %s failed; putting it back", name)
            aside.replace(target)
            raise
        aside.unlink(missing_ok=True)
        shutil.rmtree(docs_dir / _TRASH, ignore_errors=True)
    log.info("Removed %s (%d chunks)", name, chunks)
    return DocumentChange(name, "removed", chunks)


def reindex(holder: PipelineHolder, progress: Progress | None = None) -> Pipeline:
    """Bring the index up to date with the documents folder (only changed files are embedded)."""
    with _change_lock:
        return _rebuild(holder, holder.get(), progress)


def list_documents(pipeline: Pipeline) -> list[DocumentInfo]:
    """The indexed documents, by name."""
    store = pipeline.store
    docs_dir = pipeline.settings.documents.docs_dir
    titles = getattr(pipeline, "titles", {})
    infos = []
    for name in pipeline.sources:
        text = store.texts.get(name, "")
        pages = {s.page for s in store.sentences if s.source == name and s.page is not None}
        try:
            modified: float | None = (docs_dir / name).stat().st_mtime
        except OSError:
            modified = None
        infos.append(
            DocumentInfo(
                name,
                _chunks_of(pipeline, name),
                sum(1 for s in store.sentences if s.source == name),
                len(text),
                titles.get(name, name),
                Path(name).suffix.lower().lstrip("."),
                text.count("\n") + 1 if text else 0,
                max(pages) if pages else None,
                modified,
            )
        )
    return infos


def _chunks_of(pipeline: Pipeline, name: str) -> int:
    return sum(1 for c in pipeline.store.chunks if c.source == name)


def _unknown(name: str, sources: list[str]) -> str:
    known = ", ".join(sources[:20]) or "none"
    return f"没有这个文档。 There is no document named {name!r}. Documents: {known}."
