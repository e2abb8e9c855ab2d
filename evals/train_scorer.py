"""Train the answer-selection scorer (``make train``) and report leave-one-document-out figures.

Data: the seed questions (``evals/questions.jsonl`` on ``seeds/``), the corpus questions
(``evals/corpus_questions.jsonl`` on ``evals/corpus/``, when present) and the CMRC 2018 trial
split (each paragraph a document). Every question is run through the real pipeline once; the
features of every candidate sentence are cached under ``.cache/scorer/`` and reused by every
fold. Positives are the candidates holding the gold span (or held by it), negatives the other
sentences of the retrieved chunks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import PROJECT_ROOT, Settings
from rag.eval_metrics import answer_correct, citation_hit
from rag.features import FEATURE_NAMES
from rag.scorer import MANIFEST_FILE, WEIGHTS_FILE, LearnedScorer, file_sha256

log = logging.getLogger(__name__)

CACHE = PROJECT_ROOT / ".cache" / "scorer"
SEED_DOCS = PROJECT_ROOT / "seeds"
SEED_QUESTIONS = PROJECT_ROOT / "evals" / "questions.jsonl"
CORPUS_DOCS = PROJECT_ROOT / "evals" / "corpus"
CORPUS_QUESTIONS = PROJECT_ROOT / "evals" / "corpus_questions.jsonl"
CMRC = PROJECT_ROOT / "evals" / "cmrc2018" / "cmrc2018_trial.json"


def corpus_docs() -> Path:
    """The corpus reports (``.txt`` only: never the folder's notes), copied byte for byte."""
    origin = CORPUS_DOCS
    out = CACHE / ("corpus_docs" if not REPORTS else "corpus_docs_" + "_".join(sorted(REPORTS)))
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(origin.glob("*.txt")):
        if REPORTS and path.stem not in REPORTS:
            continue
        target = out / path.name
        if not target.exists() or target.read_bytes() != path.read_bytes():
            shutil.copyfile(path, target)
    return out


def _cmrc_title(article: dict[str, Any]) -> str:
    return str(article.get("title") or "").strip()


def cmrc_docs(path: Path = CMRC) -> Path:
    """CMRC paragraphs written one per file, so each is a document of its own: its article's
    title line, then the paragraph, as ``rag eval`` writes them (``rag/eval_sets.py``)."""
    out = CACHE / "cmrc_docs"
    out.mkdir(parents=True, exist_ok=True)
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for n, paragraph in enumerate(article["paragraphs"]):
            name = f"{paragraph.get('id', article.get('id', 'p'))}_{n}.txt"
            text = f"{_cmrc_title(article)}\n{paragraph['context']}"
            target = out / name
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
    return out


CMRC_FOLDS = 5
MAX_FALSE_ABSTENTIONS = 0.05
# A quicker run on some reports only (comma-separated stems); ``make train`` uses all.
REPORTS = {r for r in os.environ.get("RAG_TRAIN_REPORTS", "").split(",") if r}
BASELINE = os.environ.get("RAG_TRAIN_BASELINE", "1") != "0"  # also run the hand-set scorer
CALIBRATION_C = 1.0
CMRC_WEIGHT = 0.5  # CMRC is another genre: it informs the model, the reports lead it
# What the cached candidates and their input rows depend on: all of the product's code
# (the abstention inputs read rag/abstention.py, rag/numbers.py, rag/short_answer.py…),
# and the labels (_positive) and the questions' reading here.
SOURCES_OF_CODE = (*sorted(
    str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "rag").rglob("*.py")
), "evals/train_scorer.py")


@dataclass
class Part:
    """One question part's candidates as the pipeline saw them."""

    texts: list[str]
    features: np.ndarray  # (n, len(FEATURE_NAMES))
    positive: np.ndarray  # (n,) bool: holds the gold


