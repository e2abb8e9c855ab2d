"""Building the FAISS store: chunk every document, embed what is new, write a build, switch.

A build is written to a fresh folder and only then made live by replacing
``CURRENT``, so a crash mid-build leaves the previous index untouched, and a
lock file keeps two builds from racing. Every text is embedded once: a text
the previous build already holds, or one repeated across reports, reuses its
vector, so a new or edited file costs only its new passages.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np
from langchain_core.embeddings import Embeddings

from rag.atomic import write_atomically
from rag.chunking import Sentence, chunk_text, clause_spans
from rag.config import ChunkerSettings
from rag.ingest import SUPPORTED_SUFFIXES, read_sources
from rag.loaders import page_of
from rag.store.ann import chunk_index_for, sentence_ann_for
from rag.store.base import IndexError_, IndexSpec, NoDocumentsError, Progress
from rag.store.layout import (
    SOURCES,
    LoadedIndex,
    check_offsets,
    current_build,
    expected_manifest,
    load,
    read_json,
    read_source_texts,
    stale_reason,
    write_jsonl,
)
from rag.types import Chunk, SentenceRecord, SkippedFile, SourceText

log = logging.getLogger(__name__)

_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}
_BATCH = 16  # texts per call; with length-sorted texts, smaller batches pad less


def embedding_text(section: str, text: str) -> str:
    """What is embedded for a chunk: its section label gives short chunks their topic."""
    return f"{section}\n{text}" if section else text


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sentence_records(source: SourceText, sentences: list[Sentence]) -> list[SentenceRecord]:
    """The records of one source's sentences: exact text, offsets, line and page."""
    text = source.text
    return [
        SentenceRecord(
            source.name,
            s.section,
            s.start,
            s.end,
            text.count("\n", 0, s.start) + 1,
            text[s.start : s.end],
            s.label,
            page_of(source.pages, s.start),
        )
        for s in sentences
    ]


