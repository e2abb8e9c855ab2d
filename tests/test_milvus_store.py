"""The Milvus store on real Milvus Lite files, against the FAISS store on the same documents.

Both stores embed through one memo over the real bundled model, so each distinct text is
embedded once per session; ``requested`` counts the texts a store asked to embed.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED, copy_seeds
from langchain_core.embeddings import Embeddings
from pymilvus import MilvusException

from rag.config import PROJECT_ROOT, ChunkerSettings, ModelSettings
from rag.embeddings import model_identity
from rag.ingest import read_sources
from rag.store.base import IndexSpec
from rag.store.build import ensure_index
from rag.store.build import spans as _spans
from rag.store.lexical import LexicalIndex
from rag.store.milvus_store import (
    CONNECT_TIMEOUT_S,
    ENV_TOKEN,
    ENV_URI,
    REGROW,
    MilvusConnection,
    MilvusStoreError,
    _explain,
    open_milvus_store,
    vector_index_for,
)
from rag.store.sentence_search import SentenceSearch

MODEL = model_identity("bundled", ModelSettings().backend)  # what the suite embeds with
QUESTION = "全年开展了多少轮全员核酸检测？"


class MemoEmbeddings(Embeddings):
    """The real model, each distinct text embedded once; counts what the store asks for."""

    def __init__(self, inner: Embeddings, dimension: int | None = None) -> None:
        self.inner, self.dimension = inner, dimension
        self.memo: dict[str, list[float]] = {}
        self.requested = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.requested += len(texts)
        new = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if new:
            self.memo.update(zip(new, self.inner.embed_documents(new), strict=True))
        return [self.memo[t][: self.dimension] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)[: self.dimension]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """As the real model's: a question and its parts in one batch, which the int8 model
        does not embed bit for bit as it does them one by one."""
        return [v[: self.dimension] for v in self.inner.embed_queries(texts)]


@pytest.fixture(scope="module")
def memo(embeddings) -> MemoEmbeddings:  # noqa: ANN001
    return MemoEmbeddings(embeddings)


def spec_for(folder: Path, model: str = MODEL) -> IndexSpec:
    return IndexSpec(folder / "docs", folder / "index", model, ChunkerSettings())


@pytest.fixture(scope="module")
def seed(tmp_path_factory, memo):  # noqa: ANN001, ANN201
    """The seed indexed by both stores: (FAISS LoadedIndex, MilvusStore, folder)."""
    folder = tmp_path_factory.mktemp("milvus-seed")
    copy_seeds(folder / "docs")
    faiss_index = ensure_index(IndexSpec(folder / "docs", folder / "faiss", MODEL), memo)
    store = open_milvus_store(spec_for(folder), memo)
    yield faiss_index, store, folder
    store.close()


def seed_questions(n: int = 20) -> list[str]:
    rows = [json.loads(line) for line in (PROJECT_ROOT / "evals/questions.jsonl").open()]
    chinese = [r["question"] for r in rows if r["lang"] == "zh"]
    step = len(chinese) / n
    return [chinese[int(i * step)] for i in range(n)]


def test_records_equal_the_faiss_build(seed) -> None:  # noqa: ANN001
    faiss_index, store, _ = seed
    assert store.chunks == faiss_index.chunks
    assert store.sentences == faiss_index.sentences
    assert store.manifest["sources"] == faiss_index.manifest["sources"]
    assert store.manifest["model"] == MODEL and store.manifest["dimension"] == 384
    text = SEED.read_text(encoding="utf-8")
    assert store.texts == {SEED.name: text}
    assert all(text[s.start : s.end] == s.text for s in store.sentences)
    assert all(text[c.start : c.end] == c.text for c in store.chunks)


def test_the_73_rounds_sentence_and_its_chunk_are_found(seed, memo) -> None:  # noqa: ANN001
    faiss_index, store, _ = seed
    vector = np.asarray(memo.embed_query(QUESTION), np.float32)
    scores = store.sentence_relevance(vector, 120)
    top = [store.sentences[int(i)].text for i in scores.ranked[:3]]
    assert top[0].startswith("全年开展73轮全员核酸检测"), top
    exact = SentenceSearch(
        faiss_index.sentence_vectors, faiss_index.clause_vectors, faiss_index.clause_owners
    ).relevance(vector, 120)
    assert scores.ranked[:10].tolist() == exact.ranked[:10].tolist()
    rows = exact.ranked[:40].tolist()
    assert np.allclose(scores.of(rows), exact.of(rows), atol=1e-4)
    narrow = store.sentence_relevance(vector, 3)  # 24 hits: most rows scored on demand
    assert narrow.ranked.tolist() == exact.ranked[:3].tolist()
    every = list(range(len(store.sentences)))
    assert np.allclose(narrow.of(every), exact.every, atol=1e-5)
    row = int(scores.ranked[0])
    sentence = store.sentences[row]
    holding = {
        c.chunk_id
        for c in store.chunks
        if c.source == sentence.source and c.start <= sentence.start and sentence.end <= c.end
    }
    assert holding & set(list(store.chunk_search(vector, 30))[:5])
    assert holding & {i for i, _ in store.lexical_search(QUESTION, 30)[:3]}
    chunk_id = min(holding)
    expected = float(faiss_index.chunk_index.reconstruct(chunk_id) @ vector)
    assert store.chunk_similarity(chunk_id, vector) == pytest.approx(expected, abs=1e-5)


def test_a_search_of_one_document_filters_inside_milvus(seed, memo) -> None:  # noqa: ANN001
    """The seed is the only document: its filter keeps every hit, another name none."""
    _, store, _ = seed
    vector = np.asarray(memo.embed_query(QUESTION), np.float32)
    assert store.chunk_search(vector, 30, SEED.name) == store.chunk_search(vector, 30)
    assert store.lexical_search(QUESTION, 30, SEED.name) == store.lexical_search(QUESTION, 30)
    alone = store.sentence_relevance(vector, 120).ranked.tolist()
    assert store.sentence_relevance(vector, 120, SEED.name).ranked.tolist() == alone
    other = 'no "such" report.txt'  # quoted in the filter expression
    assert store.chunk_search(vector, 30, other) == {}
    assert store.lexical_search(QUESTION, 30, other) == []
    assert store.sentence_relevance(vector, 120, other).ranked.tolist() == []


def test_chunk_rankings_match_the_faiss_store(seed, memo) -> None:  # noqa: ANN001
    """At the retriever's depths (30 chunks, 120 sentences for k = 5), so the fused ranking
    and the answer cannot differ between the stores."""
    faiss_index, store, _ = seed
    lexical = LexicalIndex([f"{c.section} {c.text}" for c in faiss_index.chunks])
    sentences = SentenceSearch(
        faiss_index.sentence_vectors, faiss_index.clause_vectors, faiss_index.clause_owners
    )
    overlaps = []
    for question in seed_questions():
        vector = np.asarray(memo.embed_query(question), np.float32)
        scores, ids = faiss_index.chunk_index.search(vector.reshape(1, -1), 30)
        dense = store.chunk_search(vector, 30)
        assert list(dense)[:5] == ids[0][:5].tolist(), question
        assert set(dense) == set(ids[0].tolist())
        assert np.allclose(list(dense.values()), scores[0], atol=1e-5)
        bm25 = lexical.scores(question)
        expected = [int(i) for i in np.argsort(-bm25, kind="stable")[:30] if bm25[i] > 0]
        found = store.lexical_search(question, 30)
        assert found and found[0][0] == expected[0], question
        assert np.allclose([s for _, s in found], bm25[expected[: len(found)]], rtol=1e-4)
        overlaps.append(len({i for i, _ in found[:10]} & set(expected[:10])) / 10)
        exact = sentences.relevance(vector, 120)
        relevance = store.sentence_relevance(vector, 120)
        assert relevance.ranked[:10].tolist() == exact.ranked[:10].tolist(), question
        assert np.allclose(
            relevance.of(exact.ranked.tolist()), exact.every[exact.ranked], atol=1e-5
        )
    assert np.mean(overlaps) >= 0.95, overlaps


def small_report(n: int) -> str:
    """A few paragraphs of the seed under a title of their own."""
    paragraphs = [p for p in SEED.read_text(encoding="utf-8").splitlines() if len(p) > 60]
    return "\n".join([f"测试镇第{n}号政府工作报告", *paragraphs[3 * n : 3 * n + 3]]) + "\n"


def texts_of(folder: Path) -> dict[str, set[str]]:
    sources, _ = read_sources(folder)
    return {
        s.name: {t for kind in _spans([s], ChunkerSettings())[2].values() for t in kind}
        for s in sources
    }


def test_add_change_and_remove_update_incrementally(tmp_path, memo) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(small_report(1), encoding="utf-8")
    spec = spec_for(tmp_path)

    def reopen() -> tuple[object, int]:
        before = memo.requested
        store = open_milvus_store(spec, memo)
        store.close()
        return store, memo.requested - before

    store, embedded = reopen()
    assert embedded == len(texts_of(docs)["a.txt"]) > 0
    assert reopen()[1] == 0  # unchanged documents: nothing embedded

    (docs / "b.txt").write_text(small_report(2), encoding="utf-8")
    store, embedded = reopen()
    assert embedded == len(texts_of(docs)["b.txt"])
    assert {c.source for c in store.chunks} == {"a.txt", "b.txt"}

    old = texts_of(docs)["b.txt"]
    text = (docs / "b.txt").read_text(encoding="utf-8")
    (docs / "b.txt").write_text(text.replace("。", "。新增一句测试内容。", 1), encoding="utf-8")
    new = texts_of(docs)["b.txt"]
    store, embedded = reopen()
    assert 0 < embedded == len(new - old) < len(new)  # only the edited passages
    assert any("新增一句测试内容" in s.text for s in store.sentences)

    (docs / "a.txt").unlink()
    store, embedded = reopen()
    assert embedded == 0
    assert {c.source for c in store.chunks} == {"b.txt"}
    faiss_index = ensure_index(IndexSpec(docs, tmp_path / "faiss", MODEL), memo)
    assert store.chunks == faiss_index.chunks and store.sentences == faiss_index.sentences
    from pymilvus import MilvusClient

    client = MilvusClient(str(tmp_path / "index" / "milvus.db"))
    for name in ("rag_chunks", "rag_chunk_terms", "rag_sentences"):
        client.load_collection(name)
        assert client.query(name, filter='source == "a.txt"', output_fields=["key"]) == []
    client.close()


def test_a_build_cut_short_is_resumed(tmp_path, memo, monkeypatch) -> None:  # noqa: ANN001
    """Rows inserted, the source's manifest row never written (a kill mid-build)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(small_report(3), encoding="utf-8")
    import rag.store.milvus_store as milvus_store

    real = milvus_store._put_meta

    def killed(client, names, name, value) -> None:  # noqa: ANN001
        if name.startswith("source:"):
            raise KeyboardInterrupt
        real(client, names, name, value)

    monkeypatch.setattr(milvus_store, "_put_meta", killed)
    with pytest.raises(KeyboardInterrupt):
        open_milvus_store(spec_for(tmp_path), memo)
    monkeypatch.setattr(milvus_store, "_put_meta", real)
    before = memo.requested
    store = open_milvus_store(spec_for(tmp_path), memo)
    store.close()
    assert memo.requested == before  # the cut-short rows' vectors are reused
    faiss_index = ensure_index(IndexSpec(docs, tmp_path / "faiss", MODEL), memo)
    assert store.chunks == faiss_index.chunks  # no duplicates left behind


