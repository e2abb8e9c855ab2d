"""Milvus as the store: the same records and searches as the FAISS files, on an engine
that scales past one machine (Milvus Lite file, Standalone, cluster or Zilliz Cloud).

Collections (prefix ``rag_``), one per kind:

``chunks``       chunk records and their dense vector (inner product; index: see below)
``chunk_terms``  per chunk, its :func:`rag.text.lexical_tokens` as words and the BM25
                 sparse vector Milvus computes from them
``sentences``    sentences and the clauses of multi-clause sentences, each row with the key of
                 the sentence that owns it (a sentence owns itself) and its vector
``manifest``     one ``settings`` row (format, model, dimension, chunker) and one row per
                 source (sha256, key); Milvus needs a vector field, so it carries a dummy one

Keys are ``source key << 32 | row within the source``, so a source's rows can be replaced
alone; positions (``chunk_id``, sentence row) are assigned on open, in the order
:func:`rag.ingest.read_sources` lists the documents, so the records equal what
:mod:`rag.store.build` builds for the same documents.

Syncing is by content hash and resumable: a changed or new source has its old rows deleted,
its texts embedded (reusing the vectors of texts it already held) and inserted, and only then
its manifest row written. A build killed mid-insert leaves that source unlisted (or with its
old hash), and the next open redoes exactly it; collections without a ``settings`` row are
dropped and rebuilt. A collection built with another model or dimension is refused with a
message, not dropped: on a shared server it may be someone else's.

Lexical side, measured on the 93 Chinese seed eval questions against
:class:`rag.store.lexical.LexicalIndex` (``lexical_agreement`` in benchmarks/milvus_vs_faiss.py):
BM25 over our own tokens gave the same top 10 for every question (mean overlap 1.00, same
top 1 100 %); Milvus's jieba analyzer over the raw text 0.66 and 83 %, as jieba's words
miss the character n-grams a question shares with a passage. So ours is kept. Milvus Lite
3.2.2 has only the ``standard`` and ``jieba`` tokenizers (no ``whitespace``), and
``standard`` splits Chinese into single characters, so each token is written as one ASCII
word (``t`` + its UTF-8 in hex), which ``standard`` keeps whole; the index uses the Lucene
BM25 parameters bm25s uses (k1 1.5, b 0.75).

LangChain: searches go through ``langchain_milvus.Milvus`` (dense chunk search, and BM25
through ``BM25BuiltInFunction``), attached to collections created here with ``pymilvus``.
``pymilvus`` is used directly where the vector store does not serve: creating the schema
(int keys, analyzer, BM25 parameters; the vector store infers a VARCHAR key and fields from
the first batch of metadata), inserting and deleting a source's rows, and the sentence
search, which needs each hit's owner sentence and clause flag, and some sentences' vectors.
Dense and BM25 live in separate collections because the vector store searches one vector
field by a given vector only when it has no other (with two it offers only its hybrid
search, which embeds the question again and fuses in the engine; the query path fuses the
rankings itself, by RRF, as with FAISS). langchain-milvus 0.4.0 installed beside the
project's packages without changing any of them.

Vector indexes (:func:`vector_index_for`, applied on every open by ``_fit_indexes``): each
of ``chunks`` and ``sentences`` is exact (``FLAT``) up to
:data:`rag.store.ann.EXACT_UP_TO` rows, where a scan still takes milliseconds, and
``IVF_FLAT`` beyond (lists as the FAISS store clusters, 32 probed per search), switched
in place when a sync carries a collection across the line and re-clustered once it has
grown to want four times its lists. The same reasons as the FAISS
store's (:mod:`rag.store.ann`): the reports are near copies, where a graph (HNSW) loses its
way; and IVF_FLAT keeps the raw vectors, so a hit's similarity is exact and sentence
relevance is computed from the hits as with FLAT. Milvus Lite 3.2 (with faiss-cpu
installed, as here) accepts FLAT, IVF_FLAT, IVF_SQ8, HNSW and HNSW_SQ, one index per
segment of at most 100k rows; Standalone and clusters accept all of these, so one
choice serves both (``AUTOINDEX`` is HNSW on Lite and the server's own pick elsewhere).
Build parameters go nested under ``params`` (see :meth:`VectorIndex.index_params`). Measured
in benchmarks/milvus_vs_faiss.py with IVF forced (``exact_up_to=0``) at 100 synthetic reports
(5,611 chunks in 87 lists, 63,220 sentence and clause rows in 987): 93.0 % of the exact dense
top 10 (99.2 % counting tied copies), the best sentence as relevant as the exact one for
every question, Lite's p50 for a question's searches 219 ms against FLAT's 300 ms.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_milvus import BM25BuiltInFunction, Milvus
from pymilvus import DataType, MilvusClient, MilvusException

from rag.ingest import SUPPORTED_SUFFIXES, read_sources
from rag.store.ann import CHUNK_PROBES, EXACT_UP_TO
from rag.store.base import IndexError_, IndexSpec, NoDocumentsError
from rag.store.build import embed_texts as _embed
from rag.store.build import embedding_text
from rag.store.build import spans as _spans
from rag.store.layout import expected_manifest as _expected
from rag.store.sentence_search import SentenceScores
from rag.text import lexical_tokens
from rag.types import Chunk, SentenceRecord, SkippedFile, SourceText

log = logging.getLogger(__name__)
# Every pymilvus error reaches the user as one MilvusStoreError naming the setting and the
# fix (its cause chained); pymilvus's own log of the same error, with its traceback, and its
# notes on a query iterator's timestamp are noise on a normal run.
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

ENV_URI = "RAG_MILVUS_URI"
ENV_TOKEN = "RAG_MILVUS_TOKEN"
CONNECT_TIMEOUT_S = 5.0  # a server: an unreachable one fails this fast
# Milvus Lite serves from threads of this process (pure Python): nothing remote to wait for,
# but on a busy machine it can miss 5 s, and a reconnect would then fail as "unreachable".
LITE_TIMEOUT_S = 60.0
LITE_FILE = "milvus.db"
_PREFIX = "rag"
_KEY_SHIFT = 32  # rows per source < 2**32
_INSERT_ROWS = 1000
_QUERY_ROWS = 4000  # ids per ``in`` filter
_NAMES_PER_FILTER = 500  # source names per ``in`` filter
_FETCH = 8  # sentence/clause hits wanted per sentence, as in rag.sentence_search
_MAX_TOPK = 16384  # Milvus's limit on one search
_VARCHAR = 65535
_AUTH_FAILED = 1800  # Milvus's status code for a refused user or token
_REFUSED = ("UNAUTHENTICATED", "PERMISSION_DENIED")  # gRPC statuses of a refused token
# BM25 functions and sparse vectors came with Milvus 2.5; an older server refuses the schema
# with "create index on 104 field is not supported".
MIN_SERVER_VERSION = (2, 5)
_BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's Lucene defaults


@dataclass(frozen=True)
class VectorIndex:
    """The index of a dense vector field: exact ``FLAT`` or clustered ``IVF_FLAT``."""

    kind: str
    lists: int = 0  # IVF clusters
    probes: int = 0  # clusters searched per question

    def index_params(self) -> dict:
        # Nested under "params", as pymilvus's ORM sends it and servers accept it: the
        # MilvusClient flattens a plain {"nlist": …} and Milvus Lite 3.2 then ignores it,
        # building 128 lists per segment instead.
        return {"params": {"nlist": self.lists}} if self.kind == "IVF_FLAT" else {}

    def search_params(self) -> dict:
        return {"metric_type": "IP", "params": {"nprobe": self.probes} if self.probes else {}}


EXACT = VectorIndex("FLAT")
REGROW = 4  # an IVF index is rebuilt once its collection wants this many times its lists


def vector_index_for(rows: int, exact_up_to: int = EXACT_UP_TO) -> VectorIndex:
    """Exact up to ``exact_up_to`` rows; beyond, IVF with one list per 64 rows (at most
    1,024, as the FAISS store) of which 32 are searched."""
    if rows <= exact_up_to:
        return EXACT
    lists = max(1, min(1024, rows // 64))
    return VectorIndex("IVF_FLAT", lists, min(CHUNK_PROBES, lists))


class MilvusStoreError(IndexError_):
    """Milvus cannot be used as configured; the message names the setting and the fix."""


@dataclass(frozen=True)
class MilvusConnection:
    uri: str
    token: str = ""

    @property
    def is_lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://", "tcp://", "unix:"))

    @property
    def timeout_s(self) -> float:
        return LITE_TIMEOUT_S if self.is_lite else CONNECT_TIMEOUT_S


def milvus_connection(
    index_dir: Path, uri: str | None = None, token: str | None = None
) -> MilvusConnection:
    """The URI and token given (from ``RAG_MILVUS_URI`` / ``RAG_MILVUS_TOKEN`` through the
    settings); by default a Milvus Lite file in the index folder."""
    uri = uri or str(index_dir / LITE_FILE)
    token = token or ""
    return MilvusConnection(uri, token)


def _grpc_error(exc: BaseException) -> tuple[str, str]:
    """The gRPC status and details behind ``exc``: pymilvus raises a refused call's
    ``grpc.RpcError`` as it is, or, when connecting, as the cause of "Fail connecting"."""
    for error in (exc, exc.__cause__):
        if isinstance(error, grpc.RpcError) and callable(getattr(error, "code", None)):
            details = getattr(error, "details", None)
            return error.code().name, str(details() if callable(details) else "")
    return "", ""


def _explain(
    exc: MilvusException | grpc.RpcError, conn: MilvusConnection, action: str
) -> MilvusStoreError:
    status, details = _grpc_error(exc)
    if status in _REFUSED or isinstance(exc, grpc.RpcError):
        reason = details or status
    else:
        reason = str(getattr(exc, "message", "") or exc)
    reason = (reason.splitlines() or [""])[0][:300]
    lower = f"{reason} {status}".lower()  # a raw gRPC error: UNAVAILABLE, DEADLINE_EXCEEDED
    refused = ("auth", "credential", "password", "token", "permission", "api key")
    if (
        status in _REFUSED
        or getattr(exc, "code", None) == _AUTH_FAILED
        or any(w in lower for w in refused)
    ):
        return MilvusStoreError(
            f"Milvus at {conn.uri} refused the credentials ({ENV_TOKEN}): {reason}. "
            f"Fix: set {ENV_TOKEN} to 'user:password' or an API key that server accepts."
        )
    if any(w in lower for w in ("fail connecting", "unavailable", "deadline", "timeout")):
        token = f" (or, with {ENV_TOKEN} set, check the token)" if conn.token else ""
        return MilvusStoreError(
            f"Cannot reach Milvus at {conn.uri} ({ENV_URI}) within {conn.timeout_s:.0f} s: "
            f"{reason}. Fix: start the server, or set {ENV_URI} to its address "
            f"(http://host:19530) or to a file path ending in .db for Milvus Lite{token}."
        )
    return MilvusStoreError(
        f"Milvus at {conn.uri} ({ENV_URI}) failed while {action}: {reason}. Fix: check the "
        "server's log; `python -m rag index --rebuild --store milvus` rebuilds the collections."
    )


@contextmanager
def _milvus_errors(conn: MilvusConnection, action: str) -> Iterator[None]:
    try:
        yield
    except (MilvusException, grpc.RpcError) as exc:
        raise _explain(exc, conn, action) from exc


@dataclass(frozen=True)
class _Names:
    chunks: str
    terms: str
    sentences: str
    manifest: str

    @classmethod
    def of(cls, prefix: str) -> _Names:
        return cls(
            f"{prefix}_chunks", f"{prefix}_chunk_terms", f"{prefix}_sentences", f"{prefix}_manifest"
        )

    def all(self) -> tuple[str, ...]:
        return (self.chunks, self.terms, self.sentences, self.manifest)


def lexical_words(text: str) -> str:
    """``text``'s :func:`lexical_tokens` as ASCII words that the ``standard`` tokenizer keeps
    whole (it would split a Chinese bigram into its characters)."""
    return " ".join("t" + token.encode().hex() for token in lexical_tokens(text))


def _collection(
    client: MilvusClient,
    name: str,
    fields: list[tuple[str, DataType, dict]],
    metric: str,
    function: BM25BuiltInFunction | None = None,
) -> None:
    """Create ``name`` with ``fields``; its last field is the vector, indexed for ``metric``."""
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    for field, dtype, extra in fields:
        schema.add_field(field, dtype, **extra)
    if function is not None:
        schema.add_function(function.function)
    index = client.prepare_index_params()
    bm25 = metric == "BM25"
    index.add_index(
        fields[-1][0],
        index_type="SPARSE_INVERTED_INDEX" if bm25 else EXACT.kind,  # refitted by size on open
        metric_type=metric,
        params={"params": _BM25} if bm25 else {},  # nested: see VectorIndex.index_params
    )
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def _fit_indexes(
    client: MilvusClient, names: _Names, exact_up_to: int
) -> dict[str, VectorIndex]:
    """Give ``chunks`` and ``sentences`` the index their size calls for; the index of each,
    for its searches.

    A change of kind rebuilds, and so does an IVF index whose collection has outgrown its
    lists :data:`REGROW`-fold (each list then holds that many times the rows it was sized
    for, and every search scans them); smaller growth keeps it: the clustering costs
    minutes at this size."""
    chosen = {}
    for name in (names.chunks, names.sentences):
        rows = int(client.get_collection_stats(name)["row_count"])
        wanted = vector_index_for(rows, exact_up_to)
        described = client.describe_index(name, "vector")
        have = VectorIndex(
            described.get("index_type", ""), int((described.get("params") or {}).get("nlist", 0))
        )
        if have.kind == wanted.kind == "IVF_FLAT" and wanted.lists < REGROW * have.lists:
            wanted = VectorIndex(wanted.kind, have.lists, min(wanted.probes, have.lists))
        if have.kind != wanted.kind or have.lists != wanted.lists:
            log.info("Milvus: %s holds %d rows; indexing it as %s%s", name, rows, wanted.kind,
                     f" with {wanted.lists} lists" if wanted.lists else "")
            client.release_collection(name)
            client.drop_index(name, "vector")
            index = client.prepare_index_params()
            index.add_index(
                "vector", index_type=wanted.kind, metric_type="IP", params=wanted.index_params()
            )
            client.create_index(name, index)
        chosen[name] = wanted
    return chosen


def _create(client: MilvusClient, names: _Names, dimension: int) -> None:
    text = {"max_length": _VARCHAR}
    key = ("key", DataType.INT64, {"is_primary": True})
    source = ("source", DataType.VARCHAR, text)
    record = [
        key,
        source,
        ("ordinal", DataType.INT64, {}),
        ("section", DataType.VARCHAR, text),
        ("start", DataType.INT64, {}),
        ("end", DataType.INT64, {}),
        ("line", DataType.INT64, {}),
        ("text", DataType.VARCHAR, text),
    ]
    dense = ("vector", DataType.FLOAT_VECTOR, {"dim": dimension})
    _collection(client, names.chunks, [*record, dense], "IP")
    analyzer = {"enable_analyzer": True, "analyzer_params": {"tokenizer": "standard"}}
    terms = [
        key,
        source,
        ("lexical", DataType.VARCHAR, text | analyzer),
        ("sparse", DataType.SPARSE_FLOAT_VECTOR, {}),
    ]
    bm25 = BM25BuiltInFunction(
        input_field_names="lexical", output_field_names="sparse", function_name="bm25"
    )
    _collection(client, names.terms, terms, "BM25", bm25)
    sentence = [
        ("owner", DataType.INT64, {}),  # key of the sentence a row belongs to (itself, or
        ("clause", DataType.BOOL, {}),  # the sentence of a clause)
        ("label", DataType.BOOL, {}),
        ("page", DataType.INT64, {}),  # 0: no pages
    ]
    _collection(client, names.sentences, [*record, *sentence, dense], "IP")
    meta = [
        ("name", DataType.VARCHAR, {"is_primary": True, "max_length": _VARCHAR}),
        ("value", DataType.VARCHAR, text),  # JSON
        ("vector", DataType.FLOAT_VECTOR, {"dim": 2}),  # Milvus needs one; unused
    ]
    _collection(client, names.manifest, meta, "L2")


def _reset(client: MilvusClient, names: _Names, dimension: int, settings: dict) -> None:
    for name in names.all():
        if client.has_collection(name):
            client.drop_collection(name)
    _create(client, names, dimension)
    _put_meta(client, names, "settings", settings)


def _put_meta(client: MilvusClient, names: _Names, name: str, value: dict) -> None:
    row = {"name": name, "value": json.dumps(value, ensure_ascii=False), "vector": [0.0, 0.0]}
    client.upsert(names.manifest, [row])


def _read_meta(client: MilvusClient, names: _Names) -> tuple[dict | None, dict[str, dict]]:
    """The settings row (None when absent or unreadable) and the source rows."""
    settings: dict | None = None
    sources: dict[str, dict] = {}
    for row in _iterate(client, names.manifest, 'name != ""', ["name", "value"]):
        try:
            value = json.loads(row["value"])
        except ValueError:
            continue  # a damaged row reads as absent: its source is synced again
        if row["name"] == "settings":
            settings = value
        elif row["name"].startswith("source:"):
            sources[row["name"][len("source:") :]] = value
    return settings, sources


def _quoted(value: str) -> str:
    """A string literal for a Milvus filter (Milvus Lite has no filter templates)."""
    return json.dumps(value, ensure_ascii=False)


def _of_source(source: str | None) -> str | None:
    """The filter expression for one document's rows (None: every document's)."""
    return None if source is None else f"source == {_quoted(source)}"


def _any_of(sources: list[str]) -> list[str]:
    """Filters for rows of any of ``sources``, a few hundred names each.

    One filter for many sources, not one per source: Milvus Lite scans the collection for
    each filtered delete or query, so a delete per source made a 1,000-report build
    quadratic (0.1 s a delete at 20 reports, 0.9 s at 60).
    """
    return [
        f"source in [{', '.join(_quoted(name) for name in sources[i : i + _NAMES_PER_FILTER])}]"
        for i in range(0, len(sources), _NAMES_PER_FILTER)
    ]


def _iterate(
    client: MilvusClient, collection: str, where: str, fields: list[str]
) -> Iterator[dict]:
    iterator = client.query_iterator(
        collection, batch_size=1000, filter=where, output_fields=fields
    )
    try:
        while batch := iterator.next():
            yield from batch
    finally:
        iterator.close()


def _source_rows(
    source: SourceText, key: int, chunker_spans: tuple, vector_of: dict[str, np.ndarray]
) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows of one source for the chunks, chunk_terms and sentences collections."""
    chunks, sentences, _, clauses = chunker_spans
    base = key << _KEY_SHIFT
    chunk_rows, term_rows, sentence_rows = [], [], []
    for ordinal, c in enumerate(chunks):
        fields = {
            "source": c.source,
            "ordinal": ordinal,
            "section": c.section,
            "start": c.start,
            "end": c.end,
            "line": c.line,
            "text": c.text,
        }
        vector = vector_of[embedding_text(c.section, c.text)]
        chunk_rows.append({"key": base + ordinal, **fields, "vector": vector})
        lexical = lexical_words(f"{c.section} {c.text}")
        term_rows.append({"key": base + ordinal, "source": c.source, "lexical": lexical})

    def sentence_row(
        row_key: int,
        owner: int,
        ordinal: int,
        s: SentenceRecord,
        start: int,
        end: int,
        clause: bool,
    ) -> dict:
        quoted = source.text[start:end]
        return {
            "key": row_key,
            "owner": owner,
            "clause": clause,
            "label": s.label,
            "page": s.page or 0,
            "source": s.source,
            "ordinal": ordinal,
            "section": s.section,
            "start": start,
            "end": end,
            "line": s.line,
            "text": quoted,
            "vector": vector_of[quoted],
        }

    for ordinal, s in enumerate(sentences):
        sentence_rows.append(
            sentence_row(base + ordinal, base + ordinal, ordinal, s, s.start, s.end, False)
        )
    for n, (owner, a, b) in enumerate(clauses):
        sentence_rows.append(
            sentence_row(
                base + len(sentences) + n, base + owner, owner, sentences[owner], a, b, True
            )
        )
    return chunk_rows, term_rows, sentence_rows


