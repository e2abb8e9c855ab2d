"""Which embedded texts earn their cost: the eval with and without clause vectors.

An index embeds three kinds of text: chunks, sentences and the clauses of
multi-clause sentences. Clauses are most of the texts, so most of the build time;
this measures what they buy. Both variants answer from the same build (a sentence's
relevance without clauses is its own cosine), over the seed set and the corpus set,
each question asked of its own report.

``python -m benchmarks.vector_kinds [--out PATH]`` (``make eval`` builds the indexes).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import OUT_DIR, PROJECT_ROOT, write_json

SETS = {
    "seed": (
        PROJECT_ROOT / "seeds",
        PROJECT_ROOT / "index",
        PROJECT_ROOT / "evals" / "questions.jsonl",
    ),
    "corpus": (
        PROJECT_ROOT / "evals" / "corpus",
        PROJECT_ROOT / "index" / "corpus",
        PROJECT_ROOT / "evals" / "corpus_questions.jsonl",
    ),
}
KEYS = ("hit@1", "hit@5", "citation@1", "accuracy", "false_abstention_rate", "abstention_rate")


VARIANTS = {
    "all vectors": 0,
    "clauses of sentences ≥ 60 chars": 60,
    "clauses of sentences ≥ 100 chars": 100,
    "no clause vectors": None,
}


def keep_clauses(pipeline, min_chars: int | None) -> int:  # noqa: ANN001 - a Pipeline
    """Make ``pipeline`` use only the clause vectors of sentences of ``min_chars`` or more
    (None: none); the number of clause vectors kept."""
    from rag.store.sentence_search import SentenceSearch

    index = pipeline.store.index
    owners = index.clause_owners
    lengths = np.asarray([len(s.text) for s in index.sentences])
    keep = np.zeros(len(owners), bool) if min_chars is None else lengths[owners] >= min_chars
    pipeline.store._sentences = SentenceSearch(
        index.sentence_vectors, np.asarray(index.clause_vectors)[keep], owners[keep], None
    )
    return int(keep.sum())


def measure(name: str) -> dict:
    from rag.config import Settings
    from rag.embeddings import load_embeddings
    from rag.eval_metrics import summarize
    from rag.evaluation import load_questions, run_pipeline
    from rag.pipeline import Pipeline

    docs, index_dir, questions_file = SETS[name]
    settings = Settings.from_env().override(docs_dir=docs, index_dir=index_dir)
    embeddings = load_embeddings(settings.model)
    questions = load_questions(questions_file)
    out = {}
    pipeline = Pipeline(settings, embeddings=embeddings)
    manifest = pipeline.store.manifest
    out["texts"] = {k: manifest[k] for k in ("chunks", "sentences", "clauses")}
    for variant, min_chars in VARIANTS.items():
        kept = keep_clauses(pipeline, min_chars)
        summary = summarize(run_pipeline(pipeline, questions))
        out[variant] = (
            {k: summary.get(k) for k in KEYS}
            | {"clause_vectors": kept}
            | {
                "by_lang": {
                    lang: {k: v.get(k) for k in KEYS}
                    for lang, v in summary.get("by_lang", {}).items()
                }
            }
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vector_kinds", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT_DIR / "vector_kinds.json")
    parser.add_argument("--sets", default="seed,corpus")
    args = parser.parse_args(argv)
    result = {name: measure(name) for name in args.sets.split(",")}
    print(json.dumps(result, ensure_ascii=False, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
