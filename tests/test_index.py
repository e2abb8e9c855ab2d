"""Persistence without pickle: round trip, staleness, corruption, incremental builds."""

from __future__ import annotations

import functools
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_seeds
from langchain_core.embeddings import Embeddings

from rag.config import PROJECT_ROOT, ModelSettings, Settings
from rag.embeddings import model_identity
from rag.store.base import CorruptIndexError, IndexSpec, NoDocumentsError
from rag.store.build import build, embed_texts, ensure_index
from rag.store.layout import FORMAT_VERSION, current_build

MODEL = model_identity("bundled", ModelSettings().backend)  # what the suite embeds with


@pytest.fixture()
def docs(tmp_path):
    return copy_seeds(tmp_path / "docs")


@pytest.fixture(scope="module")
def seed_build(tmp_path_factory, embeddings):
    """One real build of the seed, copied per test: each test then damages its own copy."""
    folder = tmp_path_factory.mktemp("seed-build")
    ensure_index(IndexSpec(copy_seeds(folder / "docs"), folder / "index", MODEL), embeddings)
    return folder / "index"


@pytest.fixture()
def index_dir(seed_build, tmp_path):
    return Path(shutil.copytree(seed_build, tmp_path / "index"))


def test_round_trip_without_pickle(docs, tmp_path, embeddings) -> None:
    index_dir = tmp_path / "index"
    first = ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    files = sorted(p.name for p in current_build(index_dir).iterdir())
    assert files == [
        "chunks.faiss",
        "chunks.jsonl",
        "clause_spans.npy",
        "clauses.npy",
        "manifest.json",
        "sentences.jsonl",
        "sentences.npy",
        "sources.jsonl",
    ]
    manifest = json.loads((current_build(index_dir) / "manifest.json").read_text())
    assert manifest["model"] == MODEL and manifest["dimension"] == 384
    assert manifest["chunker"]["target_chars"] > 0 and manifest["format_version"] == FORMAT_VERSION
    assert list(manifest["sources"]) == ["000_12477834bc4718d4.txt"]
    second = ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert [c.text for c in second.chunks] == [c.text for c in first.chunks]
    assert second.chunk_index.ntotal == len(second.chunks)
    a = first.chunk_index.reconstruct_n(0, 3)
    b = second.chunk_index.reconstruct_n(0, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.sentence_vectors, second.sentence_vectors)


def test_a_booby_trapped_pickle_is_never_loaded(docs, tmp_path, index_dir, embeddings) -> None:
    ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    marker = tmp_path / "pwned"

    class Trap:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for folder in (index_dir, current_build(index_dir)):
        for name in ("index.pkl", "docstore.pkl", "sentences.pkl"):
            (folder / name).write_bytes(pickle.dumps(Trap()))
    ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert not marker.exists()


def test_truncated_faiss_file_is_a_clear_error(docs, index_dir, embeddings) -> None:
    ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    faiss_file = current_build(index_dir) / "chunks.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    with pytest.raises(CorruptIndexError) as caught:
        ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert "chunks.faiss" in str(caught.value) and "python -m rag index" in str(caught.value)


def test_invalid_json_is_a_clear_error(docs, index_dir, embeddings) -> None:
    ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    (current_build(index_dir) / "chunks.jsonl").write_text('{"chunk_id": 0, "te', "utf-8")
    with pytest.raises(CorruptIndexError, match="chunks.jsonl"):
        ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)


def test_manifest_of_another_model_means_rebuild(docs, index_dir, embeddings, caplog) -> None:
    ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    path = current_build(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps(manifest | {"model": "some/other-model"}))
    caplog.set_level("INFO")
    loaded = ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert loaded.manifest["model"] == MODEL
    assert "stale" in caplog.text and "model changed" in caplog.text


def test_manifest_of_another_dimension_is_a_clear_error(docs, index_dir, embeddings) -> None:
    ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    path = current_build(index_dir) / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"dimension": 768}))
    with pytest.raises(CorruptIndexError, match="dimension"):
        ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)


def test_changed_or_deleted_source_means_rebuild(docs, index_dir, embeddings) -> None:
    ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    (docs / "extra.txt").write_text("京东镇新建了一座图书馆，藏书5万册。", encoding="utf-8")
    grown = ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    # Only the new file: its one sentence (which is also its chunk) and its two clauses.
    assert grown.manifest["embedded"] == 3
    assert any("图书馆" in c.text for c in grown.chunks)
    # A text already embedded, in any file, is not embedded again.
    (docs / "copy.txt").write_text("京东镇新建了一座图书馆，藏书5万册。", encoding="utf-8")
    copied = ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert copied.manifest["embedded"] == 0
    assert {c.source for c in copied.chunks if "图书馆" in c.text} == {"copy.txt", "extra.txt"}
    (docs / "copy.txt").unlink()
    (docs / "extra.txt").unlink()
    shrunk = ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert shrunk.manifest["embedded"] == 0
    assert not any("图书馆" in c.text for c in shrunk.chunks)


def test_empty_documents_folder_is_a_clear_error(tmp_path, embeddings) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoDocumentsError, match="No readable"):
        build(IndexSpec(tmp_path / "empty", tmp_path / "index", MODEL), embeddings)


