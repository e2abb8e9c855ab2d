"""The FAISS store's on-disk format: FAISS files, NumPy arrays, JSON Lines and a manifest.

Layout under the index folder::

    CURRENT            name of the live build (replaced atomically)
    builds/<name>/     manifest.json, chunks.jsonl, chunks.faiss,
                       sentences.jsonl, sentences.npy,
                       clauses.npy, clause_spans.npy (sentence row, start, end),
                       sentences.faiss (large indexes only: an IVF index over
                       sentence and clause vectors, see rag.store.sentence_search),
                       sources.jsonl (each document's text, hash and file stamp:
                       an unchanged file is not read again, see rag.ingest)

Nothing is ever unpickled: arrays load with ``allow_pickle=False`` and FAISS files
through ``faiss.read_index``. Every file is checked against the manifest on load.
"""

from __future__ import annotations

import json
import logging
from dataclasses import MISSING, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from rag.config import ChunkerSettings
from rag.store.base import CorruptIndexError
from rag.types import Chunk, OcrLine, SentenceRecord, SkippedFile, SourceText

# 2: sentences record their PDF page; 3: a heading line's later sentences are content;
# 4: a terminator inside brackets ends no sentence; 5: a hard-wrapped text file is read
# as its paragraphs, and wrapped lines join without a space next to CJK; 6: Markdown
# headings nest by depth, and its inline marks (**, `, links) are dropped; a PDF's page
# numbers are dropped and a sentence runs on across a page break; a document in traditional
# characters is read in simplified ones
FORMAT_VERSION = 6
_REBUILD = "Fix: `python -m rag index --rebuild`."
SOURCES = "sources.jsonl"
log = logging.getLogger(__name__)


@dataclass
class LoadedIndex:
    """Everything a query needs, in memory (vector files memory-mapped)."""

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
    warning: str | None = None  # served, but not up to date (e.g. a read-only index folder)
    path: Path | None = None  # the build folder it was read from
    # Read with ``texts``, from the same reading: a scan's lines and boxes, for the view.
    ocr_lines: dict[str, list[OcrLine]] = field(default_factory=dict)

    @property
    def clause_owners(self) -> np.ndarray:
        return self.clause_spans[:, 0]


def expected_manifest(model_id: str, dimension: int | None, chunker: ChunkerSettings) -> dict:
    """The manifest entries a build must carry to be used with these settings."""
    spec = {"format_version": FORMAT_VERSION, "model": model_id, "chunker": chunker.as_dict()}
    if dimension is not None:
        spec["dimension"] = dimension
    return spec


def current_build(index_dir: Path) -> Path | None:
    """The live build's folder, or None when nothing was built yet."""
    pointer = index_dir / "CURRENT"
    if not pointer.exists() and not pointer.is_symlink():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else ""
    except (OSError, UnicodeDecodeError):
        name = ""
    if not name or "/" in name or name.startswith("."):
        raise CorruptIndexError(
            f"{pointer} is damaged. Fix: delete it and run `python -m rag index`."
        )
    return index_dir / "builds" / name


def read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"{path} is unreadable ({type(exc).__name__}). {_REBUILD}") from exc
    if not isinstance(value, dict):
        raise CorruptIndexError(f"{path} is not an index manifest. {_REBUILD}")
    return value


def read_jsonl(path: Path) -> list[dict]:
    try:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"{path} is unreadable ({type(exc).__name__}). {_REBUILD}") from exc


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_faiss(path: Path) -> faiss.Index:
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise CorruptIndexError(
            f"{path} is unreadable (truncated or not a FAISS file). {_REBUILD}"
        ) from exc


def read_npy(path: Path, mapped: bool = False) -> np.ndarray:
    try:
        return np.asarray(np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"{path} is unreadable. {_REBUILD}") from exc


def _records(rows: list[dict], kind: type, path: Path) -> list:
    """Rows as ``kind`` records, each field checked for its type: a damaged file is named."""
    fields = kind.__dataclass_fields__
    types = {"int": int, "str": str, "bool": bool, "int | None": (int, type(None))}
    records = []
    for number, row in enumerate(rows, 1):
        ok = isinstance(row, dict) and set(row) <= set(fields) and all(
            name in row or fields[name].default is not MISSING for name in fields
        )
        if ok:
            ok = all(
                isinstance(value, types[fields[name].type])
                and not (fields[name].type == "int" and isinstance(value, bool))
                for name, value in row.items()
            )
        if not ok:
            raise CorruptIndexError(f"{path} line {number} is not a {kind.__name__}. {_REBUILD}")
        records.append(kind(**row))
    return records


def read_source_texts(build: Path | None) -> dict[str, SourceText]:
    """The documents a build was made from, by name; empty when it kept none.

    Only an optimisation (the files are the truth), so a damaged file is logged and
    ignored: every document is then read again.
    """
    path = build / SOURCES if build is not None else None
    if path is None or not path.exists():
        return {}
    try:
        sources = [_source(row) for row in read_jsonl(path)]
    except (CorruptIndexError, TypeError, ValueError, KeyError) as exc:
        log.warning("Ignoring %s (%s); every document will be read again", path, exc)
        return {}
    return {s.name: s for s in sources}


