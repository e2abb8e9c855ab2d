"""A question asked of one document searches that document, however large the library.

Real model, real FAISS: a library holding the seed and nine copies of it (the copies
reuse the seed's vectors, so the build embeds nothing more). A filter applied after a
search over every document would keep a tenth of each ranking; the store filters
inside the search, so the asked document's rankings are those of the seed alone.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SEED

from rag.config import PROJECT_ROOT, Settings

COPIES = [f"copy_{n}.txt" for n in range(9)]


@pytest.fixture(scope="module")
def library(tmp_path_factory, embeddings):  # noqa: ANN001, ANN201
    from rag.pipeline import Pipeline

    docs = tmp_path_factory.mktemp("library")
    for name in [SEED.name, *COPIES]:
        (docs / name).write_bytes(SEED.read_bytes())
    settings = Settings().override(
        embed_model="bundled", docs_dir=docs, index_dir=tmp_path_factory.mktemp("lib"), llm=None
    )
    return Pipeline(settings, embeddings=embeddings)


def _questions(n: int) -> list[str]:
    rows = (json.loads(line) for line in (PROJECT_ROOT / "evals/questions.jsonl").open())
    return [row["question"] for row in rows if row.get("answers")][:n]


def _spans(store, ids) -> list[tuple[int, int]]:  # noqa: ANN001
    return [(store.chunks[i].start, store.chunks[i].end) for i in ids]


def test_one_documents_rankings_are_its_own_in_a_larger_library(library, pipeline) -> None:
    store, alone = library.store, pipeline.store
    for question in _questions(20):
        vector = pipeline._embed_queries([question])[0]
        for source in (SEED.name, COPIES[1]):
            dense = store.chunk_search(vector, 30, source)
            assert len(dense) == 30 and {store.chunks[i].source for i in dense} == {source}
            assert _spans(store, dense) == _spans(alone, alone.chunk_search(vector, 30))
            assert np.allclose(list(dense.values()), list(alone.chunk_search(vector, 30).values()))
            words = library.retriever.translate(question)  # an English question's Chinese words
            lexical = [i for i, _ in store.lexical_search(words, 30, source)]
            assert lexical and {store.chunks[i].source for i in lexical} == {source}
            ranked = store.sentence_relevance(vector, 120, source).ranked
            assert len(ranked) == 120
            assert [store.sentences[r].start for r in ranked] == [
                alone.sentences[r].start for r in alone.sentence_relevance(vector, 120).ranked
            ]
    assert store.chunk_search(vector, 30, "no_such_report.txt") == {}


def test_a_question_asked_of_one_copy_is_answered_from_it_as_from_the_seed_alone(
    library, pipeline
) -> None:
    same = 0
    questions = _questions(30)
    for question in questions:
        retrieval = library.retrieve(question, source=COPIES[2])
        answer = retrieval.answer
        assert {c.source for c in answer.citations} <= {COPIES[2]}, question
        expected = pipeline.retrieve(question)
        # The copy's sentences are ranked as the seed's alone...
        first, alone = (r.evidence.ranked[0][0].sentence for r in (retrieval, expected))
        assert library.store.sentences[first].text == pipeline.store.sentences[alone].text
        same += answer.abstained == expected.answer.abstained and [
            c.quote for c in answer.citations
        ] == [c.quote for c in expected.answer.citations]
    # ... but how rare a word is counts over the whole library (BM25's and the answer's
    # term weights: a word none of ten copies holds weighs more than one the seed alone
    # lacks), so a question near the abstention threshold may fall on the other side.
    assert same >= 0.8 * len(questions), same