def test_binary_file_is_skipped_the_rest_indexes(docs, index_dir, embeddings) -> None:
    (docs / "broken.txt").write_bytes(b"\x00\x01\x02binary\xff\xfe")
    (docs / "gbk.txt").write_bytes("京东镇2022年新建公园3个。".encode("gbk"))
    _, skipped = build(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert [s.name for s in skipped] == ["broken.txt"]
    loaded = ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert any("新建公园3个" in c.text for c in loaded.chunks)


class _RecordingEmbeddings(Embeddings):
    """Vectors that name their text (its length and first character), batches recorded."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        return [[float(len(t)), float(ord(t[0])), 0.0] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_texts_are_embedded_longest_first_and_stored_in_order() -> None:
    texts = [chr(ord("a") + i) * n for i, n in enumerate([3, 40, 1, 25, 7, 40, 12] * 5)]
    fake = _RecordingEmbeddings()
    ticks: list[tuple[int, int]] = []
    vectors = embed_texts(fake, texts, 3, lambda done, total: ticks.append((done, total)))
    assert [(v[0], chr(int(v[1]))) for v in vectors] == [(len(t), t[0]) for t in texts]
    lengths = [len(t) for batch in fake.batches for t in batch]
    assert lengths == sorted(lengths, reverse=True)
    assert ticks[-1] == (len(texts), len(texts)) and len(fake.batches) > 1


def test_a_large_index_searches_through_ivf_and_answers_as_the_exact_one(
    docs, index_dir, embeddings, pipeline, monkeypatch
) -> None:
    """Past ``EXACT_UP_TO`` vectors chunks and sentences go through IVF; answers stay the same."""
    from rag.pipeline import Pipeline
    from rag.store import ann
    from rag.store import build as build_module

    sentences_ivf = functools.partial(ann.sentence_ann_for, scan_up_to=0)
    monkeypatch.setattr(build_module, "sentence_ann_for", sentences_ivf)
    chunks_ivf = functools.partial(ann.chunk_index_for, exact_up_to=0)
    monkeypatch.setattr(build_module, "chunk_index_for", chunks_ivf)
    build_dir, _ = build(IndexSpec(docs, index_dir, MODEL), embeddings)
    manifest = json.loads((build_dir / "manifest.json").read_text())
    assert manifest["sentence_index"] == "IndexIVFScalarQuantizer" and manifest["embedded"] == 0
    assert manifest["faiss_index"] == "IndexIVFFlat"
    settings = Settings().override(
        embed_model="bundled", docs_dir=docs, index_dir=index_dir, llm=None
    )
    with_ann = Pipeline(settings, embeddings=embeddings)
    assert with_ann.store.index.sentence_ann.ntotal == manifest["sentences"] + manifest["clauses"]
    assert pipeline.store.index.sentence_ann is None  # the seed alone is scanned
    rows = (json.loads(line) for line in (PROJECT_ROOT / "evals/questions.jsonl").open())
    questions = [row["question"] for row in rows][:40]
    for question in questions:
        assert with_ann.query(question).text == pipeline.query(question).text, question

    ann_file = build_dir / "sentences.faiss"
    ann_file.write_bytes(ann_file.read_bytes()[:1000])
    with pytest.raises(CorruptIndexError, match="sentences.faiss"):
        ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)


# --------------------------------------------------------------------------- damage


def test_nan_vectors_are_a_clear_error_and_a_rebuild_embeds_anew(docs, index_dir, embeddings):
    vectors_file = current_build(index_dir) / "sentences.npy"
    vectors = np.load(vectors_file, allow_pickle=False)
    vectors[3] = np.nan
    np.save(vectors_file, vectors, allow_pickle=False)
    with pytest.raises(CorruptIndexError, match="sentences.npy"):
        ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    rebuilt, _ = build(IndexSpec(docs, index_dir, MODEL), embeddings)  # = rag index --rebuild
    manifest = json.loads((rebuilt / "manifest.json").read_text())
    assert manifest["embedded"] > manifest["sentences"]  # the damaged vectors were not reused
    assert ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings).sentences


def test_offsets_outside_the_source_are_a_clear_error(docs, index_dir, embeddings) -> None:
    path = current_build(index_dir) / "sentences.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[-1]["end"] = rows[-1]["start"] + 10**6
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    with pytest.raises(CorruptIndexError, match="outside the document"):
        ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)


def test_records_of_the_wrong_type_name_the_file_and_line(docs, index_dir, embeddings) -> None:
    path = current_build(index_dir) / "chunks.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[1])
    row["start"] = "12"
    lines[1] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CorruptIndexError, match=r"chunks.jsonl line 2 is not a Chunk"):
        ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)


@pytest.mark.parametrize("damage", ["directory", "binary"])
def test_a_damaged_current_pointer_is_a_clear_error_not_a_rebuild(
    docs, index_dir, embeddings, damage
) -> None:
    pointer = index_dir / "CURRENT"
    pointer.unlink()
    if damage == "directory":
        pointer.mkdir()
    else:
        pointer.write_bytes(b"\xff\xfe\x00garbage")
    builds = sorted(p.name for p in (index_dir / "builds").iterdir())
    with pytest.raises(CorruptIndexError, match="CURRENT"):
        ensure_index(IndexSpec(docs, index_dir, MODEL), embeddings)
    assert sorted(p.name for p in (index_dir / "builds").iterdir()) == builds  # nothing built


def test_a_failed_load_is_remembered_not_retried_per_request() -> None:
    from rag.pipeline import PipelineHolder

    calls = []

    def failing():  # noqa: ANN202
        calls.append(1)
        raise CorruptIndexError("chunks.faiss is unreadable. Fix: `python -m rag index --rebuild`.")

    holder = PipelineHolder(failing)
    for _ in range(5):
        with pytest.raises(CorruptIndexError, match="chunks.faiss"):
            holder.get()
    assert len(calls) == 1  # one attempt; the next requests get the same clear error at once