def _insert(client: MilvusClient, collection: str, rows: list[dict]) -> None:
    for i in range(0, len(rows), _INSERT_ROWS):
        client.insert(collection, rows[i : i + _INSERT_ROWS])


def _known_vectors(
    client: MilvusClient, names: _Names, sources: list[str]
) -> dict[str, np.ndarray]:
    """The vectors the sources' rows already hold, keyed by the text embedded."""
    known: dict[str, np.ndarray] = {}
    for where in _any_of(sources):
        for row in _iterate(client, names.chunks, where, ["section", "text", "vector"]):
            text = embedding_text(row["section"], row["text"])
            known[text] = np.asarray(row["vector"], np.float32)
        for row in _iterate(client, names.sentences, where, ["text", "vector"]):
            known[row["text"]] = np.asarray(row["vector"], np.float32)
    return known


def _sync(
    client: MilvusClient,
    names: _Names,
    sources: list[SourceText],
    spec: IndexSpec,
    embeddings: Embeddings,
    dimension: int,
    progress: Callable[[int, int], None] | None,
    conn: MilvusConnection,
    rebuild: bool,
) -> tuple[dict[str, dict], int]:
    """Bring the collections in line with ``sources``; their source rows and texts embedded."""
    wanted = _expected(spec.model_id, dimension, spec.chunker) | {"lexical": "tokens"}
    settings, known = None, {}
    if client.has_collection(names.manifest):
        for name in names.all():
            if client.has_collection(name):
                client.load_collection(name)
        settings, known = _read_meta(client, names)
    if settings is not None and not rebuild:
        for key in ("model", "dimension"):
            if settings.get(key) != wanted[key]:
                raise MilvusStoreError(
                    f"The Milvus collections {names.chunks}… at {conn.uri} were built with "
                    f"{key} {settings.get(key)!r}; this setup embeds with {wanted[key]!r} "
                    f"(RAG_EMBED_MODEL). Fix: set {ENV_URI} to another database or file, or "
                    "rebuild them: `python -m rag index --rebuild --store milvus`."
                )
        if any(settings.get(k) != v for k, v in wanted.items()):
            log.info("Milvus collections were built with other chunker settings; rebuilding")
            rebuild = True
    elif settings is None and any(client.has_collection(n) for n in names.all()):
        log.warning("Milvus collections at %s hold no finished build; rebuilding", conn.uri)
    reset = rebuild or settings is None
    if reset:
        _reset(client, names, dimension, wanted)
        known = {}
    current = {s.name for s in sources}
    removed = [name for name in known if name not in current]
    todo = [s for s in sources if known.get(s.name, {}).get("sha256") != s.sha256]
    _delete_sources(client, names, removed)
    if removed:
        client.delete(names.manifest, ids=[f"source:{name}" for name in removed])
    if todo and not reset:
        # Rows of a removed source whose first insert was cut short are in no source row.
        for collection in (names.chunks, names.terms, names.sentences):
            listed = ", ".join(_quoted(name) for name in sorted(current))
            client.delete(collection, filter=f"not (source in [{listed}])")
    spans = {s.name: _spans([s], spec.chunker) for s in todo}
    # Also a source whose insert was cut short.
    reusable = {} if reset else _known_vectors(client, names, [s.name for s in todo])
    every = (t for s in todo for kind in spans[s.name][2].values() for t in kind)
    texts = [t for t in dict.fromkeys(every) if t not in reusable]
    fresh = _embed(embeddings, texts, dimension, progress)
    vector_of = reusable | dict(zip(texts, fresh, strict=True))
    next_key = max((v.get("key", 0) for v in known.values()), default=0) + 1
    if not reset:  # fresh collections hold nothing to delete
        _delete_sources(client, names, [s.name for s in todo])
    for s in todo:
        rows = _source_rows(s, next_key, spans[s.name], vector_of)
        for collection, kind_rows in zip(
            (names.chunks, names.terms, names.sentences), rows, strict=True
        ):
            _insert(client, collection, kind_rows)
        entry = {"sha256": s.sha256, "key": next_key}
        _put_meta(client, names, f"source:{s.name}", entry)  # last: the source is complete
        known[s.name] = entry
        next_key += 1
    for name in removed:
        known.pop(name)
    if todo or removed:
        for name in names.all():
            client.flush(name)
        log.info(
            "Milvus: %d documents synced, %d removed, %d texts embedded",
            len(todo),
            len(removed),
            len(texts),
        )
    return known, len(texts)