@dataclass
class Sample:
    """One question, its group for cross-validation and what the pipeline retrieved."""

    id: str
    group: str  # a report, "seed" or "cmrc-k"
    lang: str
    kind: str
    gold: list[str]
    answers: list[list[str]]
    parts: list[Part]
    baseline: dict[str, Any]  # the hand-set scorer's answer, for comparison

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def settings_for(name: str, docs: Path) -> Settings:
    return Settings().override(docs_dir=docs, index_dir=CACHE / f"index_{docs.name}", llm=None)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _questions(name: str) -> list[dict[str, Any]]:
    """Each data set's questions as plain dicts with a group and the gold checks."""
    if name == "seed":
        rows = [json.loads(x) for x in SEED_QUESTIONS.read_text(encoding="utf-8").splitlines()]
        return [r | {"group": "seed"} for r in rows if r]
    if name == "corpus":
        if not CORPUS_QUESTIONS.exists():
            return []
        lines = CORPUS_QUESTIONS.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(x) for x in lines if x.strip()]
        rows = [r for r in rows if not REPORTS or Path(r["doc"]).stem in REPORTS]
        return [r | {"group": Path(r["doc"]).stem} for r in rows]
    out = []
    articles = json.loads(CMRC.read_text(encoding="utf-8"))["data"]
    for a, article in enumerate(articles):
        shift = len(_cmrc_title(article)) + 1  # the title line before the paragraph
        for n, paragraph in enumerate(article["paragraphs"]):
            source = f"{paragraph.get('id', article.get('id', 'p'))}_{n}.txt"
            for qa in paragraph["qas"]:
                spans = [x for x in qa["answers"] if x["text"].strip()]
                if not spans:
                    continue
                out.append(
                    {
                        "id": qa["id"],
                        "question": qa["question"],
                        "lang": "zh",
                        "kind": "cmrc",
                        "answers": [[x["text"] for x in spans]],
                        "source": source,
                        "span": [spans[0]["answer_start"] + shift, len(spans[0]["text"])],
                        "group": f"cmrc-{a % CMRC_FOLDS}",
                    }
                )
    return out


def _positive(q: dict[str, Any], record: Any) -> bool:
    """Whether a candidate sentence holds the gold, as the eval's citation check reads it
    (containing the gold span, or a sentence of a longer one): for CMRC, a sentence where
    its answer span is, for a report question one with its gold. An answer of several
    sentences is cited by any of them, not only by the one it starts in."""
    if "span" in q:
        answer = q["answers"][0][0]
        start = q["span"][0] + len(answer) - len(answer.lstrip())
        end = start + len(answer.strip())
        return (record.source == q["source"] and record.start < end and start < record.end
                and citation_hit(record.text, answer.strip()))
    golds = [q.get("gold")] + list(q.get("gold_extra") or [])
    return any(citation_hit(record.text, g) for g in golds if g)


def _collect(name: str, docs: Path, embeddings: Any) -> list[Sample]:
    from tqdm import tqdm

    from rag.pipeline import Pipeline

    questions = _questions(name)
    if not questions:
        return []
    untrained = LearnedScorer(
        FEATURE_NAMES,
        np.zeros(len(FEATURE_NAMES)),
        np.ones(len(FEATURE_NAMES)),
        np.zeros(len(FEATURE_NAMES)),
        np.zeros(3),
        np.zeros(len(FEATURE_NAMES)),
        0.5,
    )
    pipeline = Pipeline(settings_for(name, docs), embeddings=embeddings, scorer=untrained)
    sentences = pipeline.store.sentences
    samples = []
    for q in tqdm(questions, desc=f"Candidates ({name})", unit="q", file=sys.stderr):
        pipeline.scorer = untrained
        evidence = pipeline.retrieve(q["question"], k=5).evidence
        parts = []
        for ranked in evidence.ranked:
            rows = [c.features for c in ranked]
            parts.append(
                Part(
                    texts=[sentences[c.sentence].text for c in ranked],
                    features=np.asarray(rows, dtype=np.float32).reshape(-1, len(FEATURE_NAMES)),
                    positive=np.array([_positive(q, sentences[c.sentence]) for c in ranked]),
                )
            )
        answer = None
        if BASELINE:
            pipeline.scorer = None
            answer = pipeline.retrieve(q["question"], k=5).answer
        samples.append(
            Sample(
                id=q["id"],
                group=q["group"],
                lang=q["lang"],
                kind=q["kind"],
                gold=[g for g in [q.get("gold"), *(q.get("gold_extra") or [])] if g]
                or list(q["answers"][0][:1] if "span" in q else []),
                answers=q["answers"],
                parts=parts,
                baseline={
                    "first": answer.citations[0].quote if answer.citations else None,
                    "text": answer.text,
                    "abstained": answer.abstained,
                }
                if answer
                else {},
            )
        )
    return samples


