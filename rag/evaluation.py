"""The eval harness: run the question set through the pipeline and three baselines, then report.

``python -m rag eval`` calls :func:`run_eval`. Our pipeline is scored end to end
(retrieval, citation, answer, abstention, latency); the baselines share its embedding
model and source texts and are scored on retrieval only:

* ``langchain-tutorial``: ``RecursiveCharacterTextSplitter(500, 50)`` + ``FAISS.from_documents``;
* ``bm25-only``: BM25 over our own chunks with our tokenizer;
* ``dense-only``: our chunks' FAISS vectors searched with the query embedding.

Reports (JSON, Markdown, PNG) go to ``evals/reports/`` unless another folder is given.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import PROJECT_ROOT, Settings
from rag.eval_metrics import QuestionResult, answer_correct, gold_rank, percentile, summarize

log = logging.getLogger(__name__)

DEFAULT_QUESTIONS = PROJECT_ROOT / "evals" / "questions.jsonl"
DEFAULT_OUT_DIR = PROJECT_ROOT / "evals" / "reports"
TOP_K = 5
TUTORIAL_CHUNK_SIZE = 500
TUTORIAL_CHUNK_OVERLAP = 50
CELL_CHARS = 120  # truncation of answers and quotes in the Markdown failure table

Search = Callable[[str], list[str]]  # question -> retrieved chunk texts, best first


class QuestionFileError(ValueError):
    """A question file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class EvalQuestion:
    """One line of the question file."""

    id: str
    question: str
    lang: str
    kind: str
    answers: list[list[str]]  # facts, each a list of alternative spellings; empty = unanswerable
    gold: str | None  # verbatim source span the answer rests on
    gold_extra: list[str] = field(default_factory=list)
    section: str = ""
    doc: str = ""  # file name of the document asked about (multi-document sets)
    time: str = ""  # review | plan | multi-year, for questions that hinge on time

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class BaselineResult:
    """Retrieval metrics of one system over the answerable questions."""

    name: str
    description: str
    n: int
    hit_at_1: float | None
    hit_at_5: float | None
    mrr: float | None
    latency_p50_s: float | None
    chars_at_5: float | None  # mean characters in the top 5: bigger chunks hit gold more easily

    def as_dict(self) -> dict[str, Any]:
        """JSON form with the same metric keys as :func:`rag.eval_metrics.summarize`."""
        return {
            "name": self.name,
            "description": self.description,
            "n": self.n,
            "hit@1": self.hit_at_1,
            "hit@5": self.hit_at_5,
            "mrr": self.mrr,
            "latency_p50_s": self.latency_p50_s,
            "chars@5": self.chars_at_5,
        }


# --- question file -------------------------------------------------------------------------


def _require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise QuestionFileError(f"{where}: {message}")


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _parse_question(raw: str, where: str) -> EvalQuestion:
    """One JSON line → :class:`EvalQuestion`, or a :class:`QuestionFileError` saying why not."""
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise QuestionFileError(f"{where}: not valid JSON ({exc.msg})") from exc
    _require(isinstance(item, dict), where, "expected a JSON object")
    for key in ("id", "question", "lang", "kind"):
        value = item.get(key)
        _require(isinstance(value, str) and bool(value.strip()), where, f"{key!r} must be text")
    answers = item.get("answers")
    _require(
        isinstance(answers, list) and all(_is_str_list(f) and f for f in answers),
        where,
        "'answers' must be a list of facts, each a non-empty list of spellings",
    )
    gold = item.get("gold")
    _require(gold is None or isinstance(gold, str), where, "'gold' must be text or null")
    _require(not answers or bool(gold), where, "an answerable question needs a 'gold' span")
    extra = item.get("gold_extra", [])
    _require(_is_str_list(extra), where, "'gold_extra' must be a list of text")
    for key in ("doc", "time"):
        _require(isinstance(item.get(key, ""), str), where, f"{key!r} must be text")
    return EvalQuestion(
        id=item["id"],
        question=item["question"],
        lang=item["lang"],
        kind=item["kind"],
        answers=answers,
        gold=gold or None,
        gold_extra=extra,
        section=str(item.get("section") or ""),
        doc=item.get("doc", ""),
        time=item.get("time", ""),
    )