def _source(row: dict) -> SourceText:
    name, text, digest = row["name"], row["text"], row["sha256"]
    pages, stamp, lines = row.get("pages"), row.get("stamp"), row.get("ocr_lines")
    if not (
        isinstance(name, str) and isinstance(text, str) and isinstance(digest, str)
        and (pages is None or all(isinstance(p, int) for p in pages))
        and (stamp is None or (  # None: read too soon after a write to trust its time
            isinstance(stamp, list) and len(stamp) == 2 and all(isinstance(x, int) for x in stamp)
        ))
    ):
        raise ValueError(f"row for {name!r} is malformed")
    ocr = [OcrLine(**(line | {"box": tuple(line["box"])})) for line in lines] if lines else None
    return SourceText(name, text, digest, pages, ocr, (stamp[0], stamp[1]) if stamp else None)


def check_vectors(vectors: np.ndarray, path: Path, sample: int = 200_000) -> None:
    """Every stored vector is finite and of unit length (a sample of them in a huge index).

    A damaged vector file loads without complaint and then silently answers nothing.
    """
    rows = np.arange(len(vectors))
    if len(rows) > sample:
        rows = np.sort(np.random.default_rng(0).choice(len(rows), sample, replace=False))
    for i in range(0, len(rows), 65_536):
        block = np.asarray(vectors[rows[i : i + 65_536]], dtype=np.float32)
        norms = np.linalg.norm(block, axis=1)
        if not np.all(np.isfinite(block)) or np.any(np.abs(norms - 1) > 1e-2):
            raise CorruptIndexError(
                f"{path} holds vectors that are not finite unit vectors. {_REBUILD}"
            )


def check_offsets(
    index: LoadedIndex, texts: dict[str, str], build: Path, sample: int = 200
) -> None:
    """Every record lies within its source, and a sample of quotes equals the source text."""
    records = [*index.chunks, *index.sentences]
    for record in records:
        text = texts.get(record.source)
        if text is None or not 0 <= record.start < record.end <= len(text):
            raise CorruptIndexError(
                f"{build} holds a passage of {record.source!r} at {record.start}:{record.end}, "
                f"outside the document. {_REBUILD}"
            )
    step = max(1, len(records) // sample)
    for record in records[::step]:
        if texts[record.source][record.start : record.end] != record.text:
            raise CorruptIndexError(
                f"{build} quotes {record.source!r} at {record.start}:{record.end} wrongly. "
                f"{_REBUILD}"
            )


def stale_reason(
    manifest: dict, model_id: str, chunker: ChunkerSettings, hashes: dict[str, str]
) -> str | None:
    """Why a built index no longer matches the settings or the documents, if it does not."""
    for key, value in expected_manifest(model_id, None, chunker).items():
        if manifest.get(key) != value:
            return f"{key} changed ({manifest.get(key)!r} -> {value!r})"
    built = manifest.get("sources", {})
    if built != hashes:
        changed = sorted(set(built) ^ set(hashes) | {k for k in built if hashes.get(k) != built[k]})
        return "documents changed: " + ", ".join(changed[:5])
    return None


def load(build: Path, dimension: int) -> LoadedIndex:
    """Read a build, checking every file against the manifest."""
    manifest = read_json(build / "manifest.json")
    if manifest.get("dimension") != dimension:
        raise CorruptIndexError(
            f"{build / 'manifest.json'} says dimension {manifest.get('dimension')}, the model "
            f"gives {dimension}. {_REBUILD}"
        )
    chunk_rows = read_jsonl(build / "chunks.jsonl")
    sentence_rows = read_jsonl(build / "sentences.jsonl")
    chunks = _records(chunk_rows, Chunk, build / "chunks.jsonl")
    sentences = _records(sentence_rows, SentenceRecord, build / "sentences.jsonl")
    chunk_index = read_faiss(build / "chunks.faiss")
    has_ann = manifest.get("sentence_index", "exact scan") != "exact scan"
    ann = read_faiss(build / "sentences.faiss") if has_ann else None
    # Mapped, not read: with ``ann`` only the candidates' rows are ever touched.
    vectors = read_npy(build / "sentences.npy", mapped=True)
    clause_vectors = read_npy(build / "clauses.npy", mapped=True)
    clause_spans = read_npy(build / "clause_spans.npy").reshape(-1, 3)
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
            f"{build} is inconsistent (vector and record counts differ). {_REBUILD}"
        )
    if any(c.chunk_id != i for i, c in enumerate(chunks)):
        raise CorruptIndexError(f"{build / 'chunks.jsonl'} is out of order. {_REBUILD}")
    check_vectors(vectors, build / "sentences.npy")
    check_vectors(clause_vectors, build / "clauses.npy")
    if isinstance(chunk_index, faiss.IndexFlat) and chunk_index.ntotal:
        check_vectors(chunk_index.reconstruct_n(0, chunk_index.ntotal), build / "chunks.faiss")
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
        path=build,
    )