def _delete_sources(client: MilvusClient, names: _Names, sources: list[str]) -> None:
    for where in _any_of(sources):
        for collection in (names.chunks, names.terms, names.sentences):
            client.delete(collection, filter=where)


_RECORD = ["key", "source", "ordinal", "section", "start", "end", "line", "text"]


def _load_records(
    client: MilvusClient, names: _Names, sources: list[SourceText], keys: dict[str, dict]
) -> tuple[list[Chunk], np.ndarray, list[SentenceRecord], np.ndarray]:
    """Chunks and sentences in document order, with each position's Milvus key."""
    order = {s.name: n for n, s in enumerate(sources)}
    key_of = {keys[s.name]["key"]: s.name for s in sources}

    def rows(collection: str, where: str, fields: list[str]) -> list[dict]:
        found = [
            r
            for r in _iterate(client, collection, where, fields)
            if key_of.get(r["key"] >> _KEY_SHIFT) == r["source"]
        ]
        return sorted(found, key=lambda r: (order[r["source"]], r["ordinal"]))

    chunk_rows = rows(names.chunks, "key >= 0", _RECORD)
    chunks = [
        Chunk(n, r["text"], r["source"], r["section"], r["start"], r["end"], r["line"])
        for n, r in enumerate(chunk_rows)
    ]
    sentence_rows = rows(names.sentences, "clause == false", [*_RECORD, "label", "page"])
    sentences = [
        SentenceRecord(
            r["source"],
            r["section"],
            r["start"],
            r["end"],
            r["line"],
            r["text"],
            r["label"],
            r["page"] or None,
        )
        for r in sentence_rows
    ]
    return (
        chunks,
        np.asarray([r["key"] for r in chunk_rows], np.int64),
        sentences,
        np.asarray([r["key"] for r in sentence_rows], np.int64),
    )


