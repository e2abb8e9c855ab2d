"""Many short documents: every paragraph of the real reports, plus the CMRC 2018 trial paragraphs.

Real text, not the shuffled seed of :mod:`benchmarks.corpus`: each paragraph (≥ 10
characters) of ``seeds/`` and ``evals/corpus/`` becomes one document, and each CMRC
2018 trial paragraph another (818 in all). Measured in its own process (its RSS is its
own): the build, warm answer latency (``Pipeline.query``, everything included) over
CMRC questions, whether their paragraph is cited first, and what adding one more
document costs: seconds, and how many files were read (only the new one should be).

``python -m benchmarks.many_docs OUT.json [--documents N] [--questions Q]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import PROJECT_ROOT, Progress, settings_for, summary_ms, write_json
from benchmarks.memory import memory_mb

REPORTS = [PROJECT_ROOT / "seeds", PROJECT_ROOT / "evals" / "corpus"]
MIN_PARAGRAPH = 10  # characters: shorter lines are list stubs and page furniture


def report_paragraphs() -> list[tuple[str, str]]:
    """(document name, text) for every paragraph of the real reports, in a stable order."""
    out = []
    for folder in REPORTS:
        for path in sorted(folder.glob("*.txt")):
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [line.strip() for line in lines if len(line.strip()) >= MIN_PARAGRAPH]
            out += [(f"{path.stem}_p{i:03d}.txt", text) for i, text in enumerate(kept)]
    return out


def make_corpus(docs: Path, documents: int = 0) -> tuple[int, list]:
    """Write the corpus into ``docs`` (the first ``documents`` of each part, in proportion,
    when given); returns the document count and the CMRC questions on those documents."""
    from rag.eval_sets import load_cmrc

    cmrc_dir = docs.parent / "cmrc-all"
    cmrc = load_cmrc(cmrc_dir)
    cmrc_docs = sorted(p.name for p in cmrc_dir.iterdir())
    paragraphs = report_paragraphs()
    total = len(paragraphs) + len(cmrc_docs)
    share = documents / total if documents and documents < total else 1.0
    paragraphs = paragraphs[: max(1, round(len(paragraphs) * share))]
    cmrc_docs = cmrc_docs[: max(1, round(len(cmrc_docs) * share))]
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in paragraphs:
        (docs / name).write_text(text + "\n", encoding="utf-8")
    for name in cmrc_docs:
        (docs / name).write_bytes((cmrc_dir / name).read_bytes())
    kept = set(cmrc_docs)
    return len(paragraphs) + len(cmrc_docs), [q for q in cmrc.questions if q.doc in kept]


def _spread(items: list, limit: int) -> list:
    if not limit or limit >= len(items):
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def measure(work: Path, documents: int, questions: int, progress: Progress) -> dict:
    """Build, ask, add one document; the figures as a dict."""
    import rag.ingest
    from rag.embeddings import load_embeddings
    from rag.pipeline import Pipeline
    from rag.store.base import IndexSpec
    from rag.store.build import ensure_index

    docs, index_dir = work / "docs", work / "index"
    count, asked = make_corpus(docs, documents)
    asked = _spread(asked, questions)
    time.sleep(2.1)  # files written this instant are re-read once (rag.ingest): not these
    settings = settings_for(docs, index_dir)
    embeddings = load_embeddings(settings.model)
    embeddings.embed_documents(["预热 warm-up"])
    spec = IndexSpec.from_settings(settings)

    progress.say(f"many documents: building the index of {count} documents")
    started = time.perf_counter()
    loaded = ensure_index(spec, embeddings, progress=progress.embedding("many documents"))
    build_s = time.perf_counter() - started
    manifest = loaded.manifest
    pipeline = Pipeline(settings, embeddings=embeddings)
    for q in asked[:3]:
        pipeline.query(q.question)

    progress.say(f"many documents: {len(asked)} questions")
    latencies, cited, doc_first, answered = [], 0, 0, 0
    for q in asked:
        t0 = time.perf_counter()
        answer = pipeline.query(q.question)
        latencies.append(time.perf_counter() - t0)
        first = answer.citations[0] if answer.citations else None
        answered += not answer.abstained
        doc_first += first is not None and first.source == q.doc
        cited += first is not None and any(a in first.quote for a in q.answers[0])
    serving_mb = memory_mb()

    progress.say("many documents: adding one more document")
    read: list[str] = []
    parse = rag.ingest.extract_text

    def counting(path: Path, data: bytes):  # noqa: ANN202 - the parser's own type
        read.append(path.name)
        return parse(path, data)

    rag.ingest.extract_text = counting
    extra = docs / "added_document.txt"
    extra.write_text("新增文档\n全年新建社区食堂12个，服务老人3.5万人次。\n", encoding="utf-8")
    started = time.perf_counter()
    Pipeline(settings, embeddings=embeddings)  # what an upload runs: refresh, then load
    add_s = time.perf_counter() - started
    rag.ingest.extract_text = parse
    n = max(len(asked), 1)
    return {
        "documents": count,
        "characters": sum(len(t) for t in loaded.texts.values()),
        "chunks": manifest["chunks"],
        "sentences": manifest["sentences"],
        "embedded": manifest["embedded"],
        "build_s": round(build_s, 2),
        "questions": len(asked),
        "query": summary_ms(latencies),
        "answered": round(answered / n, 4),
        "right_document_cited_first": round(doc_first / n, 4),
        "answer_in_first_citation": round(cited / n, 4),
        "memory_serving": serving_mb,
        "add_one_document": {"seconds": round(add_s, 2), "files_read": len(read)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.many_docs", description=__doc__)
    parser.add_argument("out", type=Path, help="where to write the JSON result")
    parser.add_argument("--documents", type=int, default=0, help="fewer documents (0 = all)")
    parser.add_argument("--questions", type=int, default=200, help="CMRC questions asked")
    args = parser.parse_args(argv)
    progress = Progress(role="many-docs")
    with tempfile.TemporaryDirectory(prefix="rag-many-") as tmp:
        result = measure(Path(tmp), args.documents, args.questions, progress)
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
