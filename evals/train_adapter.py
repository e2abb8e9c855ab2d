"""Fit the English query adapter (``make train``) and report leave-one-document-out figures.

Data: the English questions of the seed and the corpus reports that a sentence answers. Each
is run once through the pipeline without the adapter; its vector, the candidate sentences of
its retrieved chunks (their vectors, and their hand-set scores less the embedding part) and
which of them hold the gold are kept. The matrix ``I + W`` is fit so that, with the question
vector moved by it, the hand-set score puts a gold sentence first (a softmax over each
question's candidates; ``W`` kept small). Held out: for each document, a matrix fit without
it ranks its questions. Per-document matrices are cached for ``evals/train_abstention.py``,
whose held-out figures then use, for each question, an adapter that never saw its document.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from evals.train_scorer import (
    DATASETS,
    _code_key,
    _positive,
    _questions,
    _sha256,
    settings_for,
    write_report,
)
from rag.config import PROJECT_ROOT, Settings
from rag.query_adapter import (
    MANIFEST_FILE,
    REORDERS,
    WEIGHTS_FILE,
    QueryAdapter,
    save_adapter,
)

log = logging.getLogger(__name__)

CACHE = PROJECT_ROOT / ".cache" / "adapter"
FOLDS_FILE = CACHE / "folds.safetensors"
CODE = ("rag/query_adapter.py", "rag/pipeline.py", "rag/answering.py", "evals/train_adapter.py")
SETS = ("seed", "corpus")
SHRINK = 1e-3  # weight on |W|^2: the map stays near the identity
TEMPERATURE = 0.05  # hand-set scores differ by hundredths; the softmax reads them at this scale
EPOCHS = 300
LEARNING_RATE = 1e-3


@dataclass
class Question:
    id: str
    group: str
    vector: np.ndarray  # the question's (first part's) vector, unadapted
    candidates: list[int]  # sentence rows, hand-set order
    offsets: np.ndarray  # hand-set score minus the embedding similarity, per candidate
    positive: list[bool]
    relevance: Any  # vector -> each candidate's embedding similarity (the store's own)


def collect(name: str, embeddings: Any) -> tuple[list[Question], np.ndarray]:
    """The English questions of ``name`` a sentence answers, and the sentence vectors."""
    from tqdm import tqdm

    from rag.pipeline import Pipeline
    from rag.question import analyse

    docs = dict((n, d) for n, d, _ in DATASETS)[name]()
    settings = settings_for(name, docs)
    settings = settings.override(answering=replace(settings.answering, english_adapter=False))
    pipeline = Pipeline(settings, embeddings=embeddings, scorer=False)
    pipeline.abstention = None
    store, out = pipeline.store, []
    asked_english = [q for q in _questions(name) if q["lang"] == "en" and q["answers"]]
    for q in tqdm(asked_english, desc=f"English questions ({name})", unit="q", file=sys.stderr):
        source = q.get("doc") or None
        ranked = pipeline.retrieve(q["question"], source=source, k=5).evidence.ranked
        if not ranked or not ranked[0]:
            continue
        asked = analyse(q["question"], None, settings.answering.max_question_chars)
        first = asked.parts[0] if len(asked.parts) > 1 else asked.search_text
        candidates = [c.sentence for c in ranked[0]]

        def relevance(vector: np.ndarray, rows: list[int] = candidates) -> np.ndarray:
            return store.sentence_relevance(vector, 1).of(rows)

        out.append(Question(
            q["id"], q["group"], pipeline._embed_queries([first])[0], candidates,
            np.array([c.score - c.dense for c in ranked[0]]),
            [bool(_positive(q, store.sentences[i])) for i in candidates], relevance,
        ))
    return out, np.asarray(store.index.sentence_vectors)


def fit(questions: Sequence[Question], vectors: dict[str, np.ndarray]) -> np.ndarray:
    """``I + W`` minimising the softmax loss of the gold among each question's candidates."""
    import torch

    usable = [q for q in questions if any(q.positive)]
    dim = len(usable[0].vector)
    width = max(len(q.candidates) for q in usable)
    n = len(usable)
    sentences = torch.zeros(n, width, dim)
    offsets = torch.full((n, width), -1e4)  # padding never wins
    gold = torch.zeros(n, width, dtype=torch.bool)
    for i, q in enumerate(usable):
        m = len(q.candidates)
        sentences[i, :m] = torch.from_numpy(vectors[q.group][q.candidates])
        offsets[i, :m] = torch.from_numpy(q.offsets.astype(np.float32))
        gold[i, :m] = torch.tensor(q.positive)
    queries = torch.from_numpy(np.stack([q.vector for q in usable]))
    eye = torch.eye(dim)
    w = torch.zeros(dim, dim, requires_grad=True)
    optimiser = torch.optim.Adam([w], lr=LEARNING_RATE)
    with torch.enable_grad():
        for _ in range(EPOCHS):
            optimiser.zero_grad()
            moved = queries @ (eye + w)
            moved = moved / moved.norm(dim=1, keepdim=True)
            logits = (offsets + torch.einsum("nmd,nd->nm", sentences, moved)) / TEMPERATURE
            loss = (torch.logsumexp(logits, 1)
                    - torch.logsumexp(logits.masked_fill(~gold, -1e9), 1)).mean()
            (loss + SHRINK * (w**2).sum()).backward()
            optimiser.step()
    return (eye + w).detach().numpy()


