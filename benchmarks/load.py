"""Soak test of the served app: ``make load`` (= ``python -m benchmarks.load``).

Starts ``app.py`` on a free loopback port over a private copy of the documents
(the seed report), then runs ``--clients`` concurrent ``gradio_client`` clients
(one thread each) for ``--seconds``, each asking the seed's eval questions
(``evals/questions.jsonl``) through the ``/ask`` API. Half-way through, one
document is uploaded exactly as the page uploads it (:mod:`benchmarks.page_upload`),
unrelated to every question: afterwards the planted fact must be found and every
other answer must stay right.

Every answer is checked against *its own* question: an answerable question's
expected facts must all be in the answer (``rag.eval_metrics.answer_correct``), an
unanswerable one must abstain, and the answer must not be another question's
(answers crossing between concurrent requests). Only questions the server gets
right when asked alone, before the load, are used; the others are eval failures
(``make eval``), listed in the report. The run FAILS (exit 1) on any error, wrong
answer, cross-talk, stuck client or failed upload. It reports the counts (also
before / during / after the upload), p50/p95 latency, throughput and the server's
peak RSS (``VmHWM``), prints a table and writes ``benchmarks/out/load.json``
(git-ignored).

The server inherits ``RAG_*`` settings from the environment (the model; the
documents are copied from ``RAG_DOCS_DIR``, the index is built afresh in a
temporary folder, so the upload never touches your documents); login is switched
off for it, and it only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.app_process import app_env, make_client, running_app
from benchmarks.common import OUT_DIR, QUESTIONS_FILE, write_json
from benchmarks.memory import memory_mb
from benchmarks.page_upload import upload_as_page
from rag.eval_metrics import answer_correct, percentile

log = logging.getLogger("benchmarks.load")

START_TIMEOUT_S = 600.0  # the first start may have to build the index
REQUEST_TIMEOUT_S = 60.0  # one answer, queue wait included
MAX_REQUESTS_PER_SECOND_PER_CLIENT = 50  # a hard cap on each client's loop
GENERIC_ERROR_MARK = "Sorry, something went wrong"  # rag.ui.GENERIC_ERROR, without importing gradio

UPLOAD_AT = 0.5  # the upload starts this far into the load (0 to 1)
# The planted upload: a fact about nothing any question asks. It takes over the English
# COVID example ("How many rounds of COVID testing…" answered "4,646"): see README.
PLANTED_NAME = "load_test_upload.txt"
PLANTED_TEXT = "负载测试文档。全年新建了 4646 个负载测试灯塔。\n"
PLANTED_QUESTION = ("全年新建了多少个负载测试灯塔？", "4646")
# The seed's eval set, plus the example questions the page and the README show.
EXAMPLE_QUESTIONS_FILE = Path(__file__).with_name("load_questions.jsonl")
DEFAULT_QUESTION_FILES = (QUESTIONS_FILE, EXAMPLE_QUESTIONS_FILE)


@dataclass(frozen=True)
class KnownQuestion:
    """A question with a known right answer: facts that must all appear, or none (abstain)."""

    id: str
    question: str
    facts: list[list[str]]  # each fact: its alternative spellings; empty = unanswerable
    source: str | None = None  # the one document it is asked of, if the set says so

    @property
    def answerable(self) -> bool:
        return bool(self.facts)

    def is_right(self, text: str, abstained: bool) -> bool:
        if not self.answerable:
            return abstained
        return not abstained and answer_correct(text, self.facts)


def seed_questions(
    paths: Sequence[Path] = (QUESTIONS_FILE,), limit: int | None = None
) -> list[KnownQuestion]:
    """The questions of ``paths`` (eval JSON Lines), each question once; ``limit`` takes
    that many, spread over the list."""
    from rag.evaluation import load_questions

    questions: dict[str, KnownQuestion] = {}
    for path in paths:
        for q in load_questions(Path(path)):
            questions.setdefault(q.question, KnownQuestion(q.id, q.question, q.answers,
                                                           q.doc or None))
    chosen = list(questions.values())
    if limit is not None and 0 < limit < len(chosen):
        step = len(chosen) / limit
        chosen = [chosen[int(i * step)] for i in range(limit)]
    return chosen


@dataclass(frozen=True)
class Sample:
    """One request: who asked what, how long it took and how its answer checked out."""

    client: int
    question: int  # index into the question list
    latency_s: float
    outcome: str  # "ok", "error", "wrong", "crosstalk" or "unstable"
    abstained: bool = False
    detail: str = ""
    phase: str = "before"  # sent "before", "during" or "after" the upload


# --------------------------------------------------------------------------- the server


@contextmanager
def private_documents(env: Mapping[str, str] | None) -> Iterator[dict[str, str]]:
    """``env`` with ``RAG_DOCS_DIR`` / ``RAG_INDEX_DIR`` in a temporary folder.

    The documents are a copy of ``RAG_DOCS_DIR`` (default: the configured folder), so
    the upload never lands among yours; the index starts as a copy of the live build
    of ``RAG_INDEX_DIR`` (when there is one), so the server need not embed everything
    again, and the original is never touched.
    """
    from rag.config import Settings
    from rag.loaders import SUPPORTED_SUFFIXES
    from rag.store.layout import current_build

    env = dict(env or {})
    configured = Settings.from_env()
    source = Path(env.get("RAG_DOCS_DIR") or configured.documents.docs_dir)
    index_source = Path(env.get("RAG_INDEX_DIR") or configured.store.index_dir)
    with tempfile.TemporaryDirectory(prefix="rag-load-") as root:
        docs, index = Path(root) / "docs", Path(root) / "index"
        docs.mkdir()
        for path in sorted(source.iterdir()):
            if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                shutil.copy2(path, docs / path.name)
        try:
            live = current_build(index_source)
        except Exception:  # a damaged index there: the server builds its own
            live = None
        if live is not None and (live / "manifest.json").is_file():
            shutil.copytree(live, index / "builds" / live.name)
            (index / "CURRENT").write_text(live.name, encoding="utf-8")
        yield env | {"RAG_DOCS_DIR": str(docs), "RAG_INDEX_DIR": str(index)}


@contextmanager
def serve_app(env: Mapping[str, str] | None, log_path: Path) -> Iterator[tuple[str, int]]:
    """``app.py`` on a free loopback port, ready to answer; yields (url, pid), then stops it."""
    log.info("Starting app.py (log: %s)", log_path)
    with running_app(app_env(**(env or {})), log_path, START_TIMEOUT_S) as app:
        status = app.wait_ready(START_TIMEOUT_S - (time.time() - app.started))
        log.info("Server ready in %.1f s: %s", time.time() - app.started, status)
        yield app.url, app.proc.pid


# --------------------------------------------------------------------------- the clients


def ask(client: Any, question: str, source: str | None = None) -> Any:
    """One ``/ask`` request, waited for (cancelled when it fails or times out)."""
    job = client.submit(question, None, source, api_name="/ask")
    try:
        return job.result(timeout=REQUEST_TIMEOUT_S)
    except Exception:
        job.cancel()
        raise


def reference_answers(
    client: Any, questions: Sequence[KnownQuestion]
) -> tuple[list[str], list[bool]]:
    """Each question asked alone, before the load: its answer and whether that is right."""
    texts, right = [], []
    for q in questions:
        result = ask(client, q.question, q.source)
        text = result.get("text", "") if isinstance(result, dict) else ""
        texts.append(text)
        right.append(isinstance(result, dict) and q.is_right(text, bool(result.get("abstained"))))
    return texts, right


def classify(
    result: object, own: int, references: Sequence[str], questions: Sequence[KnownQuestion]
) -> tuple[str, str]:
    """Check one ``/ask`` result against its own question: (outcome, detail).

    ``crosstalk``: the answer is another question's answer; ``wrong``: it lacks its
    question's facts (or abstains when it should not, or answers when it should);
    ``unstable``: right, but worded unlike the answer given without load.
    """
    if not isinstance(result, dict) or not isinstance(result.get("text"), str):
        return "error", f"malformed result: {str(result)[:120]}"
    text = result["text"]
    if GENERIC_ERROR_MARK in text:
        return "error", "the server answered with its generic error message"
    q = questions[own]
    others = [i for i, ref in enumerate(references) if ref == text and i != own]
    if others and text != references[own]:
        return "crosstalk", f"{q.question!r} got the answer to {questions[others[0]].question!r}"
    if not q.is_right(text, bool(result.get("abstained"))):
        expected = " + ".join("/".join(f) for f in q.facts) if q.answerable else "an abstention"
        shown = " ".join(text.split())[:100]
        return "wrong", f"{q.id} {q.question!r} -> {shown!r} (expected {expected})"
    if text != references[own]:
        return "unstable", f"{q.id} {q.question!r}: {' '.join(text.split())[:80]!r}"
    return "ok", ""


class UploadClock:
    """When the upload started and ended (``time.monotonic``), for the samples' phases."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.finished: float | None = None

    def phase(self, sent: float, answered: float) -> str:
        """"before": answered before the upload began; "after": sent once it was done;
        "during": the request overlapped it (a queued request can be sent before the
        upload and answered after the swap)."""
        if self.started is None or answered < self.started:
            return "before"
        return "after" if self.finished is not None and sent >= self.finished else "during"