def test_another_model_or_dimension_is_refused(seed, embeddings) -> None:  # noqa: ANN001
    _, _, folder = seed
    with pytest.raises(MilvusStoreError, match="RAG_EMBED_MODEL.*--rebuild"):
        open_milvus_store(spec_for(folder, "BAAI/bge-small-zh-v1.5"), embeddings)
    with pytest.raises(MilvusStoreError, match="dimension 384"):
        open_milvus_store(spec_for(folder), MemoEmbeddings(embeddings, dimension=128))
    store = open_milvus_store(spec_for(folder), embeddings)  # refused, not dropped
    store.close()
    assert store.manifest["embedded"] == 0 and len(store.chunks) > 0


def test_past_the_size_line_the_vectors_are_indexed_ivf(tmp_path, memo) -> None:  # noqa: ANN001
    """Exact up to ``exact_up_to`` rows, IVF_FLAT beyond, switched in place on open. At
    this size every list is probed, so IVF must return exactly what FLAT returns: a
    lost ``nlist`` (Milvus Lite then builds 128 lists a segment) fails this."""
    from pymilvus import MilvusClient

    assert vector_index_for(100_000).kind == "FLAT"
    assert vector_index_for(100_001) == vector_index_for(10**7) != vector_index_for(6_400, 0)
    assert (vector_index_for(6_400, 0).lists, vector_index_for(6_400, 0).probes) == (100, 32)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(small_report(1) + small_report(2), encoding="utf-8")

    def kinds() -> dict[str, str]:
        client = MilvusClient(str(tmp_path / "index" / "milvus.db"))
        try:
            return {
                n: client.describe_index(n, "vector")["index_type"]
                for n in ("rag_chunks", "rag_sentences")
            }
        finally:
            client.close()

    def answers(store) -> list:  # noqa: ANN001
        found = []
        for question in seed_questions(5):
            vector = np.asarray(memo.embed_query(question), np.float32)
            dense = store.chunk_search(vector, 30)
            found.append((list(dense), store.sentence_relevance(vector, 20).ranked.tolist()))
        return found

    store = open_milvus_store(spec_for(tmp_path), memo)
    exact = answers(store)
    store.close()
    assert kinds() == {"rag_chunks": "FLAT", "rag_sentences": "FLAT"}
    store = open_milvus_store(spec_for(tmp_path), memo, exact_up_to=0)
    assert {i.kind for i in store.indexes.values()} == {"IVF_FLAT"}
    assert all(i.probes == i.lists for i in store.indexes.values())  # small: all probed
    assert answers(store) == exact
    store.close()
    assert kinds() == {"rag_chunks": "IVF_FLAT", "rag_sentences": "IVF_FLAT"}
    open_milvus_store(spec_for(tmp_path), memo).close()  # below the line again
    assert kinds() == {"rag_chunks": "FLAT", "rag_sentences": "FLAT"}