def first_is_gold(q: Question, matrix: np.ndarray | None) -> bool:
    """Whether the hand-set ranking puts a gold first, with its best :data:`REORDERS` in
    the order it gives them when the question is moved by ``matrix`` (as the pipeline does)."""
    if matrix is None:
        return q.positive[0]
    moved = q.vector @ matrix
    scores = q.offsets + q.relevance((moved / np.linalg.norm(moved)).astype(np.float32))
    return q.positive[int(np.argmax(scores[:REORDERS]))]


def lodo(questions: Sequence[Question], vectors: dict[str, np.ndarray]) -> dict[str, Any]:
    """Each document's questions ranked with a matrix fit without it."""
    groups = sorted({q.group for q in questions})
    folds = {g: fit([q for q in questions if q.group != g], vectors) for g in groups}
    table: dict[str, dict[str, list[int]]] = defaultdict(
        lambda: {"without": [0, 0], "with": [0, 0]}
    )
    for q in questions:
        for name in (q.group, "all") if q.group == "seed" else (q.group, "reports", "all"):
            for label, matrix in (("without", None), ("with", folds[q.group])):
                table[name][label][0] += 1
                table[name][label][1] += first_is_gold(q, matrix)
    rows = {name: {label: round(100 * hit / n, 1) for label, (n, hit) in cells.items()}
            | {"n": cells["with"][0]} for name, cells in table.items()}
    return {"cite_at_1": rows, "folds": folds}


def held_out_adapters() -> dict[str, QueryAdapter]:
    """Each document's adapter fit without it, as the last ``train_adapter`` run left them."""
    from safetensors import safe_open

    try:
        with safe_open(str(FOLDS_FILE), "numpy") as folds:
            if (folds.metadata() or {}).get("key") != _key():
                raise OSError("made by other code or data")
            model, groups = Settings().model.name, folds.keys()
            return {g: QueryAdapter(folds.get_tensor(g), model) for g in groups}
    except OSError as exc:
        raise SystemExit(f"{FOLDS_FILE}: {exc}; run `python -m evals.train_adapter` "
                         "(make train runs it first)") from None


def _key() -> str:
    return _code_key([p for _, _, p in DATASETS if p.exists()] + [PROJECT_ROOT / c for c in CODE])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="report only; keep the weights")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from safetensors.numpy import save_file

    from rag.embeddings import load_embeddings

    settings = Settings()
    embeddings = load_embeddings(settings.model)
    questions: list[Question] = []
    vectors: dict[str, np.ndarray] = {}
    for name in SETS:
        found, sentence_vectors = collect(name, embeddings)
        questions += found
        vectors |= {q.group: sentence_vectors for q in found}
    result = lodo(questions, vectors)
    CACHE.mkdir(parents=True, exist_ok=True)
    save_file({g: m.astype(np.float32) for g, m in result["folds"].items()}, str(FOLDS_FILE),
              metadata={"key": _key()})
    lines = ["# English query adapter: leave one document out",
             "First citation holds the gold, English questions a sentence answers "
             "(the hand-set ranking without and with the adapter fit without the document):",
             "", "| held out | n | without | with |", "|---|---|---|---|"]
    for name, row in sorted(result["cite_at_1"].items()):
        lines.append(f"| {name} | {row['n']} | {row['without']}% | {row['with']}% |")
    report = "\n".join(lines)
    write_report("adapter_lodo", report, {"cite_at_1": result["cite_at_1"]})
    if args.no_write:
        return 0
    files = [p for name, _, p in DATASETS if name in SETS and p.exists()]
    save_adapter(fit(questions, vectors), {
        "trainer": "evals/train_adapter.py",
        "model": settings.model.name,
        "objective": "softmax of the gold among each English question's hand-set candidates",
        "shrink": SHRINK, "temperature": TEMPERATURE, "epochs": EPOCHS,
        "data": [{"file": str(p.relative_to(PROJECT_ROOT)), "sha256": _sha256(p)} for p in files],
        "questions": len(questions),
    })
    print(f"\nWrote {WEIGHTS_FILE} and {MANIFEST_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