def _client_loop(
    number: int,
    client: Any,
    references: Sequence[str],
    questions: Sequence[KnownQuestion],
    start: threading.Barrier,
    seconds: float,
    out: list[Sample],
    clock: UploadClock,
) -> None:
    """One client: ask, check, repeat until the time is up (or the request cap is reached)."""
    try:
        start.wait(timeout=REQUEST_TIMEOUT_S)
    except threading.BrokenBarrierError:
        return
    stop = time.monotonic() + seconds
    cap = max(1, int(seconds * MAX_REQUESTS_PER_SECOND_PER_CLIENT))
    for k in range(cap):
        sent = time.monotonic()
        if sent >= stop:
            break
        own = (number * 7 + k) % len(questions)  # each client walks the list in its own order
        began = time.perf_counter()
        try:
            result = ask(client, questions[own].question, questions[own].source)
        except Exception as exc:  # any failure counts as an error, and the loop goes on
            out.append(
                Sample(number, own, time.perf_counter() - began, "error", False,
                       f"{type(exc).__name__}: {str(exc)[:120]}",
                       clock.phase(sent, time.monotonic()))
            )
            continue
        outcome, detail = classify(result, own, references, questions)
        out.append(
            Sample(number, own, time.perf_counter() - began, outcome,
                   bool(isinstance(result, dict) and result.get("abstained")), detail,
                   clock.phase(sent, time.monotonic()))
        )