def load_questions(path: Path) -> list[EvalQuestion]:
    """All questions of a JSON Lines file; blank lines are skipped, ids must be unique."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError(f"{path}: cannot read the question file ({exc})") from exc
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        question = _parse_question(raw, where)
        _require(question.id not in seen, where, f"duplicate id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    _require(bool(questions), str(path), "no questions found")
    return questions


def _load_set(path: Path, docs_dir: Path) -> list[EvalQuestion]:
    """Questions of a JSON Lines file, or of a CMRC ``.json`` (its documents go to ``docs_dir``)."""
    if path.suffix != ".json":
        return load_questions(path)
    from rag.eval_sets import load_cmrc

    _require(
        docs_dir.resolve() != (PROJECT_ROOT / "seeds").resolve(),
        str(path),
        "give a separate documents folder (--docs) for the generated CMRC paragraphs",
    )
    return load_cmrc(docs_dir, path).questions


# --- our pipeline --------------------------------------------------------------------------


def run_question(pipeline: Any, q: EvalQuestion, scope: str = "doc") -> QuestionResult:
    """Ask one question; the latency covers retrieval and answer composition.

    With ``scope="doc"`` a question naming its document is asked of that document alone,
    as a user who picked it in the Document menu; ``"all"`` searches every document.
    """
    source = q.doc if scope == "doc" and q.doc else None
    started = time.perf_counter()
    retrieval = pipeline.retrieve(q.question, source=source, k=TOP_K)
    latency = time.perf_counter() - started
    answer = retrieval.answer
    return QuestionResult(
        id=q.id,
        question=q.question,
        lang=q.lang,
        kind=q.kind,
        answerable=q.answerable,
        retrieved=[hit.chunk.text for hit in retrieval.hits],
        first_quote=answer.citations[0].quote if answer.citations else None,
        answer_text=answer.text,
        abstained=answer.abstained,
        correct=answer_correct(answer.text, q.answers) and not answer.abstained,
        latency_s=latency,
        gold=q.gold,
        expected=q.answers,
        doc=q.doc,
        cited_source=answer.citations[0].source if answer.citations else None,
    )


def run_pipeline(
    pipeline: Any, questions: Sequence[EvalQuestion], scope: str = "doc"
) -> list[QuestionResult]:
    from tqdm import tqdm

    bar = tqdm(questions, desc="Pipeline", unit="q", file=sys.stderr)
    return [run_question(pipeline, q, scope) for q in bar]


# --- baselines -----------------------------------------------------------------------------


def retrieval_metrics(
    name: str,
    description: str,
    rankings: Sequence[list[str]],
    golds: Sequence[str | None],
    latencies: Sequence[float],
) -> BaselineResult:
    """hit@1, hit@5 and MRR of ranked chunk texts against gold spans (first five only)."""
    ranks = [
        gold_rank(list(texts[:TOP_K]), gold) for texts, gold in zip(rankings, golds, strict=True)
    ]
    n = len(ranks)

    def rate(cut: int) -> float | None:
        return sum(r is not None and r <= cut for r in ranks) / n if n else None

    mrr = sum(1.0 / r for r in ranks if r) / n if n else None
    chars = [sum(len(t) for t in texts[:TOP_K]) for texts in rankings]
    return BaselineResult(
        name,
        description,
        n,
        rate(1),
        rate(TOP_K),
        mrr,
        percentile(list(latencies), 50),
        sum(chars) / n if n else None,
    )


def ours_as_baseline(results: Sequence[QuestionResult]) -> BaselineResult:
    """Our row of the comparison: the first ``TOP_K`` hits, i.e. the fused search proper."""
    ans = [r for r in results if r.answerable]
    return retrieval_metrics(
        "ours",
        "hybrid BM25 + dense, RRF (first 5 hits; latency includes answering)",
        [r.retrieved for r in ans],
        [r.gold for r in ans],
        [r.latency_s for r in ans],
    )


def run_retriever(
    name: str, description: str, search: Search, questions: Sequence[EvalQuestion]
) -> BaselineResult:
    """Time ``search`` on every answerable question and score its rankings."""
    from tqdm import tqdm

    ans = [q for q in questions if q.answerable]
    rankings: list[list[str]] = []
    latencies: list[float] = []
    for q in tqdm(ans, desc=name, unit="q", file=sys.stderr):
        started = time.perf_counter()
        rankings.append(search(q.question))
        latencies.append(time.perf_counter() - started)
    return retrieval_metrics(name, description, rankings, [q.gold for q in ans], latencies)


def langchain_tutorial_search(pipeline: Any) -> Search:
    """The LangChain RAG tutorial: recursive 500/50 splits of each source into FAISS."""
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=TUTORIAL_CHUNK_SIZE, chunk_overlap=TUTORIAL_CHUNK_OVERLAP
    )
    sources = [
        Document(page_content=text, metadata={"source": name})
        for name, text in sorted(pipeline.index.texts.items())
    ]
    docs = splitter.split_documents(sources)
    started = time.perf_counter()
    store = FAISS.from_documents(docs, pipeline.embeddings)
    log.info(
        "Tutorial baseline: %d splits embedded in %.1f s", len(docs), time.perf_counter() - started
    )
    return lambda q: [d.page_content for d in store.similarity_search(q, k=TOP_K)]


def bm25_search(pipeline: Any) -> Search:
    """BM25 alone over our chunks, with the tokenizer our hybrid retriever uses."""
    from rag.retriever import LexicalIndex

    chunks = pipeline.index.chunks
    bm25 = LexicalIndex([c.text for c in chunks])

    def search(question: str) -> list[str]:
        scores = bm25.scores(question)
        return [chunks[int(i)].text for i in np.argsort(-scores, kind="stable")[:TOP_K]]

    return search


def dense_search(pipeline: Any) -> Search:
    """Dense alone: the query embedding against our chunks' FAISS index."""
    chunks = pipeline.index.chunks

    def search(question: str) -> list[str]:
        vector = np.asarray(pipeline.embeddings.embed_query(question), dtype=np.float32)
        _, ids = pipeline.index.chunk_index.search(vector.reshape(1, -1), TOP_K)
        return [chunks[int(i)].text for i in ids[0] if i >= 0]

    return search


