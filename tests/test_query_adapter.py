"""The English query adapter: shipped weights, clear errors, training, and what it may change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals.train_adapter import Question, first_is_gold, fit
from rag.config import Settings
from rag.query_adapter import (
    MANIFEST_FILE,
    AdapterFileError,
    QueryAdapter,
    load_adapter,
    save_adapter,
)

QUESTIONS = Path(__file__).resolve().parents[1] / "evals" / "questions.jsonl"


def test_shipped_adapter_loads_offline_and_matches_its_manifest(embeddings) -> None:  # noqa: ANN001
    adapter = load_adapter()
    manifest = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    dimension = len(embeddings.embed_query("dimension probe"))
    assert adapter.matrix.shape == (dimension, dimension)
    assert adapter.model == Settings().model.name == manifest["model"]
    assert all(len(d["sha256"]) == 64 for d in manifest["data"])
    moved = adapter(np.asarray(embeddings.embed_query("How much did revenue grow?")))
    assert moved.shape == (dimension,) and np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("damage", ["missing", "edited", "not safetensors", "no manifest"])
def test_a_bad_adapter_file_names_itself_and_make_train(tmp_path: Path, damage: str) -> None:
    path, manifest = tmp_path / "adapter.safetensors", tmp_path / "manifest.json"
    save_adapter(np.eye(4, dtype=np.float32), {"model": "m"}, path, manifest)
    load_adapter(path, manifest)  # well-formed
    if damage == "missing":
        path.unlink()
    elif damage == "edited":
        save_adapter(2 * np.eye(4, dtype=np.float32), {"model": "m"}, path, tmp_path / "other")
    elif damage == "not safetensors":
        path.write_bytes(b"\x00garbage")
        raw = json.loads(manifest.read_text(encoding="utf-8"))
        from rag.scorer import file_sha256

        manifest.write_text(json.dumps(raw | {"weights_sha256": file_sha256(path)}), "utf-8")
    else:
        manifest.unlink()
    with pytest.raises(AdapterFileError) as info:
        load_adapter(path, manifest)
    message = str(info.value)
    assert "make train" in message and "\n" not in message
    assert str(manifest if damage == "no manifest" else path) in message


def test_training_moves_the_gold_first() -> None:
    """A made-up set: the question's vector lies nearer a distractor than the gold, the same
    way in every question, which one matrix can correct."""
    rng = np.random.default_rng(0)
    sentences = np.eye(6, dtype=np.float32)
    questions = []
    for n in range(20):
        q = np.zeros(6, dtype=np.float32)
        q[0], q[1], q[2 + n % 4] = 0.8, 0.5, 0.3 + 0.1 * rng.random()
        q /= np.linalg.norm(q)
        questions.append(Question(
            f"q{n}", "doc", q, [0, 1], np.zeros(2), [False, True],
            lambda v: sentences[[0, 1]] @ v,
        ))
    assert not any(first_is_gold(q, None) for q in questions)
    matrix = fit(questions, {"doc": sentences})
    assert all(first_is_gold(q, matrix) for q in questions)


def test_it_only_swaps_the_two_best_of_english_questions(pipeline) -> None:  # noqa: ANN001
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    adapter = pipeline.query_adapter
    assert adapter is not None  # the bundled model: the shipped adapter is on by default

    def ranked(question: str) -> list[int]:
        return [c.sentence for c in pipeline.retrieve(question).evidence.ranked[0]]

    asked = {r["question"]: r["lang"] == "en" for r in rows if r["answers"]}
    try:
        moved = {q: ranked(q) for q in asked}
        pipeline.query_adapter = None
        unmoved = {q: ranked(q) for q in asked}
    finally:
        pipeline.query_adapter = adapter
    swapped = 0
    for q, english in asked.items():
        if not english:
            assert moved[q][:2] == unmoved[q][:2], q
        assert set(moved[q][:2]) == set(unmoved[q][:2]) and moved[q][2:] == unmoved[q][2:], q
        swapped += moved[q][:2] != unmoved[q][:2]
    assert swapped >= 1


def test_the_decision_reads_the_scores_that_ordered_the_candidates(pipeline) -> None:  # noqa: ANN001
    """Where the adapter swaps an English question's two best, the calibrated decision reads
    the scores that put them in that order: the first never trails the second, so its lead
    is the one the reader sees (four of the seed's English questions had read a negative
    one)."""
    from rag.abstention import INPUT_NAMES

    handset = INPUT_NAMES.index("handset")
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    leads = [
        ranked[0].features[handset] - ranked[1].features[handset]
        for r in rows if r["lang"] == "en"
        for ranked in pipeline.retrieve(r["question"]).evidence.ranked if len(ranked) > 1
    ]
    assert len(leads) >= 70 and min(leads) >= 0

@pytest.fixture(scope="module")
def hailar(hailar_settings, embeddings):  # noqa: ANN001, ANN201
    from rag.pipeline import Pipeline

    return Pipeline(hailar_settings, embeddings=embeddings)


@pytest.mark.parametrize(
    ("question", "kept"),
    [
        # Unmoved: last year's result first, this year's target second. An adapter that
        # moves the question onto the target may not put another time above the time asked.
        ("How much did GDP grow last year?", True),
        # Both of the time asked (this year's plan): the same adapter swaps them.
        ("By how much is GDP expected to grow this year?", False),
    ],
)
def test_the_adapter_never_puts_another_time_above_the_time_asked(
    hailar, question: str, kept: bool  # noqa: ANN001
) -> None:
    shipped = hailar.query_adapter

    def first_two() -> list[int]:
        return [c.sentence for c in hailar.retrieve(question).evidence.ranked[0][:2]]

    try:
        hailar.query_adapter = None
        unmoved = first_two()
        # A made-up adapter that moves this question's vector toward the second sentence
        # and away from the first.
        vector = hailar._embed_queries([question])[0]
        first, second = (np.asarray(hailar.store.index.sentence_vectors[i]) for i in unmoved)
        matrix = np.outer(vector, second - first) / vector.dot(vector)
        hailar.query_adapter = QueryAdapter(matrix.astype(np.float32), "made up")
        moved = first_two()
    finally:
        hailar.query_adapter = shipped
    texts = [hailar.store.sentences[i].text for i in moved]
    assert moved == (unmoved if kept else unmoved[::-1]), texts


def test_cli_says_in_one_line_which_weights_file_is_missing(
    settings, embeddings, monkeypatch, capsys, tmp_path: Path  # noqa: ANN001
) -> None:
    import rag.embeddings
    import rag.pipeline
    from rag.cli import main

    missing = tmp_path / "query_adapter.safetensors"
    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda model: embeddings)
    monkeypatch.setattr(rag.pipeline, "load_adapter", lambda: load_adapter(missing))
    docs, index_dir = settings.documents.docs_dir, settings.store.index_dir
    flags = ["--docs", str(docs), "--index-dir", str(index_dir)]
    assert main([*flags, "ask", "How many rounds of testing were carried out?"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and str(missing) in error and "make train" in error
    assert "\n" not in error