def embed_texts(
    embeddings: Embeddings, texts: list[str], dimension: int, progress: Progress | None = None
) -> np.ndarray:
    """Embed longest first, so each batch holds texts of similar length; ``progress(done,
    total)`` after each batch.

    A batch is padded to its longest text; in document order long chunks and
    short clauses mix, and padding tripled the work of a build.
    """
    out = np.empty((len(texts), dimension), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    for i in range(0, len(order), _BATCH):
        rows = order[i : i + _BATCH]
        out[rows] = embeddings.embed_documents([texts[j] for j in rows])
        if progress:
            progress(i + len(rows), len(texts))
    return out


def _previous_vectors(index_dir: Path, spec: dict) -> dict[str, np.ndarray]:
    """Vectors of the live build keyed by the text embedded, when it is compatible.

    Keyed by text, not by place: an edited file keeps the vectors of its unchanged
    passages, and a sentence repeated across reports is embedded once.
    """
    try:
        build_dir = current_build(index_dir)
        if build_dir is None:
            return {}
        old = load(build_dir, spec["dimension"])
    except IndexError_:
        return {}
    if any(old.manifest.get(k) != v for k, v in spec.items()):
        return {}
    chunk_vecs = old.chunk_index.reconstruct_n(0, old.chunk_index.ntotal)
    keyed = {embedding_text(c.section, c.text): chunk_vecs[i] for i, c in enumerate(old.chunks)}
    for i, s in enumerate(old.sentences):
        keyed[s.text] = old.sentence_vectors[i]
    for row, (owner, start, end) in enumerate(old.clause_spans.tolist()):
        s = old.sentences[owner]
        keyed[s.text[start - s.start : end - s.start]] = old.clause_vectors[row]
    return keyed


def spans(
    sources: list[SourceText], chunker: ChunkerSettings
) -> tuple[list[Chunk], list[SentenceRecord], dict[str, list[str]], list[tuple[int, int, int]]]:
    """Chunk every source; the texts to embed per kind (chunk, sentence, clause, in row
    order) and each clause's (sentence row, start, end)."""
    chunks: list[Chunk] = []
    sentences: list[SentenceRecord] = []
    texts: dict[str, list[str]] = {"chunk": [], "sentence": [], "clause": []}
    clauses: list[tuple[int, int, int]] = []
    for source in sources:
        source_chunks, source_sentences = chunk_text(source.text, source.name, chunker, len(chunks))
        chunks += source_chunks
        texts["chunk"] += [embedding_text(c.section, c.text) for c in source_chunks]
        for record in sentence_records(source, source_sentences):
            texts["sentence"].append(record.text)
            # A short sentence's own vector serves; a long one is lifted by its clauses.
            long = record.end - record.start >= chunker.clause_sentence_chars
            for a, b in clause_spans(source.text, record.start, record.end) if long else []:
                texts["clause"].append(source.text[a:b])
                clauses.append((len(sentences), a, b))
            sentences.append(record)
    return chunks, sentences, texts, clauses


def _earlier_sources(index_dir: Path) -> dict[str, SourceText]:
    """The documents the live build was made from (unchanged files are not read again)."""
    try:
        return read_source_texts(current_build(index_dir))
    except IndexError_:
        return {}


def build(
    spec: IndexSpec,
    embeddings: Embeddings,
    progress: Progress | None = None,
    reread: bool = False,
    documents: tuple[list[SourceText], list[SkippedFile]] | None = None,
) -> tuple[Path, list[SkippedFile]]:
    """Chunk and embed every document, write a new build and make it live.

    ``progress(done, total)`` is called as texts are embedded. Vectors of the live
    build are reused only once loading has verified them (finite, unit length).
    Files unchanged since the live build are not read again unless ``reread``;
    ``documents`` are ones the caller has just read.
    """
    started = time.perf_counter()
    index_dir = spec.index_dir
    with _build_lock(index_dir):
        sources, skipped = documents or read_sources(
            spec.docs_dir, {} if reread else _earlier_sources(index_dir)
        )
        if not sources:
            raise NoDocumentsError(
                f"No readable documents ({', '.join(SUPPORTED_SUFFIXES)}) in {spec.docs_dir}. "
                "Fix: put the reports there (or set RAG_DOCS_DIR / --docs)."
            )
        dimension = len(embeddings.embed_query("dimension probe"))
        manifest_spec = expected_manifest(spec.model_id, dimension, spec.chunker)
        known = _previous_vectors(index_dir, manifest_spec)
        chunks, sentences, texts, clauses = spans(sources, spec.chunker)
        every_text = (t for kind_texts in texts.values() for t in kind_texts)
        todo = [t for t in dict.fromkeys(every_text) if t not in known]
        fresh = embed_texts(embeddings, todo, dimension, progress)
        vector_of = known | dict(zip(todo, fresh, strict=True))

        def stacked(kind: str) -> np.ndarray:
            rows = [vector_of[t] for t in texts[kind]]
            return np.asarray(rows, dtype=np.float32).reshape(len(rows), dimension)

        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        builds = index_dir / "builds"
        tmp = builds / f".tmp-{name}"
        tmp.mkdir(parents=True)
        try:
            _write_build(tmp, stacked, sources, chunks, sentences, clauses, manifest_spec | {
                "sources": {s.name: s.sha256 for s in sources},
                "embedded": len(todo),
            })
            tmp.rename(builds / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # one attempt leaves no folder behind
            raise
        write_atomically(index_dir / "CURRENT", name + "\n")
        for old in builds.iterdir():
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
    log.info(
        "Indexed %d documents: %d chunks, %d sentences, %d clauses (%d new texts embedded)"
        " in %.1f s",
        len(sources),
        len(chunks),
        len(sentences),
        len(clauses),
        len(todo),
        time.perf_counter() - started,
    )
    return builds / name, skipped


def _write_build(
    tmp: Path,
    stacked: Callable[[str], np.ndarray],
    sources: list[SourceText],
    chunks: list[Chunk],
    sentences: list[SentenceRecord],
    clauses: list[tuple[int, int, int]],
    manifest: dict,
) -> None:
    """Every file of a build, the manifest last."""
    chunk_index, index_type = chunk_index_for(stacked("chunk"))
    faiss.write_index(chunk_index, str(tmp / "chunks.faiss"))
    sentence_vectors, clause_vectors = stacked("sentence"), stacked("clause")
    np.save(tmp / "sentences.npy", sentence_vectors, allow_pickle=False)
    np.save(tmp / "clauses.npy", clause_vectors, allow_pickle=False)
    ann, ann_type = sentence_ann_for(np.concatenate([sentence_vectors, clause_vectors]))
    if ann is not None:
        faiss.write_index(ann, str(tmp / "sentences.faiss"))
    clause_rows = np.asarray(clauses, np.int64).reshape(-1, 3)
    np.save(tmp / "clause_spans.npy", clause_rows, allow_pickle=False)
    write_jsonl(tmp / "chunks.jsonl", [asdict(c) for c in chunks])
    write_jsonl(tmp / "sentences.jsonl", [asdict(s) for s in sentences])
    write_jsonl(tmp / SOURCES, [asdict(s) for s in sources])
    manifest = manifest | {
        "faiss_index": index_type,
        "sentence_index": ann_type,
        "chunks": len(chunks),
        "sentences": len(sentences),
        "clauses": len(clauses),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))


def load_live(index_dir: Path, build_dir: Path, dimension: int) -> LoadedIndex:
    """Load ``build_dir``; if another process made a newer build live and pruned this
    one while it was being read, load the newer one instead.

    Readers take no lock (a server must not wait behind a long build), so a reader
    can lose the race with a pruning builder; the damage it then sees is not damage.
    """
    for _ in range(3):
        try:
            return load(build_dir, dimension)
        except IndexError_:
            newer = current_build(index_dir)
            if newer is None or newer == build_dir:
                raise
            log.info("Build %s was replaced while it loaded; loading %s", build_dir, newer)
            build_dir = newer
    return load(build_dir, dimension)


def ensure_index(
    spec: IndexSpec, embeddings: Embeddings, progress: Progress | None = None
) -> LoadedIndex:
    """Load the live build, rebuilding it first when missing or stale.

    A corrupt build raises :class:`CorruptIndexError` rather than being
    silently replaced: the user learns that something damaged it.
    """
    build_dir = current_build(spec.index_dir)
    sources, skipped = read_sources(spec.docs_dir, read_source_texts(build_dir))
    hashes = {s.name: s.sha256 for s in sources}
    dimension = len(embeddings.embed_query("dimension probe"))
    warning = None
    if build_dir is None or not (build_dir / "manifest.json").exists():
        log.info("No index in %s yet; building it", spec.index_dir)
        build_dir, _ = build(spec, embeddings, progress, documents=(sources, skipped))
    else:
        manifest = read_json(build_dir / "manifest.json")
        reason = stale_reason(manifest, spec.model_id, spec.chunker, hashes)
        if reason:
            log.info("Index is stale (%s); rebuilding", reason)
            try:
                build_dir, _ = build(spec, embeddings, progress, documents=(sources, skipped))
            except OSError as exc:
                if exc.errno not in _READ_ONLY or not reason.startswith("documents changed"):
                    raise
                # A read-only index folder: the last good build still answers, as it was.
                warning = (
                    f"The index in {spec.index_dir} cannot be updated ({exc.strerror}); "
                    f"answering from the last build, which predates the change ({reason})."
                )
                log.warning("%s", warning)
    loaded = load_live(spec.index_dir, build_dir, dimension)
    if warning:  # the texts the old build was made from are not all on disk any more
        sources = [s for s in sources if manifest["sources"].get(s.name) == s.sha256]
    loaded.texts = {s.name: s.text for s in sources}
    loaded.ocr_lines = {s.name: s.ocr_lines for s in sources if s.ocr_lines}
    loaded.skipped = skipped
    loaded.warning = warning
    if not warning:
        check_offsets(loaded, loaded.texts, loaded.path)
    return loaded