BASELINES: list[tuple[str, str, Callable[[Any], Search]]] = [
    (
        "langchain-tutorial",
        f"RecursiveCharacterTextSplitter({TUTORIAL_CHUNK_SIZE}/{TUTORIAL_CHUNK_OVERLAP})"
        " + FAISS.from_documents + similarity_search",
        langchain_tutorial_search,
    ),
    ("bm25-only", "BM25 (bm25s) over our chunks (lexical_tokens)", bm25_search),
    ("dense-only", "FAISS over our chunk vectors, query embedding", dense_search),
]


def run_baselines(pipeline: Any, questions: Sequence[EvalQuestion]) -> list[BaselineResult]:
    return [
        run_retriever(name, description, make(pipeline), questions)
        for name, description, make in BASELINES
    ]


# --- rendering -----------------------------------------------------------------------------

OVERALL_COLUMNS = [
    ("n", "n"),
    ("hit@1", "hit@1"),
    ("hit@5", "hit@5"),
    ("mrr", "MRR"),
    ("citation@1", "cite@1"),
    ("doc@1", "doc@1"),
    ("accuracy", "accuracy"),
    ("false_abstention_rate", "false abst."),
    ("abstention_rate", "abst. (unans.)"),
    ("latency_p50_s", "p50 ms"),
    ("latency_p95_s", "p95 ms"),
]
COMPARISON_COLUMNS = [
    ("n", "n"),
    ("hit@1", "hit@1"),
    ("hit@5", "hit@5"),
    ("mrr", "MRR"),
    ("latency_p50_s", "p50 ms"),
    ("chars@5", "chars@5"),
]