def _code_key(question_files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for rel in SOURCES_OF_CODE:
        digest.update((PROJECT_ROOT / rel).read_bytes())
    for path in question_files:
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def _save(samples: list[Sample], path: Path, key: str) -> None:
    rows = [
        {
            "id": s.id, "group": s.group, "lang": s.lang, "kind": s.kind, "gold": s.gold,
            "answers": s.answers, "baseline": s.baseline,
            "parts": [
                {"texts": p.texts, "features": p.features.tolist(), "positive": p.positive.tolist()}
                for p in s.parts
            ],
        }
        for s in samples
    ]
    path.write_text(json.dumps({"key": key, "samples": rows}, ensure_ascii=False), "utf-8")


def _load(path: Path, key: str) -> list[Sample] | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if raw.get("key") != key:
        return None
    return [
        Sample(
            id=r["id"], group=r["group"], lang=r["lang"], kind=r["kind"], gold=r["gold"],
            answers=r["answers"], baseline=r["baseline"],
            parts=[
                Part(
                    p["texts"],
                    np.asarray(p["features"], dtype=np.float32).reshape(-1, len(FEATURE_NAMES)),
                    np.asarray(p["positive"], dtype=bool),
                )
                for p in r["parts"]
            ],
        )
        for r in raw["samples"]
    ]


DATASETS: list[tuple[str, Callable[[], Path], Path]] = [
    ("seed", lambda: SEED_DOCS, SEED_QUESTIONS),
    ("corpus", corpus_docs, CORPUS_QUESTIONS),
    ("cmrc", cmrc_docs, CMRC),
]


def collect_all(names: Sequence[str] = ("seed", "corpus", "cmrc")) -> list[Sample]:
    """Every data set's samples, from the cache when the code and questions are unchanged."""
    CACHE.mkdir(parents=True, exist_ok=True)
    embeddings = None
    samples: list[Sample] = []
    for name, docs, questions in DATASETS:
        if name not in names:
            continue
        key = _code_key([questions]) + ",".join(sorted(REPORTS))
        path = CACHE / f"samples_{name}.json"
        cached = _load(path, key)
        if cached is None:
            if embeddings is None:
                from rag.embeddings import load_embeddings

                embeddings = load_embeddings(Settings().model)
            cached = _collect(name, docs(), embeddings)
            _save(cached, path, key)
        log.info("%s: %d questions", name, len(cached))
        samples += cached
    return samples


# --- fitting and deciding ----------------------------------------------------------------


def _rank_weights(groups: list[tuple[np.ndarray, np.ndarray, float]], lam: float) -> np.ndarray:
    """Listwise (softmax) weights: maximise each question's probability mass on its gold."""
    from scipy.optimize import minimize

    dim = groups[0][0].shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = lam * float(w @ w), 2 * lam * w
        for x, positive, weight in groups:
            z = x @ w
            e = np.exp(z - z.max())
            p, q = e / e.sum(), e * positive
            total -= weight * float(np.log(q.sum() / e.sum()))
            grad = grad - weight * ((q / q.sum() - p) @ x)
        return total, grad

    return minimize(loss, np.zeros(dim), jac=True, method="L-BFGS-B").x


def fit(samples: Sequence[Sample], lam: float = 10.0) -> LearnedScorer:
    """Ranking weights (listwise), then a logistic calibration of each part's best
    candidate: its score and lead against whether it holds the gold."""
    from sklearn.linear_model import LogisticRegression

    from rag.scorer import leads

    parts = [
        (p, CMRC_WEIGHT if s.group.startswith("cmrc") else 1.0)
        for s in samples
        for p in s.parts  # all of them: the ranking learns from the inadmissible ones too
        if len(p.texts)
    ]
    x = np.concatenate([p.features for p, _ in parts]).astype(np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    groups = [
        ((p.features - mean) / scale, p.positive.astype(np.float64), w)
        for p, w in parts
        if p.positive.any() and not p.positive.all()
    ]
    weights = _rank_weights(groups, lam)
    rows, labels, sample_weight = [], [], []
    for p, w in parts:
        scaled = (p.features - mean) / scale
        scores = scaled @ weights
        best = int(np.argmax(scores))
        rows.append([scores[best], leads(scores)[best], *scaled[best]])
        labels.append(bool(p.positive[best]))
        sample_weight.append(w)
    platt = LogisticRegression(C=CALIBRATION_C, max_iter=2000)
    platt.fit(np.array(rows), np.array(labels), sample_weight=np.array(sample_weight))
    coef = platt.coef_[0]
    calibration = np.array([coef[0], coef[1], platt.intercept_[0]], dtype=np.float64)
    return LearnedScorer(FEATURE_NAMES, mean, scale, weights, calibration, coef[2:], 0.5)


@dataclass
class Outcome:
    """One question's answer under a scorer and threshold, as the pipeline would give it."""

    first: str | None
    text: str
    abstained: bool
    top: float  # the best part's probability


def decide(scorer: LearnedScorer, sample: Sample, threshold: float, max_cites: int = 3) -> Outcome:
    """The pipeline's decision replayed: each part's most probable sentence if sure enough,
    the surest first; abstaining shows the first part's closest sentence."""
    chosen: list[tuple[float, str]] = []
    tops = []
    first_closest = None
    for n, whole in enumerate(sample.parts):
        p = _admissible_part(whole)
        if not len(p.texts):
            continue
        prob = scorer.probability(p.features.astype(np.float64))
        best = int(np.argmax(scorer.scores(p.features)))
        tops.append(float(prob[best]))
        if n == 0:
            first_closest = p.texts[best]
        if prob[best] >= threshold and all(t != p.texts[best] for _, t in chosen):
            chosen.append((float(prob[best]), p.texts[best]))
    chosen = sorted(chosen, reverse=True)[:max_cites]
    top = max(tops, default=0.0)
    if not chosen:
        return Outcome(first_closest, "", True, top)
    return Outcome(chosen[0][1], " ".join(t for _, t in chosen), False, top)


def _admissible_part(p: Part) -> Part:
    """The part's candidates the pipeline would consider (:func:`rag.scorer.admissible`)."""
    from rag.scorer import admissible

    keep = admissible(p.features) if len(p.texts) else np.zeros(0, dtype=bool)
    return Part([t for t, k in zip(p.texts, keep, strict=True) if k], p.features[keep],
                p.positive[keep])


def _answer_top(scorer: LearnedScorer, sample: Sample) -> float:
    """The probability the decision compares with the threshold: the best part's best."""
    return decide(scorer, sample, 2.0).top


def choose_threshold(tops: Sequence[float], answerable: Sequence[bool]) -> float:
    """The highest threshold that abstains on at most 5 % of the answerable questions."""
    ans = np.sort(np.array([t for t, a in zip(tops, answerable, strict=True) if a]))
    if not len(ans):
        return 0.5
    allowed = int(np.floor(MAX_FALSE_ABSTENTIONS * len(ans)))
    # Abstaining below ans[allowed] leaves at most ``allowed`` answerable questions out.
    return float(np.clip(ans[allowed], 1e-4, 1 - 1e-4))


# --- leave one document out --------------------------------------------------------------


def _is_report(group: str) -> bool:
    return not group.startswith("cmrc")


def metrics(samples: Sequence[Sample], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The bar's four figures (None where there is nothing to count)."""
    pairs = list(zip(samples, outcomes, strict=True))
    ans = [(s, o) for s, o in pairs if s.answerable]
    unans = [o for s, o in pairs if not s.answerable]

    def rate(flags: list[bool]) -> float | None:
        return sum(flags) / len(flags) if flags else None

    return {
        "n": len(pairs),
        "n_unanswerable": len(unans),
        "cite@1": rate([citation_hit(o.first, s.gold[0] if s.gold else None) for s, o in ans]),
        "facts": rate([not o.abstained and answer_correct(o.text, s.answers) for s, o in ans]),
        "false_abstentions": rate([o.abstained for _, o in ans]),
        "unanswerable_abstained": rate([o.abstained for o in unans]),
    }


def _baseline_outcome(s: Sample) -> Outcome:
    b = s.baseline
    return Outcome(b["first"], "" if b["abstained"] else b["text"], b["abstained"], 0.0)


def set_table(
    samples: Sequence[Any],
    decisions: dict[str, Callable[[Any], Outcome | None]],
    per_group: Callable[[str], bool],
    extra: Sequence[tuple[str, Sequence[Any]]] = (),
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each decision's figures over the sets every trainer reports: the corpus reports by
    language and together, the seed likewise, each group ``per_group`` admits, CMRC (all
    folds), the ``extra`` sets, then the reports by question kind. A decision that has no
    outcome (None) for some question of a set is left out of that set's row."""
    table: dict[str, dict[str, dict[str, Any]]] = {}

    def add(name: str, chosen: Sequence[Any]) -> None:
        if not chosen:
            return
        row = {}
        for label, decide_one in decisions.items():
            outcomes = [decide_one(s) for s in chosen]
            if all(o is not None for o in outcomes):
                row[label] = metrics(chosen, outcomes)
        table[name] = row

    reports = [s for s in samples if _is_report(s.group)]
    corpus = [s for s in reports if s.group != "seed"]
    for lang in ("zh", "en"):
        add(f"reports {lang}", [s for s in corpus if s.lang == lang])
    add("reports all", corpus)
    for lang in ("zh", "en"):
        add(f"seed {lang}", [s for s in reports if s.group == "seed" and s.lang == lang])
    add("seed all", [s for s in reports if s.group == "seed"])
    for g in sorted({s.group for s in samples}):
        if per_group(g):
            add(g, [s for s in samples if s.group == g])
    add("cmrc (all folds)", [s for s in samples if not _is_report(s.group)])
    for name, chosen in extra:
        add(name, chosen)
    for kind in sorted({s.kind for s in corpus}):
        add(f"reports kind {kind}", [s for s in corpus if s.kind == kind])
    return table


def render(result: dict[str, Any], label: str = "scorer") -> str:
    """The table of :func:`set_table` as Markdown, one line per set and decision."""
    cols = ["cite@1", "facts", "false_abstentions", "unanswerable_abstained"]
    lines = [
        f"| set | {label} | n | unans. | cite@1 | facts | false abst. | unans. abstained |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in result["table"].items():
        for decision, m in row.items():
            cells = " | ".join(_fmt(m[c]) for c in cols)
            lines.append(f"| {name} | {decision} | {m['n']} | {m['n_unanswerable']} | {cells} |")
    return "\n".join(lines)


def write_report(stem: str, report: str, result: dict[str, Any]) -> None:
    """Print the Markdown and keep it, with the figures as JSON, in ``evals/reports/``."""
    print(report)
    out = PROJECT_ROOT / "evals" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(report + "\n", encoding="utf-8")
    (out / f"{stem}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


def lodo(samples: Sequence[Sample], lam: float = 10.0) -> dict[str, Any]:
    """Fit without each group, test on it; the threshold for a report comes from the other
    reports' held-out probabilities, so no figure saw its own document."""
    from tqdm import tqdm

    groups = sorted({s.group for s in samples})
    models: dict[str, LearnedScorer] = {}
    for g in tqdm(groups, desc="LODO folds", unit="fold", file=sys.stderr):
        others = [s for s in samples if s.group != g]
        if not others:  # one group only: nothing is held out (said in the report)
            log.warning("only %s: the figures below are in-sample", g)
        models[g] = fit(others or list(samples), lam)
    tops = {s.id: _answer_top(models[s.group], s) for s in samples}
    reports = [s for s in samples if _is_report(s.group)]

    def threshold_without(g: str) -> float:
        others = [s for s in reports if s.group != g] or reports
        return choose_threshold([tops[s.id] for s in others], [s.answerable for s in others])

    thresholds = {g: threshold_without(g) for g in groups}
    outcomes = {s.id: decide(models[s.group], s, thresholds[s.group]) for s in samples}
    table = set_table(
        samples,
        {
            "learned": lambda s: outcomes[s.id],
            "hand-set": lambda s: _baseline_outcome(s) if s.baseline else None,
        },
        per_group=lambda g: g != "seed",
    )
    pooled = choose_threshold([tops[s.id] for s in reports], [s.answerable for s in reports])
    return {"table": table, "thresholds": thresholds, "pooled_threshold": pooled}


def calibration(samples: Sequence[Sample], scorer: LearnedScorer, bins: int = 5) -> list[dict]:
    """Mean predicted probability vs the share of top candidates that hold the gold."""
    pairs = []
    for s in samples:
        for p in s.parts:
            if len(p.texts):
                prob = scorer.probability(p.features.astype(np.float64))
                best = int(np.argmax(scorer.scores(p.features)))
                pairs.append((float(prob[best]), bool(p.positive[best])))
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for lo, hi in zip(edges, edges[1:], strict=False):
        inside = [(p, y) for p, y in pairs if lo <= p < hi or (hi == 1 and p == 1)]
        if inside:
            out.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": len(inside),
                    "predicted": float(np.mean([p for p, _ in inside])),
                    "observed": float(np.mean([y for _, y in inside])),
                }
            )
    return out


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def write_weights(scorer: LearnedScorer, manifest: dict[str, Any]) -> None:
    WEIGHTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    WEIGHTS_FILE.write_text(json.dumps(scorer.to_json(), indent=1) + "\n", encoding="utf-8")
    manifest["weights_file"] = WEIGHTS_FILE.name
    manifest["weights_sha256"] = file_sha256(WEIGHTS_FILE)
    MANIFEST_FILE.write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="report only; keep the weights")
    parser.add_argument("--l2", type=float, default=10.0, help="L2 penalty of the ranking weights")
    parser.add_argument(
        "--datasets", default="seed,corpus,cmrc", help="comma-separated: seed, corpus, cmrc"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    samples = collect_all(names)
    result = lodo(samples, args.l2)
    final = fit(samples, args.l2)
    final = LearnedScorer(
        final.names, final.mean, final.scale, final.weights, final.calibration,
        final.calibration_weights, result["pooled_threshold"],
    )
    seed = [s for s in samples if s.group == "seed"]
    in_sample = metrics(seed, [decide(final, s, final.threshold) for s in seed])
    reports = [s for s in samples if _is_report(s.group)]
    report = "\n\n".join(
        [
            "# Answer scorer: leave-one-document-out",
            render(result),
            f"Shipped threshold (pooled held-out, false abstentions <= 5 %): "
            f"{result['pooled_threshold']:.4f}",
            "Seed with the shipped model (trained on it too): "
            + ", ".join(f"{k} {_fmt(v) if k.startswith(('c', 'f', 'u')) else v}"
                        for k, v in in_sample.items()),
            "Calibration of the chosen sentence (reports, shipped model):\n"
            + "\n".join(
                f"- {b['bin']}: n {b['n']}, predicted {b['predicted']:.2f}, "
                f"observed {b['observed']:.2f}"
                for b in calibration(reports, final)
            ),
        ]
    )
    write_report("scorer_lodo", report, result)
    if args.no_write:
        return 0
    files = [p for name, _, p in DATASETS if name in names and p.exists()]
    manifest = {
        "trainer": "evals/train_scorer.py",
        "model": "linear listwise ranking (softmax, L-BFGS) + logistic calibration",
        "l2": args.l2,
        "cmrc_weight": CMRC_WEIGHT,
        "reports": sorted(REPORTS) or "all",
        "feature_names": list(FEATURE_NAMES),
        "threshold": final.threshold,
        "threshold_rule": f"held-out false abstentions <= {MAX_FALSE_ABSTENTIONS}",
        "data": [
            {"file": str(p.relative_to(PROJECT_ROOT.parent)) if not p.is_relative_to(
                PROJECT_ROOT) else str(p.relative_to(PROJECT_ROOT)), "sha256": _sha256(p)}
            for p in files
        ],
        "questions": {g: sum(s.group.startswith(g) for s in samples)
                      for g in ("seed", "cmrc")} | {"reports": sum(
                          _is_report(s.group) and s.group != "seed" for s in samples)},
        "candidates": int(sum(len(p.texts) for s in samples for p in s.parts)),
        "positives": int(sum(p.positive.sum() for s in samples for p in s.parts)),
    }
    write_weights(final, manifest)
    print(f"\nWrote {WEIGHTS_FILE} and {MANIFEST_FILE}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--build"]:
        from rag.embeddings import load_embeddings
        from rag.pipeline import Pipeline

        logging.basicConfig(level=logging.INFO)
        emb = load_embeddings(Settings().model)
        for name, docs, _ in DATASETS:
            Pipeline(settings_for(name, docs()), embeddings=emb, scorer=False)
        sys.exit(0)
    sys.exit(main())
