"""FAISS files vs Milvus Lite on the same synthetic reports, side by side in one run.

``python -m benchmarks.milvus_vs_faiss --reports 10`` prints a JSON report:

* ``build``: seconds per store, split into time in the embedding model and time in the
  store itself. Both stores embed through one memo, so the model runs once per distinct
  text (for FAISS, built first) and Milvus's build measures its own writing.
* ``query``: p50/p95 of the store's share of one question (chunk search, BM25 and sentence
  relevance from a vector computed beforehand; the model's time is the same for both).
* ``memory``: resident memory after the FAISS build, and with Milvus Lite (whose server
  runs in threads of this process) added.
* ``milvus_lite``: the store with the indexes it chooses (exact at these sizes): its dense
  top 10 against FAISS's exact search, and its best and top 10 sentences against the exact
  sentence relevance; ``milvus_lite_ivf_forced``: the same collections reopened with IVF
  (``exact_up_to=0``), what the approximate index loses and what it saves per question.
* ``lexical``: Milvus BM25 top 10 against :class:`rag.store.lexical.LexicalIndex`, for our
  tokens and for Milvus's jieba analyzer (:func:`lexical_agreement`), over the Chinese eval
  questions.
* ``load_average_at_start`` / ``load_average``: the machine may be shared; the FAISS/Milvus
  ratios from one run are the meaningful figures.

``make bench`` runs it at ``--milvus-sizes`` (default 100), each size in its own process.
Each phase is announced on stderr (with the embedding's rate and time left), as a run at
1,000 reports takes about an hour.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from benchmarks.common import Progress
from rag.config import PROJECT_ROOT

QUESTIONS_FILE = PROJECT_ROOT / "evals" / "questions.jsonl"
_BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}


class TimedMemo(Embeddings):
    """The real model, each distinct text once; ``model_s`` is the time spent in it."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner, self.memo, self.model_s = inner, {}, 0.0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        new = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if new:
            started = time.perf_counter()
            self.memo.update(zip(new, self.inner.embed_documents(new), strict=True))
            self.model_s += time.perf_counter() - started
        return [self.memo[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def chinese_questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS_FILE.open(encoding="utf-8") if line.strip()]
    return [r["question"] for r in rows if r["lang"] == "zh"]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _top_overlap(found: Sequence[int], expected: Sequence[int]) -> float:
    return len(set(found) & set(expected)) / len(expected) if expected else 1.0


def lexical_agreement(texts: list[str], questions: list[str], uri: str, k: int = 10) -> dict:
    """Milvus BM25 top ``k`` against LexicalIndex's, for our tokens and for jieba.

    ``texts`` are what the retriever indexes (``f"{section} {text}"`` per chunk). Each
    variant gets a scratch collection; none needs the embedding model.
    """
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    from rag.store.lexical import LexicalIndex
    from rag.store.milvus_store import lexical_words

    reference = LexicalIndex(texts)
    client = MilvusClient(uri)
    variants = {"tokens": ("standard", lexical_words), "jieba": ("jieba", lambda t: t)}
    report = {}
    for name, (tokenizer, prepare) in variants.items():
        collection = f"lexical_{name}"
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = client.create_schema(auto_id=False)
        schema.add_field("key", DataType.INT64, is_primary=True)
        schema.add_field(
            "text",
            DataType.VARCHAR,
            max_length=65535,
            enable_analyzer=True,
            analyzer_params={"tokenizer": tokenizer},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        index = client.prepare_index_params()
        index.add_index(
            "sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"params": _BM25},  # nested: see rag.store.milvus_store.VectorIndex
        )
        client.create_collection(
            collection, schema=schema, index_params=index, consistency_level="Strong"
        )
        rows = [{"key": i, "text": prepare(t)} for i, t in enumerate(texts)]
        for i in range(0, len(rows), 1000):
            client.insert(collection, rows[i : i + 1000])
        overlaps, top1 = [], []
        for question in questions:
            scores = reference.scores(question)
            expected = [int(i) for i in np.argsort(-scores, kind="stable")[:k] if scores[i] > 0]
            query = prepare(question)
            hits = (
                client.search(
                    collection,
                    data=[query],
                    anns_field="sparse",
                    limit=k,
                    search_params={"metric_type": "BM25"},
                    output_fields=["key"],
                )[0]
                if query
                else []
            )
            found = [h["key"] if "key" in h else h["entity"]["key"] for h in hits]
            overlaps.append(_top_overlap(found, expected))
            top1.append(bool(found and expected and found[0] == expected[0]))
        report[name] = {
            "tokenizer": tokenizer,
            f"mean_overlap_at_{k}": round(float(np.mean(overlaps)), 4),
            "same_top_1": round(float(np.mean(top1)), 4),
            "questions": len(questions),
        }
        client.drop_collection(collection)
    client.close()
    return report


def _percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "n": len(ms),
    }


def _milvus_queries(store, questions, vectors, reference: list[dict]) -> dict:  # noqa: ANN001
    """The Milvus store's share of each question, and its agreement with the exact results."""
    fetch, limit = 30, 120  # as the retriever asks for k=5
    seconds, recall, recall_ties, same_sentence, best_sentence, top10 = [], [], [], [], [], []
    for question, vector, exact in zip(questions, vectors, reference, strict=True):
        t0 = time.perf_counter()
        dense = store.chunk_search(vector, fetch)
        store.lexical_search(question, fetch)
        relevance = store.sentence_relevance(vector, limit)
        seconds.append(time.perf_counter() - t0)
        recall.append(_top_overlap(list(dense)[:10], exact["ids"][:10]))
        # Reports repeat sentences word for word: equal vectors tie, in any order.
        tenth = exact["similarities"][min(9, len(exact["ids"]) - 1)]
        recall_ties.append(np.mean([s >= tenth - 1e-5 for s in list(dense.values())[:10]]))
        scores = exact["relevance"]
        top, best = int(relevance.ranked[0]), int(scores.ranked[0])
        same_sentence.append(top == best)
        best_sentence.append(bool(scores.of([top])[0] >= scores.of([best])[0] - 1e-5))
        top10.append(_top_overlap(relevance.ranked[:10].tolist(), scores.ranked[:10].tolist()))
    return {
        "indexes": {
            name: {"kind": index.kind, "lists": index.lists, "probes": index.probes}
            for name, index in store.indexes.items()
        },
        "query": _percentiles(seconds),
        "recall_dense_at_10_vs_exact": round(float(np.mean(recall)), 4),
        "recall_dense_at_10_counting_ties": round(float(np.mean(recall_ties)), 4),
        "same_top_sentence": round(float(np.mean(same_sentence)), 4),
        "top_sentence_as_relevant_as_exact": round(float(np.mean(best_sentence)), 4),
        "sentence_top_10_overlap": round(float(np.mean(top10)), 4),
    }


def compare(
    n: int,
    work: Path,
    embeddings: Embeddings,
    model_id: str,
    questions_cap: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Both stores on ``n`` synthetic reports; see the module docstring for the figures.

    ``questions_cap`` > 0 asks only that many of the eval questions (a smoke run).
    """
    from benchmarks import corpus
    from rag.config import ChunkerSettings
    from rag.store.base import IndexSpec
    from rag.store.build import ensure_index
    from rag.store.lexical import LexicalIndex
    from rag.store.milvus_store import open_milvus_store
    from rag.store.sentence_search import SentenceSearch, top_indices

    progress = progress or Progress(role=f"milvus-vs-faiss N={n}")
    load_at_start, started_run = [round(x, 2) for x in os.getloadavg()], time.perf_counter()
    progress.say(f"writing {n} synthetic reports")
    seed = sorted((PROJECT_ROOT / "seeds").glob("*.txt"))[0].read_text(encoding="utf-8")
    docs = work / "docs"
    reports = corpus.generate(seed, n, docs, plants=min(n, 20))
    memo = TimedMemo(embeddings)
    eval_questions = chinese_questions()[: questions_cap or None]
    questions = [r.planted.question for r in reports if r.planted] + eval_questions
    build: dict[str, dict] = {}

    started, model_before = time.perf_counter(), memo.model_s
    progress.say("building the FAISS index (the model embeds every text once, here)")
    faiss_index = ensure_index(
        IndexSpec(docs, work / "faiss", model_id), memo, progress.embedding("FAISS")
    )
    total = time.perf_counter() - started
    build["faiss"] = {
        "total_s": round(total, 2),
        "model_s": round(memo.model_s - model_before, 2),
        "store_s": round(total - (memo.model_s - model_before), 2),
    }
    rss_after_faiss = rss_mb(os.getpid())

    spec = IndexSpec(docs, work / "milvus", model_id, ChunkerSettings())
    progress.say(f"FAISS built in {total:.0f} s; building the Milvus Lite collections")
    started, model_before = time.perf_counter(), memo.model_s
    store = open_milvus_store(spec, memo)
    total = time.perf_counter() - started
    build["milvus_lite"] = {
        "total_s": round(total, 2),
        "model_s": round(memo.model_s - model_before, 2),
        "store_s": round(total - (memo.model_s - model_before), 2),
    }

    progress.say(f"Milvus Lite built in {total:.0f} s; {len(questions)} questions, FAISS first")
    vectors = np.asarray([embeddings.embed_query(q) for q in questions], np.float32)
    lexical = LexicalIndex([f"{c.section} {c.text}" for c in faiss_index.chunks])
    sentences = SentenceSearch(
        faiss_index.sentence_vectors,
        faiss_index.clause_vectors,
        faiss_index.clause_owners,
        faiss_index.sentence_ann,
    )
    fetch, limit = 30, 120  # as the retriever asks for k=5
    faiss_s, reference = [], []
    for question, vector in zip(questions, vectors, strict=True):
        t0 = time.perf_counter()
        similarities, ids = faiss_index.chunk_index.search(vector.reshape(1, -1), fetch)
        scores = lexical.scores(question)
        [i for i in top_indices(scores, fetch) if scores[i] > 0]
        exact = sentences.relevance(vector, limit)
        faiss_s.append(time.perf_counter() - t0)
        reference.append(
            {"ids": ids[0].tolist(), "similarities": similarities[0], "relevance": exact}
        )
    # The store as it chooses its indexes (exact at these sizes, see vector_index_for).
    progress.say("the same questions on Milvus Lite")
    milvus = _milvus_queries(store, questions, vectors, reference)
    rss_with_milvus = rss_mb(os.getpid())
    store.close()
    # The same collections with IVF forced, to measure what it loses against exact search.
    progress.say("reopening Milvus Lite with IVF forced")
    started = time.perf_counter()
    store = open_milvus_store(spec, memo, exact_up_to=0)
    reindex_s = time.perf_counter() - started
    ivf = _milvus_queries(store, questions, vectors, reference) | {
        "reindex_s": round(reindex_s, 2)
    }
    store.close()
    # Milvus Lite 3.2 serves from threads of this process: its memory is the difference.
    memory = {
        "process_after_faiss_mb": rss_after_faiss,
        "process_with_milvus_lite_mb": rss_with_milvus,
        "process_after_ivf_mb": rss_mb(os.getpid()),
    }
    progress.say("BM25: Milvus against the in-process index")
    bm25_agreement = lexical_agreement(
        [f"{c.section} {c.text}" for c in faiss_index.chunks],
        eval_questions,
        str(work / "lexical.db"),
    )
    return {
        "reports": n,
        "chunks": len(faiss_index.chunks),
        "sentences": len(faiss_index.sentences),
        "clauses": len(faiss_index.clause_owners),
        "distinct_texts_embedded": len(memo.memo),
        "questions": len(questions),
        "build": build,
        "query": {"faiss": _percentiles(faiss_s), "milvus_lite": milvus.pop("query")},
        "memory": memory,
        "milvus_lite": milvus,
        "milvus_lite_ivf_forced": ivf,
        "lexical": bm25_agreement,
        "load_average_at_start": load_at_start,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "duration_s": round(time.perf_counter() - started_run, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10, help="synthetic reports (default 10)")
    parser.add_argument(
        "--questions", type=int, default=0, help="eval questions asked (default 0 = all)"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)
    from rag.config import Settings
    from rag.embeddings import load_embeddings, model_identity

    settings = Settings.from_env().override(llm=None)
    embeddings = load_embeddings(settings.model)
    work = Path(tempfile.mkdtemp(prefix="milvus-vs-faiss-"))
    try:
        model_id = model_identity(settings.model.name, settings.model.backend)
        report = compare(args.reports, work, embeddings, model_id, args.questions)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
