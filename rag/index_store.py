"""The persisted index: FAISS files, JSON Lines and a manifest — never pickle.

Layout under the index folder::

    CURRENT            name of the live build (replaced atomically)
    builds/<name>/     manifest.json, chunks.jsonl, chunks.faiss,
                       sentences.jsonl, sentences.npy,
                       clauses.npy, clause_spans.npy (sentence row, start, end),
                       sentences.faiss (large indexes only: an IVF index over
                       sentence and clause vectors, see rag.sentence_search)

A build is written to a fresh folder and only then made live by replacing
``CURRENT``, so a crash mid-build leaves the previous index untouched, and a
lock file keeps two builds from racing. Every text is embedded once: a text
the previous build already holds, or one repeated across reports, reuses its
vector, so a new or edited file costs only its new passages.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np
from langchain_core.embeddings import Embeddings

from rag.chunking import ChunkerSettings, Sentence, chunk_text, clause_spans
from rag.ingest import SUPPORTED_SUFFIXES, SkippedFile, SourceText, read_sources
from rag.loaders import page_of
from rag.types import Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: sentences record their PDF page
DEFAULT_CHUNKER = ChunkerSettings()
_BATCH = 16  # texts per call; with length-sorted texts, smaller batches pad less
# Exact search up to this many vectors; IVF (clustered, approximate) beyond.
EXACT_UP_TO = 100_000
_IVF_LISTS = 1024  # clusters, at most (64 training vectors each)
CHUNK_PROBES = 32  # clusters searched per question; FAISS stores it in the index file
_SENTENCE_PROBES = 16  # fewer: their candidates are rescored exactly anyway


class IndexError_(RuntimeError):
    """Base for index problems that the user must act on."""


class CorruptIndexError(IndexError_):
    """An index file cannot be read; the message names the file and the fix."""


class NoDocumentsError(IndexError_):
    """There is nothing to index."""


@dataclass(frozen=True)
class SentenceRecord:
    """A sentence of a chunked source, with the chunk it sits in (for context)."""

    source: str
    section: str
    start: int
    end: int
    line: int
    text: str
    label: bool = False  # a heading or topic label, not an answer
    page: int | None = None  # 1-based PDF page; None for documents without pages


@dataclass
class LoadedIndex:
    """Everything a query needs, in memory."""

    manifest: dict
    chunks: list[Chunk]
    chunk_index: faiss.Index
    sentences: list[SentenceRecord]
    sentence_vectors: np.ndarray  # (n_sentences, dim), L2-normalised
    clause_vectors: np.ndarray  # (n_clauses, dim): clauses of multi-clause sentences
    clause_spans: np.ndarray  # (n_clauses, 3): sentence row, start, end
    texts: dict[str, str]  # source name -> full text, for quotes and context
    skipped: list[SkippedFile] = field(default_factory=list)  # files that gave no text
    sentence_ann: faiss.Index | None = None  # over sentence then clause rows, when large

    @property
    def clause_owners(self) -> np.ndarray:
        return self.clause_spans[:, 0]


def embedding_text(section: str, text: str) -> str:
    """What is embedded for a chunk: its section label gives short chunks their topic."""
    return f"{section}\n{text}" if section else text


def _expected(model_id: str, dimension: int | None, chunker: ChunkerSettings) -> dict:
    spec = {"format_version": FORMAT_VERSION, "model": model_id, "chunker": chunker.as_dict()}
    if dimension is not None:
        spec["dimension"] = dimension
    return spec


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_build(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    if not name or "/" in name or name.startswith("."):
        raise CorruptIndexError(
            f"{pointer} is damaged. Fix: delete it and run `python -m rag index`."
        )
    return index_dir / "builds" / name


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(
            f"{path} is unreadable ({type(exc).__name__}). Fix: `python -m rag index --rebuild`."
        ) from exc
    if not isinstance(value, dict):
        raise CorruptIndexError(
            f"{path} is not an index manifest. Fix: `python -m rag index --rebuild`."
        )
    return value


def _read_jsonl(path: Path) -> list[dict]:
    try:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(
            f"{path} is unreadable ({type(exc).__name__}). Fix: `python -m rag index --rebuild`."
        ) from exc


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def stale_reason(
    manifest: dict, model_id: str, chunker: ChunkerSettings, hashes: dict[str, str]
) -> str | None:
    """Why a built index no longer matches the settings or the documents, if it does not."""
    for key, value in _expected(model_id, None, chunker).items():
        if manifest.get(key) != value:
            return f"{key} changed ({manifest.get(key)!r} -> {value!r})"
    built = manifest.get("sources", {})
    if built != hashes:
        changed = sorted(set(built) ^ set(hashes) | {k for k in built if hashes.get(k) != built[k]})
        return "documents changed: " + ", ".join(changed[:5])
    return None


def load(build: Path, dimension: int) -> LoadedIndex:
    """Read a build, checking every file against the manifest."""
    manifest = _read_json(build / "manifest.json")
    if manifest.get("dimension") != dimension:
        raise CorruptIndexError(
            f"{build / 'manifest.json'} says dimension {manifest.get('dimension')}, the model "
            f"gives {dimension}. Fix: `python -m rag index --rebuild`."
        )
    chunk_rows = _read_jsonl(build / "chunks.jsonl")
    sentence_rows = _read_jsonl(build / "sentences.jsonl")
    try:
        chunks = [Chunk(**row) for row in chunk_rows]
        sentences = [SentenceRecord(**row) for row in sentence_rows]
    except TypeError as exc:
        raise CorruptIndexError(
            f"{build} holds records of another format. Fix: `python -m rag index --rebuild`."
        ) from exc
    chunk_index = _read_faiss(build / "chunks.faiss")
    has_ann = manifest.get("sentence_index", "exact scan") != "exact scan"
    ann = _read_faiss(build / "sentences.faiss") if has_ann else None
    # Mapped, not read: with ``ann`` only the candidates' rows are ever touched.
    vectors = _read_npy(build / "sentences.npy", mapped=True)
    clause_vectors = _read_npy(build / "clauses.npy", mapped=True)
    clause_spans = _read_npy(build / "clause_spans.npy").reshape(-1, 3)
    clause_owners = clause_spans[:, 0]
    if (
        chunk_index.ntotal != len(chunks)
        or chunk_index.d != dimension
        or vectors.shape != (len(sentences), dimension)
        or clause_vectors.shape != (len(clause_owners), dimension)
        or vectors.dtype != np.float32
        or clause_vectors.dtype != np.float32
        or (ann is not None and ann.ntotal != len(sentences) + len(clause_owners))
        or (
            len(clause_owners)
            and not 0 <= clause_owners.min() <= clause_owners.max() < len(sentences)
        )
        or np.any(np.diff(clause_owners) < 0)  # each sentence's clauses are one run
    ):
        raise CorruptIndexError(
            f"{build} is inconsistent (vector and record counts differ). "
            "Fix: `python -m rag index --rebuild`."
        )
    return LoadedIndex(
        manifest,
        chunks,
        chunk_index,
        sentences,
        vectors,
        clause_vectors,
        clause_spans.astype(np.int64),
        {},
        sentence_ann=ann,
    )


def _read_faiss(path: Path) -> faiss.Index:
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise CorruptIndexError(
            f"{path} is unreadable (truncated or not a FAISS file). "
            "Fix: `python -m rag index --rebuild`."
        ) from exc


def _read_npy(path: Path, mapped: bool = False) -> np.ndarray:
    try:
        return np.asarray(np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(
            f"{path} is unreadable. Fix: `python -m rag index --rebuild`."
        ) from exc


def _ivf(index: faiss.IndexIVF, vectors: np.ndarray, probes: int) -> faiss.IndexIVF:
    """Train ``index`` on a sample of ``vectors``, fill it and set its search breadth."""
    size = min(len(vectors), index.nlist * 64)
    sample = np.random.default_rng(0).choice(len(vectors), size, replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    index.nprobe = probes
    return index


def _ivf_lists(n_vectors: int) -> int:
    return max(1, min(_IVF_LISTS, n_vectors // 64))


def chunk_index_for(vectors: np.ndarray, exact_up_to: int = EXACT_UP_TO) -> tuple[faiss.Index, str]:
    """An inner-product index holding the chunk ``vectors``, and its manifest name.

    Exact (``IndexFlatIP``) up to ``exact_up_to`` vectors, where a scan still takes
    milliseconds; IVF beyond. Not HNSW: on reports that are near copies of each
    other it found 46 % of the exact top 10 at 56k chunks, IVF 99 %. Both keep the
    raw vectors (IVF with a direct map), so ``reconstruct_n`` works on either.
    """
    dimension = vectors.shape[1]
    if len(vectors) <= exact_up_to:
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return index, "IndexFlatIP"
    log.info("Clustering %d chunk vectors", len(vectors))
    quantizer = faiss.IndexFlatIP(dimension)
    ivf = faiss.IndexIVFFlat(
        quantizer, dimension, _ivf_lists(len(vectors)), faiss.METRIC_INNER_PRODUCT
    )
    index = _ivf(ivf, vectors, CHUNK_PROBES)
    index.make_direct_map()
    return index, "IndexIVFFlat"


def sentence_ann_for(
    vectors: np.ndarray, scan_up_to: int = EXACT_UP_TO
) -> tuple[faiss.Index | None, str]:
    """An approximate index over sentence and clause ``vectors``, or None while a scan is fast.

    IVF, not HNSW: reports repeat their sentences with other numbers, and HNSW
    lost its way among such near-copies (at 1,000 synthetic reports it found the
    best sentence for 48 % of the questions, IVF for 94 %). It only names
    candidates, whose relevance is then computed from the exact vectors, so it
    stores 8 bits per dimension.
    """
    if len(vectors) <= scan_up_to:
        return None, "exact scan"
    log.info("Clustering %d sentence and clause vectors (about a minute)", len(vectors))
    dimension = vectors.shape[1]
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dimension),
        dimension,
        _ivf_lists(len(vectors)),
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    return _ivf(index, vectors, _SENTENCE_PROBES), "IndexIVFScalarQuantizer"


def _sentence_records(source: SourceText, sentences: list[Sentence]) -> list[SentenceRecord]:
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


def _embed(
    embeddings: Embeddings, texts: list[str], dimension: int, progress: Callable[[int], None]
) -> np.ndarray:
    """Embed longest first, so each batch holds texts of similar length.

    A batch is padded to its longest text; in document order long chunks and
    short clauses mix, and padding tripled the work of a build.
    """
    out = np.empty((len(texts), dimension), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    for i in range(0, len(order), _BATCH):
        rows = order[i : i + _BATCH]
        out[rows] = embeddings.embed_documents([texts[j] for j in rows])
        progress(len(rows))
    return out


def _previous_vectors(index_dir: Path, spec: dict) -> dict[str, np.ndarray]:
    """Vectors of the live build keyed by the text embedded, when it is compatible.

    Keyed by text, not by place: an edited file keeps the vectors of its unchanged
    passages, and a sentence repeated across reports is embedded once.
    """
    try:
        build = current_build(index_dir)
        if build is None:
            return {}
        old = load(build, spec["dimension"])
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


def _spans(
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
        for record in _sentence_records(source, source_sentences):
            texts["sentence"].append(record.text)
            for a, b in clause_spans(source.text, record.start, record.end):
                texts["clause"].append(source.text[a:b])
                clauses.append((len(sentences), a, b))
            sentences.append(record)
    return chunks, sentences, texts, clauses


def build(
    docs_dir: Path,
    index_dir: Path,
    embeddings: Embeddings,
    model_id: str,
    chunker: ChunkerSettings = DEFAULT_CHUNKER,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, list[SkippedFile]]:
    """Chunk and embed every document, write a new build and make it live.

    ``progress(done, total)`` is called as texts are embedded.
    """
    started = time.perf_counter()
    with _build_lock(index_dir):
        sources, skipped = read_sources(docs_dir)
        if not sources:
            raise NoDocumentsError(
                f"No readable documents ({', '.join(SUPPORTED_SUFFIXES)}) in {docs_dir}. "
                "Fix: put the reports there (or set RAG_DOCS_DIR / --docs)."
            )
        dimension = len(embeddings.embed_query("dimension probe"))
        spec = _expected(model_id, dimension, chunker)
        known = _previous_vectors(index_dir, spec)
        chunks, sentences, texts, clauses = _spans(sources, chunker)
        every_text = (t for kind_texts in texts.values() for t in kind_texts)
        todo = [t for t in dict.fromkeys(every_text) if t not in known]
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, len(todo))

        fresh = _embed(embeddings, todo, dimension, tick)
        vector_of = known | dict(zip(todo, fresh, strict=True))

        def stacked(kind: str) -> np.ndarray:
            rows = [vector_of[t] for t in texts[kind]]
            return np.asarray(rows, dtype=np.float32).reshape(len(rows), dimension)

        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        builds = index_dir / "builds"
        tmp = builds / f".tmp-{name}"
        tmp.mkdir(parents=True)
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
        _write_jsonl(tmp / "chunks.jsonl", [asdict(c) for c in chunks])
        _write_jsonl(tmp / "sentences.jsonl", [asdict(s) for s in sentences])
        manifest = spec | {
            "faiss_index": index_type,
            "sentence_index": ann_type,
            "sources": {s.name: s.sha256 for s in sources},
            "chunks": len(chunks),
            "sentences": len(sentences),
            "clauses": len(clauses),
            "embedded": len(todo),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
        tmp.rename(builds / name)
        pointer_tmp = index_dir / f".CURRENT-{name}"
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(pointer_tmp, index_dir / "CURRENT")
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


def ensure_index(
    docs_dir: Path,
    index_dir: Path,
    embeddings: Embeddings,
    model_id: str,
    chunker: ChunkerSettings = DEFAULT_CHUNKER,
    progress: Callable[[int, int], None] | None = None,
) -> LoadedIndex:
    """Load the live build, rebuilding it first when missing or stale.

    A corrupt build raises :class:`CorruptIndexError` rather than being
    silently replaced: the user learns that something damaged it.
    """
    sources, skipped = read_sources(docs_dir)
    hashes = {s.name: s.sha256 for s in sources}
    build_dir = current_build(index_dir)
    dimension = len(embeddings.embed_query("dimension probe"))
    if build_dir is None or not (build_dir / "manifest.json").exists():
        log.info("No index in %s yet; building it", index_dir)
        build_dir, _ = build(docs_dir, index_dir, embeddings, model_id, chunker, progress)
    else:
        reason = stale_reason(_read_json(build_dir / "manifest.json"), model_id, chunker, hashes)
        if reason:
            log.info("Index is stale (%s); rebuilding", reason)
            build_dir, _ = build(docs_dir, index_dir, embeddings, model_id, chunker, progress)
    loaded = load(build_dir, dimension)
    loaded.texts = {s.name: s.text for s in sources}
    loaded.skipped = skipped
    return loaded