def test_an_ivf_index_is_reclustered_once_its_collection_outgrows_its_lists(
    tmp_path, memo  # noqa: ANN001
) -> None:
    """Lists sized for the rows at the switch; growth short of REGROW-fold keeps them, past it
    the index is rebuilt with lists for today's rows (as Milvus itself reports them)."""
    from pymilvus import MilvusClient

    docs = tmp_path / "docs"
    docs.mkdir()

    def lists_and_rows() -> dict[str, tuple[int, int]]:
        client = MilvusClient(str(tmp_path / "index" / "milvus.db"))
        try:
            return {
                n: (int(client.describe_index(n, "vector")["params"]["nlist"]),
                    int(client.get_collection_stats(n)["row_count"]))
                for n in ("rag_chunks", "rag_sentences")
            }
        finally:
            client.close()

    (docs / "a.txt").write_text(small_report(1), encoding="utf-8")
    open_milvus_store(spec_for(tmp_path), memo, exact_up_to=0).close()
    before = lists_and_rows()
    assert all(lists == max(1, rows // 64) for lists, rows in before.values())
    for n in range(2, 8):
        (docs / f"r{n}.txt").write_text(small_report(n), encoding="utf-8")
    store = open_milvus_store(spec_for(tmp_path), memo, exact_up_to=0)
    after = lists_and_rows()
    assert {n: i.lists for n, i in store.indexes.items()} == {n: v[0] for n, v in after.items()}
    store.close()
    for name, (lists, rows) in after.items():
        old = before[name][0]
        assert lists == (rows // 64 if rows // 64 >= REGROW * old else old), name
    assert any(after[n][0] > before[n][0] for n in after)  # the sentences outgrew theirs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_fails_fast_and_clearly(tmp_path, memo, monkeypatch) -> None:  # noqa: ANN001
    """Through the settings, as ``RAG_STORE=milvus RAG_MILVUS_URI=… rag index`` would."""
    from rag.config import Settings
    from rag.store import open_store

    copy_seeds(tmp_path / "docs")
    monkeypatch.setenv("RAG_STORE", "milvus")
    monkeypatch.setenv(ENV_URI, f"http://127.0.0.1:{free_port()}")
    settings = Settings.from_env().override(docs_dir=tmp_path / "docs", index_dir=tmp_path / "i")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    started = time.monotonic()
    with pytest.raises(MilvusStoreError, match=f"Cannot reach Milvus.*{ENV_URI}") as caught:
        open_store(settings, memo)
    assert time.monotonic() - started < 10
    assert "\n" not in str(caught.value)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_server_that_never_answers_times_out(tmp_path, memo) -> None:  # noqa: ANN001
    """A port that accepts connections and then says nothing (a hung server or a proxy)."""
    copy_seeds(tmp_path / "docs")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(MilvusStoreError, match=ENV_URI):
            open_milvus_store(spec_for(tmp_path), memo, uri=uri, token="root:Milvus")
        assert time.monotonic() - started < CONNECT_TIMEOUT_S + 5


def test_a_refusal_status_code_names_the_token() -> None:
    """A unit test of the mapping alone, on pymilvus's real exception class: a server that
    reports the refusal as Milvus's status 1800 rather than as a gRPC status."""
    refusal = MilvusException(code=1800, message="auth check failure, please check username")
    error = _explain(refusal, MilvusConnection("http://milvus:19530", "root:wrong"), "connecting")
    assert ENV_TOKEN in str(error) and "Fix:" in str(error)


def test_the_pipeline_on_milvus_answers_as_on_faiss(tmp_path, memo, pipeline) -> None:  # noqa: ANN001
    """``RAG_STORE=milvus``: the whole query path on Milvus Lite, and the seed eval on it
    against the FAISS pipeline's, question by question."""
    from rag.eval_metrics import citation_hit
    from rag.evaluation import DEFAULT_QUESTIONS, load_questions, run_question
    from rag.pipeline import Pipeline

    copy_seeds(tmp_path / "docs")
    settings = pipeline.settings.override(
        docs_dir=tmp_path / "docs", index_dir=tmp_path / "index", store="milvus"
    )
    on_milvus = Pipeline(settings, embeddings=memo)
    try:
        answer = on_milvus.query(QUESTION)
        assert not answer.abstained and "73轮" in answer.citations[0].quote

        questions = load_questions(DEFAULT_QUESTIONS)
        milvus = [run_question(on_milvus, q) for q in questions]
        faiss = [run_question(pipeline, q) for q in questions]
    finally:
        on_milvus.store.close()
    for name, score in (
        ("cite@1", lambda r: r.answerable and citation_hit(r.first_quote, r.gold)),
        ("facts", lambda r: r.correct),
    ):
        on_m, on_f = sum(map(score, milvus)), sum(map(score, faiss))
        print(f"{name}: Milvus {on_m}, FAISS {on_f} of {len(questions)}")
        assert abs(on_m - on_f) <= 1, name