class _SentenceScorer:
    """Exact relevance of sentences from their vectors in Milvus, as rag.sentence_search
    computes it: the mean of a sentence's own cosine and the best of (own, its clauses')."""

    def __init__(self, store: MilvusStore) -> None:
        self.store = store

    def score(self, rows: list[int], vector: np.ndarray) -> dict[int, float]:
        store = self.store
        owners = store._sentence_keys[np.asarray(rows, np.int64)].tolist()
        own: dict[int, float] = {}
        best: dict[int, float] = {}
        for i in range(0, len(owners), _QUERY_ROWS):
            found = store._query(
                store._names.sentences,
                f"owner in {owners[i : i + _QUERY_ROWS]}",
                ["owner", "clause", "vector"],
            )
            for r in found:
                cosine = float(np.asarray(r["vector"], np.float32) @ vector)
                if not r["clause"]:
                    own[r["owner"]] = cosine
                best[r["owner"]] = max(best.get(r["owner"], -2.0), cosine)
        return {row: (own[k] + best[k]) / 2 for row, k in zip(rows, owners, strict=True)}


class MilvusStore:
    """The store interface over Milvus collections (see the module docstring)."""

    def __init__(
        self,
        client: MilvusClient,
        conn: MilvusConnection,
        names: _Names,
        embeddings: Embeddings,
        manifest: dict,
        sources: list[SourceText],
        skipped: list[SkippedFile],
        keys: dict[str, dict],
        indexes: dict[str, VectorIndex] | None = None,
    ) -> None:
        self._client, self._conn, self._names = client, conn, names
        indexes = indexes or {}
        #: collection -> its dense index (FLAT or IVF_FLAT), chosen by size on open
        self.indexes = {n: indexes.get(n, EXACT) for n in (names.chunks, names.sentences)}
        self.manifest = manifest
        self.texts = {s.name: s.text for s in sources}
        self.ocr_lines = {s.name: s.ocr_lines for s in sources if s.ocr_lines}
        self.skipped = skipped
        self.warning: str | None = None
        self.location = conn.uri
        with _milvus_errors(conn, "reading the records"):
            self.chunks, self._chunk_keys, self.sentences, self._sentence_keys = _load_records(
                client, names, sources, keys
            )
        self._chunk_at = {int(k): n for n, k in enumerate(self._chunk_keys)}
        self._sentence_at = {int(k): n for n, k in enumerate(self._sentence_keys)}
        args = {"uri": conn.uri, "token": conn.token, "timeout": conn.timeout_s}
        with _milvus_errors(conn, "opening the vector stores"):
            self._dense = Milvus(
                embeddings,
                collection_name=names.chunks,
                connection_args=args,
                primary_field="key",
                text_field="text",
                vector_field="vector",
                consistency_level="Strong",
                search_params=self.indexes[names.chunks].search_params(),
            )
            self._lexical = Milvus(
                None,
                collection_name=names.terms,
                connection_args=args,
                primary_field="key",
                text_field="lexical",
                vector_field="sparse",
                builtin_function=BM25BuiltInFunction(
                    input_field_names="lexical", output_field_names="sparse"
                ),
                consistency_level="Strong",
                search_params={"metric_type": "BM25", "params": {}},
            )
        self._scorer = _SentenceScorer(self)

    def _query(self, collection: str, where: str, fields: list[str]) -> list:
        with _milvus_errors(self._conn, "querying"):
            return self._client.query(collection, filter=where, output_fields=fields)

    def chunk_search(
        self, vector: np.ndarray, fetch: int, source: str | None = None
    ) -> dict[int, float]:
        """Up to ``fetch`` chunk ids -> cosine similarity, best first."""
        fetch = min(fetch, len(self.chunks), _MAX_TOPK)
        if fetch <= 0:
            return {}
        with _milvus_errors(self._conn, "searching the chunks"):
            hits = self._dense.similarity_search_with_score_by_vector(
                np.asarray(vector, np.float32).tolist(), k=fetch, expr=_of_source(source)
            )
        found = ((self._chunk_at.get(doc.metadata["key"]), score) for doc, score in hits)
        return {i: float(score) for i, score in found if i is not None}

    def chunk_similarity(self, chunk_id: int, vector: np.ndarray) -> float:
        key = int(self._chunk_keys[chunk_id])
        rows = self._query(self._names.chunks, f"key == {key}", ["vector"])
        return float(np.asarray(rows[0]["vector"], np.float32) @ np.asarray(vector, np.float32))

    def lexical_search(
        self, text: str, fetch: int, source: str | None = None
    ) -> list[tuple[int, float]]:
        """Chunk ids with a positive BM25 score for ``text``, best first."""
        words = lexical_words(text)
        fetch = min(fetch, len(self.chunks), _MAX_TOPK)
        if not words or fetch <= 0:
            return []
        with _milvus_errors(self._conn, "searching the chunk terms"):
            hits = self._lexical.similarity_search_with_score(
                words, k=fetch, expr=_of_source(source)
            )
        # Milvus Lite reports BM25 as a negative distance, a server as a positive score;
        # both scale it by (k1 + 1), which Lucene's variant (bm25s, the FAISS store) drops.
        scale = 1 + _BM25["bm25_k1"]
        found = ((self._chunk_at.get(doc.metadata["key"]), abs(s) / scale) for doc, s in hits)
        ranked = sorted(
            ((i, s) for i, s in found if i is not None and s > 0), key=lambda hit: -hit[1]
        )
        return ranked

    def sentence_relevance(
        self, vector: np.ndarray, limit: int, source: str | None = None
    ) -> SentenceScores:
        """The ``limit`` most relevant sentences: candidates named by a search over sentences
        and clauses, scored from the hits' own similarities.

        With exact search a candidate's best row is among the hits (any row left out scores
        below every hit), so only the own cosine of a sentence present through a clause
        alone is fetched. With IVF the hits are approximate (their similarities still exact).
        """
        vector = np.asarray(vector, np.float32)
        fetch = min(limit * _FETCH, _MAX_TOPK)
        with _milvus_errors(self._conn, "searching the sentences"):
            hits = self._client.search(
                self._names.sentences,
                data=[vector.tolist()],
                anns_field="vector",
                limit=fetch,
                filter=_of_source(source) or "",
                output_fields=["owner", "clause"],
                search_params=self.indexes[self._names.sentences].search_params(),
            )[0]
        own: dict[int, float] = {}
        best: dict[int, float] = {}
        for hit in hits:
            owner, similarity = hit["entity"]["owner"], float(hit["distance"])
            if owner in self._sentence_at:
                best[owner] = max(best.get(owner, -2.0), similarity)
                if not hit["entity"]["clause"]:
                    own[owner] = similarity
        missing = [k for k in best if k not in own]
        for i in range(0, len(missing), _QUERY_ROWS):
            where = f"key in {missing[i : i + _QUERY_ROWS]}"
            for r in self._query(self._names.sentences, where, ["key", "vector"]):
                own[r["key"]] = float(np.asarray(r["vector"], np.float32) @ vector)
        scores = {self._sentence_at[k]: (own[k] + max(own[k], b)) / 2 for k, b in best.items()}
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)[:limit]
        # ``search`` is duck-typed: SentenceScores only calls its ``score``.
        return SentenceScores(
            np.asarray(ranked, np.int64),
            self._scorer,
            vector,
            known=scores,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self._client.close()


def _connect(conn: MilvusConnection) -> MilvusClient:
    if conn.is_lite:
        Path(conn.uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
    with _milvus_errors(conn, "connecting"):
        client = MilvusClient(uri=conn.uri, token=conn.token, timeout=conn.timeout_s)
        version = "" if conn.is_lite else str(client.get_server_version())
    found = re.match(r"v?(\d+)\.(\d+)", version)
    if found and tuple(map(int, found.groups())) < MIN_SERVER_VERSION:
        client.close()
        wanted = ".".join(map(str, MIN_SERVER_VERSION))
        raise MilvusStoreError(
            f"Milvus at {conn.uri} ({ENV_URI}) is version {version}; this store needs Milvus "
            f"{wanted} or later (BM25 full-text search). Fix: upgrade the server, or unset "
            f"{ENV_URI} to use Milvus Lite in the index folder."
        )
    return client


def open_milvus_store(
    spec: IndexSpec,
    embeddings: Embeddings,
    progress: Callable[[int, int], None] | None = None,
    uri: str | None = None,
    token: str | None = None,
    *,
    rebuild: bool = False,
    exact_up_to: int = EXACT_UP_TO,
) -> MilvusStore:
    """Sync the Milvus collections with the documents (by content hash), then open them.

    ``rebuild`` drops and rebuilds the collections (also after another model built them);
    a dense collection of more than ``exact_up_to`` rows is indexed approximately (IVF).
    """
    started = time.perf_counter()
    conn = milvus_connection(spec.index_dir, uri, token)
    client = _connect(conn)  # first: a wrong address fails before any other work
    sources, skipped = read_sources(spec.docs_dir)
    if not sources:
        client.close()
        raise NoDocumentsError(
            f"No readable documents ({', '.join(SUPPORTED_SUFFIXES)}) in {spec.docs_dir}. "
            "Fix: put the reports there (or set RAG_DOCS_DIR / --docs)."
        )
    dimension = len(embeddings.embed_query("dimension probe"))
    names = _Names.of(_PREFIX)
    with _milvus_errors(conn, "syncing the collections"):
        keys, embedded = _sync(
            client, names, sources, spec, embeddings, dimension, progress, conn, rebuild
        )
        indexes = _fit_indexes(client, names, exact_up_to)
        for name in names.all():
            client.load_collection(name)
    manifest = _expected(spec.model_id, dimension, spec.chunker) | {
        "store": "milvus",
        "uri": conn.uri,
        "sources": {s.name: s.sha256 for s in sources},
        "embedded": embedded,
    }
    manifest["milvus_indexes"] = {n: i.kind for n, i in indexes.items()}
    store = MilvusStore(
        client, conn, names, embeddings, manifest, sources, skipped, keys, indexes
    )
    manifest |= {"chunks": len(store.chunks), "sentences": len(store.sentences)}
    log.info(
        "Milvus store at %s: %d documents, %d chunks, %d sentences in %.1f s",
        conn.uri,
        len(sources),
        len(store.chunks),
        len(store.sentences),
        time.perf_counter() - started,
    )
    return store


__all__ = [
    "ENV_TOKEN",
    "ENV_URI",
    "MilvusConnection",
    "MilvusStore",
    "MilvusStoreError",
    "VectorIndex",
    "milvus_connection",
    "open_milvus_store",
    "vector_index_for",
]