def fmt(key: str, value: object) -> str:
    """A metric for a table: rates as percentages, MRR as a fraction, latency in ms."""
    if value is None:
        return "–"
    if key == "n":
        return str(value)
    if key == "mrr":
        return f"{value:.3f}"
    if key == "chars@5":
        return f"{value:.0f}"
    if key.startswith("latency"):
        ms = float(value) * 1000  # type: ignore[arg-type]
        return f"{ms:.0f}" if ms >= 10 else f"{ms:.1f}"
    return f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]


def metric_rows(
    named: Sequence[tuple[str, dict[str, Any]]], columns: Sequence[tuple[str, str]]
) -> list[list[str]]:
    return [[name] + [fmt(key, metrics.get(key)) for key, _ in columns] for name, metrics in named]


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table for the terminal."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _cell(text: object, limit: int | None = None) -> str:
    s = "" if text is None else str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _expected_text(expected: list[list[str]]) -> str:
    return " + ".join(" / ".join(alts) for alts in expected) or "(abstain)"


def _sections(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Title, headers and rows of every metric table, shared by the terminal and Markdown."""
    summary = report["summary"]
    overall = [h for _, h in OVERALL_COLUMNS]
    comparison = [report["ours_retrieval"], *report["baselines"]]
    return [
        ("Overall (ours)", ["system", *overall], metric_rows([("ours", summary)], OVERALL_COLUMNS)),
        (
            "Retrieval: ours vs baselines (answerable questions, top 5)",
            ["system", *(h for _, h in COMPARISON_COLUMNS)],
            metric_rows([(b["name"], b) for b in comparison], COMPARISON_COLUMNS),
        ),
        (
            "By language",
            ["lang", *overall],
            metric_rows(list(summary["by_lang"].items()), OVERALL_COLUMNS),
        ),
        (
            "By kind",
            ["kind", *overall],
            metric_rows(list(summary["by_kind"].items()), OVERALL_COLUMNS),
        ),
    ] + (
        [("By document", ["doc", *overall], metric_rows(list(by_doc.items()), OVERALL_COLUMNS))]
        if (by_doc := summary.get("by_doc"))
        else []
    )


def _failure_counts(failures: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for f in failures:
        for reason in f["reasons"]:
            counts[reason] = counts.get(reason, 0) + 1
    detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
    return f"{len(failures)} questions failed" + (f" ({detail})" if detail else "")


def render_console(report: dict[str, Any]) -> str:
    parts = [f"{title}\n{text_table(headers, rows)}" for title, headers, rows in _sections(report)]
    parts.append("Failures: " + _failure_counts(report["summary"]["failures"]))
    return "\n\n".join(parts)


def render_markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = [
        "# Eval report",
        "",
        f"- model: `{config['model']}`",
        f"- questions: `{config['question_file']}` ({config['n_questions']})",
        f"- run at: {config['timestamp']}",
        "",
        "Rates are percentages; retrieval and citation over answerable questions, abstention "
        "over unanswerable ones; latency in milliseconds. chars@5 is the mean number of "
        "characters in a system's top 5: systems with bigger chunks contain gold spans more "
        "easily, so read hit@k next to it.",
    ]
    for title, headers, rows in _sections(report):
        lines += ["", f"## {title}", "", markdown_table(headers, rows)]
    failures = report["summary"]["failures"]
    lines += ["", "## Failures", "", _failure_counts(failures) + ".", ""]
    rows = [
        [
            f["id"],
            f["question"],
            _expected_text(f["expected"]),
            _cell(f["got"], CELL_CHARS),
            _cell(f["cited_quote"], CELL_CHARS),
            ", ".join(f["reasons"]) + (f" (gold rank {f['gold_rank']})" if f["gold_rank"] else ""),
        ]
        for f in failures
    ]
    headers = ["id", "question", "expected", "got", "cited quote", "reason"]
    lines.append(markdown_table(headers, rows))
    return "\n".join(lines) + "\n"


def plot_report(report: dict[str, Any], path: Path) -> None:
    """Grouped bars: hit@1/hit@5/MRR for every system, accuracy and citation@1 for ours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shared = [("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr", "MRR")]
    ours_only = [("accuracy", "accuracy"), ("citation@1", "citation@1")]
    systems = [report["ours_retrieval"], *report["baselines"]]
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for s, system in enumerate(systems):
        offset = (s - (len(systems) - 1) / 2) * width
        xs = [i + offset for i in range(len(shared))]
        ys = [system.get(key) or 0.0 for key, _ in shared]
        if s == 0:  # ours also gets its answer-level bars, centred on their own ticks
            xs += [len(shared) + i for i in range(len(ours_only))]
            ys += [report["summary"].get(key) or 0.0 for key, _ in ours_only]
        bars = ax.bar(xs, ys, width, label=system["name"], color=f"C{s}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(shared) + len(ours_only)), [label for _, label in shared + ours_only])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score (answerable questions)")
    ax.set_title(f"Retrieval and answers ({report['config']['n_questions']} questions)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(report: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    plot_report(report, out_dir / "report.png")
    log.info("Reports written to %s", out_dir)


# --- entry point ---------------------------------------------------------------------------


def _config(
    settings: Settings, question_file: Path, n_questions: int, scope: str = "doc"
) -> dict[str, Any]:
    from rag.embeddings import model_identity

    return {
        "model": model_identity(settings.embed_model),
        "question_file": str(question_file),
        "n_questions": n_questions,
        "scope": scope,
        "docs_dir": str(settings.docs_dir),
        "index_dir": str(settings.index_dir),
        "top_k": TOP_K,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_eval(
    settings: Settings,
    question_file: Path | None = None,
    baselines: bool = True,
    out_dir: Path | None = None,
    *,
    embeddings: Any = None,
    scope: str = "doc",
) -> int:
    """Run the eval set (and baselines), print the tables, write the reports; 0 on success.

    A ``.json`` question file is read as CMRC/SQuAD (:mod:`rag.eval_sets`): its paragraphs
    are written into ``settings.docs_dir`` first. ``scope`` is that of :func:`run_question`.
    ``embeddings`` lets a caller share an already loaded model (the tests do).
    """
    from rag.pipeline import Pipeline

    question_file = question_file or DEFAULT_QUESTIONS
    out_dir = out_dir or DEFAULT_OUT_DIR
    try:
        questions = _load_set(question_file, settings.docs_dir)
    except QuestionFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pipeline = Pipeline(settings, embeddings=embeddings)
    missing = sorted({q.doc for q in questions if q.doc} - set(pipeline.sources))
    if missing:
        print(
            f"error: {question_file} asks about {', '.join(missing[:3])}"
            f"{' …' if len(missing) > 3 else ''}, not in {settings.docs_dir}:"
            " pass --docs with the folder holding them",
            file=sys.stderr,
        )
        return 2
    results = run_pipeline(pipeline, questions, scope)
    report: dict[str, Any] = {
        "config": _config(settings, question_file, len(questions), scope),
        "summary": summarize(results),
        "ours_retrieval": ours_as_baseline(results).as_dict(),
        "baselines": [b.as_dict() for b in run_baselines(pipeline, questions)] if baselines else [],
        "questions": [asdict(r) | {"retrieved": r.retrieved[:TOP_K]} for r in results],
    }
    print(render_console(report))
    write_reports(report, out_dir)
    print(f"\nReports: {out_dir / 'report.md'}, report.json, report.png")
    return 0