def _upload_midway(
    url: str, folder: Path, start: threading.Barrier, delay_s: float, clock: UploadClock,
    out: dict[str, Any],
) -> None:
    """The planted upload ``delay_s`` into the load, then its own fact asked once."""
    planted = folder / PLANTED_NAME
    planted.write_text(PLANTED_TEXT, encoding="utf-8")
    try:
        start.wait(timeout=REQUEST_TIMEOUT_S)
    except threading.BrokenBarrierError:
        return
    time.sleep(delay_s)
    clock.started = time.monotonic()
    try:
        out["message"] = upload_as_page(url, planted, timeout_s=START_TIMEOUT_S)
    except Exception as exc:  # reported, and the run fails
        out["message"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    clock.finished = time.monotonic()
    out["seconds"] = round(clock.finished - clock.started, 2)
    out["at_s"] = round(delay_s, 1)
    out["ok"] = out["message"].startswith("Added ")
    client = make_client(url)
    try:
        result = ask(client, PLANTED_QUESTION[0])
        cited = [c.get("source") for c in result.get("citations", [])]
        out["planted_answer"] = " ".join(result.get("text", "").split())[:120]
        out["planted_found"] = (
            PLANTED_QUESTION[1] in result.get("text", "") and PLANTED_NAME in cited[:1]
        )
    except Exception as exc:
        out["planted_answer"] = f"{type(exc).__name__}: {str(exc)[:120]}"
        out["planted_found"] = False
    finally:
        client.close()


def summarise(
    samples: Sequence[Sample], wall_s: float, questions: Sequence[KnownQuestion]
) -> dict[str, Any]:
    """Counts, latency percentiles (answered requests) and throughput over the load phase."""
    outcomes = Counter(s.outcome for s in samples)
    answered = sorted(s.latency_s for s in samples if s.outcome != "error")

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    per_question = [
        {
            "id": q.id,
            "question": q.question,
            "asked": sum(1 for s in samples if s.question == i),
            "failed": sum(1 for s in samples if s.question == i and s.outcome != "ok"),
        }
        for i, q in enumerate(questions)
    ]
    by_phase = {
        phase: {
            "requests": sum(1 for s in samples if s.phase == phase),
            "questions": len({s.question for s in samples if s.phase == phase}),  # distinct
            **{kind: sum(1 for s in samples if s.phase == phase and s.outcome == kind)
               for kind in ("error", "wrong", "crosstalk", "unstable")},
        }
        for phase in ("before", "during", "after")
    }
    problems = [f"[{s.phase}] {s.outcome}: {s.detail}" for s in samples
                if s.outcome not in ("ok", "unstable")]
    return {
        "requests": len(samples),
        "ok": outcomes["ok"],
        "errors": outcomes["error"],
        "wrong": outcomes["wrong"],
        "crosstalk": outcomes["crosstalk"],
        "unstable": outcomes["unstable"],
        "abstained": sum(1 for s in samples if s.abstained),
        "by_phase": by_phase,
        "throughput_rps": round(len(answered) / wall_s, 2) if wall_s > 0 else 0.0,
        "latency_ms": {
            "p50": ms(percentile(answered, 50)),
            "p95": ms(percentile(answered, 95)),
            "p99": ms(percentile(answered, 99)),
            "max": ms(answered[-1] if answered else None),
            "mean": ms(statistics.fmean(answered) if answered else None),
        },
        "per_client_requests": dict(sorted(Counter(s.client for s in samples).items())),
        "per_question": per_question,
        "wrong_questions": sorted({questions[s.question].id for s in samples
                                   if s.outcome in ("wrong", "crosstalk")}),
        "problems": list(dict.fromkeys(problems))[:30],  # distinct ones, in order
        "unstable_examples": list(dict.fromkeys(
            s.detail for s in samples if s.outcome == "unstable"))[:10],
    }


def verdict(report: Mapping[str, Any]) -> list[str]:
    """Why the run failed (empty: it passed)."""
    reasons = [f"{report[key]} {label}" for key, label in (
        ("errors", "errors"), ("wrong", "wrong answers"), ("crosstalk", "answers cross-talked"))
        if report.get(key)]
    if report.get("stuck_clients"):
        reasons.append(f"{len(report['stuck_clients'])} clients stuck")
    if report.get("requests", 0) == 0:
        reasons.append("no request was answered")
    upload = report.get("upload")
    if upload is not None:
        if not upload.get("ok"):
            reasons.append(f"the upload failed: {upload.get('message', 'never started')}")
        elif not upload.get("planted_found"):
            reasons.append(f"the uploaded fact was not found: {upload.get('planted_answer')}")
    return reasons


def run_load(
    seconds: float = 60.0,
    clients: int = 30,
    *,
    out: Path = OUT_DIR / "load.json",
    env: Mapping[str, str] | None = None,
    questions: Sequence[KnownQuestion] | None = None,
    upload_at: float | None = UPLOAD_AT,
) -> dict[str, Any]:
    """Serve the app, load it with ``clients`` concurrent clients for ``seconds``, report.

    ``env`` adds settings for the server (e.g. ``RAG_EMBED_MODEL``); ``questions``
    default to the seed's eval set and the page's examples; ``upload_at`` (0 to 1,
    None for none) is when the planted document is uploaded. Writes the report as
    JSON to ``out`` and returns it.
    """
    if seconds <= 0 or clients < 1:
        raise ValueError("seconds must be positive and clients at least 1")
    if upload_at is not None and not 0 <= upload_at < 1:
        raise ValueError("upload_at must be in [0, 1) (or None for no upload)")
    from rag.config import ServerSettings

    asked = list(questions) if questions is not None else seed_questions(DEFAULT_QUESTION_FILES)
    out = Path(out)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    upload: dict[str, Any] = {}
    clock = UploadClock()
    server_log = out.with_name(out.stem + "-server.log")
    with private_documents(env) as server_env, serve_app(server_env, server_log) as (url, pid):
        memory_ready = memory_mb(pid)
        pool = [make_client(url) for _ in range(clients)]
        try:
            alone, right = reference_answers(pool[0], asked)
            used = [q for q, ok in zip(asked, right, strict=True) if ok]
            references = [text for text, ok in zip(alone, right, strict=True) if ok]
            if not used:
                raise RuntimeError(f"none of the {len(asked)} questions is answered right even "
                                   f"without load (see {out.stem}-server.log)")
            samples_by_client: list[list[Sample]] = [[] for _ in range(clients)]
            barrier = threading.Barrier(clients + 1 + (upload_at is not None))
            threads = [
                threading.Thread(
                    target=_client_loop,
                    args=(i, pool[i], references, used, barrier, seconds,
                          samples_by_client[i], clock),
                    name=f"load-client-{i}",
                    daemon=True,
                )
                for i in range(clients)
            ]
            if upload_at is not None:
                threads.append(threading.Thread(
                    target=_upload_midway,
                    args=(url, Path(server_env["RAG_DOCS_DIR"]).parent, barrier,
                          seconds * upload_at, clock, upload),
                    name="load-upload",
                    daemon=True,
                ))
            for thread in threads:
                thread.start()
            log.info("%d clients asking %d questions for %.0f s", clients, len(used), seconds)
            barrier.wait(timeout=REQUEST_TIMEOUT_S)
            began = time.perf_counter()
            for thread in threads:  # a client ends within seconds + one request, the upload
                # within its own time limit
                thread.join(timeout=max(0.0, seconds + START_TIMEOUT_S + 5 - (
                    time.perf_counter() - began)))
            wall_s = time.perf_counter() - began
            stuck = [t.name for t in threads if t.is_alive()]
        finally:
            for client in pool:
                client.close()
        memory_end = memory_mb(pid)
    samples = [s for per_client in samples_by_client for s in per_client]
    report = {
        "benchmark": "load",
        "started_at": started_at,
        "url": url,
        "seconds": seconds,
        "clients": clients,
        "questions": len(used),
        "questions_asked_alone": len(asked),
        "questions_wrong_alone": [q.id for q, ok in zip(asked, right, strict=True) if not ok],
        "server_concurrency_limit": ServerSettings().concurrency,
        "wall_s": round(wall_s, 2),
        **summarise(samples, wall_s, used),
        "upload": upload if upload_at is not None else None,  # {}: it never ran
        "stuck_clients": stuck,
        "server_memory_mib": {
            "rss_when_ready": memory_ready["rss_mb"],
            "rss_at_end": memory_end["rss_mb"],
            "peak_rss": memory_end["peak_rss_mb"],
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    report["failures"] = verdict(report)
    report["passed"] = not report["failures"]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    log.info("Wrote %s", out)
    return report


# --------------------------------------------------------------------------- the CLI


def table(report: Mapping[str, Any]) -> str:
    """The report as a small plain-text table, ending with PASSED or FAILED and why."""
    lat = report["latency_ms"]
    mem = report["server_memory_mib"]
    phases = report.get("by_phase") or {}
    upload = report.get("upload")

    def fmt(value: object, unit: str = "") -> str:
        return "n/a" if value is None else f"{value}{unit}"

    def per_phase(kind: str) -> str:
        return ", ".join(f"{p} {v[kind]}" for p, v in phases.items() if v.get("requests"))

    def with_phases(total: object, kind: str) -> str:
        return f"{total} ({per_phase(kind)})" if per_phase(kind) else str(total)

    rows = [
        ("clients × seconds", f"{report['clients']} × {report['seconds']:g} s"),
        ("server concurrency", str(report["server_concurrency_limit"])),
        ("questions", f"{report['questions']} (of {report.get('questions_asked_alone', '?')}: "
                      f"{len(report.get('questions_wrong_alone', []))} wrong even alone, "
                      "left out)"),
        ("requests", with_phases(report["requests"], "requests")),
        ("questions asked", per_phase("questions") or "n/a"),
        ("errors", with_phases(report["errors"], "error")),
        ("wrong answers", with_phases(report.get("wrong", 0), "wrong")),
        ("cross-talk", str(report["crosstalk"])),
        ("unstable wording", str(report["unstable"])),
        ("abstained", str(report["abstained"])),
        ("throughput", f"{report['throughput_rps']} req/s"),
        ("latency p50", fmt(lat["p50"], " ms")),
        ("latency p95", fmt(lat["p95"], " ms")),
        ("latency p99", fmt(lat["p99"], " ms")),
        ("latency max", fmt(lat["max"], " ms")),
        ("server RSS when ready", fmt(mem["rss_when_ready"], " MiB")),
        ("server peak RSS (VmHWM)", fmt(mem["peak_rss"], " MiB")),
    ]
    if upload:
        rows.append(("upload", f"at {upload.get('at_s')} s, {upload.get('seconds')} s: "
                               f"{upload.get('message', '')[:60]}"))
        rows.append(("uploaded fact found", "yes" if upload.get("planted_found") else
                     f"no: {upload.get('planted_answer')}"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if report["problems"]:
        lines.append("problems (first ones):")
        lines += [f"  {p}" for p in report["problems"][:10]]
    failures = report.get("failures", [])
    lines.append("FAILED: " + "; ".join(failures) if failures else "PASSED")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (default 60)")
    parser.add_argument("--clients", type=int, default=30, help="concurrent clients (default 30)")
    parser.add_argument("--questions", type=Path, action="append",
                        help="question set, JSON Lines as evals/questions.jsonl; repeatable "
                             "(default: evals/questions.jsonl and benchmarks/load_questions.jsonl)")
    parser.add_argument("--no-upload", action="store_true", help="no upload during the load")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "load.json", help="JSON report")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 1 on any error, wrong answer, cross-talk or failed upload."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "gradio_client", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    report = run_load(args.seconds, args.clients, out=args.out,
                      questions=seed_questions(args.questions or DEFAULT_QUESTION_FILES),
                      upload_at=None if args.no_upload else UPLOAD_AT)
    print(f"Load test against {report['url']} ({report['questions']} questions)")
    print(table(report))
    print(f"JSON: {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
