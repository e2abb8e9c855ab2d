"""Load test of the served app: ``make load`` (= ``python -m benchmarks.load``).

Starts ``app.py`` on a free loopback port, then runs ``--clients`` concurrent
``gradio_client`` clients (one thread each) for ``--seconds``, each asking varied
answerable questions through the ``/ask`` API. Every answer is checked against
*its own* question: it must contain that question's expected fact and match the
answer the same question got when asked alone (so answers crossing between
concurrent requests are caught, not just failures). Reports errors, cross-talk,
p50/p95 latency, throughput and the server's peak RSS (``VmHWM``), prints a table
and writes ``benchmarks/out/load.json`` (git-ignored).

The server inherits ``RAG_*`` settings from the environment (documents, index,
model); login is switched off for it, and it only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.app_process import app_env, make_client, running_app
from benchmarks.common import OUT_DIR, write_json
from benchmarks.memory import memory_mb
from rag.eval_metrics import percentile

log = logging.getLogger("benchmarks.load")

START_TIMEOUT_S = 600.0  # the first start may have to build the index
REQUEST_TIMEOUT_S = 60.0  # one answer, queue wait included
MAX_REQUESTS_PER_SECOND_PER_CLIENT = 50  # a hard cap on each client's loop
GENERIC_ERROR_MARK = "Sorry, something went wrong"  # rag.ui.GENERIC_ERROR, without importing gradio

# Answerable questions (Chinese and English) with one fact each answer must contain.
# The facts are distinct, so an answer delivered to the wrong request fails its check.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("全年开展了多少轮全员核酸检测？", "73"),
    ("新增数字经济企业多少家？", "128"),
    ("2023年地区生产总值预期增长多少？", "8%"),
    ("规上工业增加值去年涨了多少？", "6.8%"),
    ("疫情防控中有多少名干部下沉到一线？", "424"),
    ("2022年化解了多少信访件和重复件？", "120"),
    ("党的二十大期间执行的是多少小时值班值守制度？", "24小时"),
    ("全镇市场主体总量是多少户？", "14853"),
    ("梳理出了多少项“最多跑一次”事项？", "33项"),
    ("12345热线等平台全年处理了多少群众投诉？", "5300"),
    ("残疾人两项补贴一共发了多少钱？", "30.8万"),
    ("今年社零总额的增长目标是多少？", "10%"),
    ("2023年要推进全镇多少个区重大重点项目？", "23个"),
    ("How many rounds of COVID testing were carried out?", "73"),
    ("What was the COVID vaccination coverage rate?", "93.9%"),
    ("How many Party-member volunteers were sent down to the front line during the epidemic?",
     "300"),
    ("By how much did fixed-asset investment grow in 2022?", "4.7%"),
    ("How much living allowance was paid out to elderly people of advanced age?", "121万"),
    ("What growth target is set for industrial value added above designated size in 2023?",
     "8.5%"),
    ("How many digital economy companies are there in the town in total?", "305"),
    ("How much money went into building the town-level emergency supplies warehouse?", "30余万"),
)


@dataclass(frozen=True)
class Sample:
    """One request: who asked what, how long it took and how its answer checked out."""

    client: int
    question: int  # index into the question list
    latency_s: float
    outcome: str  # "ok", "error", "crosstalk" or "unstable"
    abstained: bool = False
    detail: str = ""


# --------------------------------------------------------------------------- the server


@contextmanager
def serve_app(env: Mapping[str, str] | None, log_path: Path) -> Iterator[tuple[str, int]]:
    """``app.py`` on a free loopback port, ready to answer; yields (url, pid), then stops it."""
    log.info("Starting app.py (log: %s)", log_path)
    with running_app(app_env(**(env or {})), log_path, START_TIMEOUT_S) as app:
        status = app.wait_ready(START_TIMEOUT_S - (time.time() - app.started))
        log.info("Server ready in %.1f s: %s", time.time() - app.started, status)
        yield app.url, app.proc.pid


# --------------------------------------------------------------------------- the clients


def reference_answers(client: Any, questions: Sequence[tuple[str, str]]) -> list[str]:
    """Each question asked alone, before the load: the answer it must get under load too."""
    texts = []
    wrong = []
    for question, fact in questions:
        result = client.submit(question, None, None, api_name="/ask").result(
            timeout=REQUEST_TIMEOUT_S
        )
        text = result.get("text", "") if isinstance(result, dict) else ""
        if fact not in text or result.get("abstained"):
            wrong.append(f"{question!r} -> {text[:80]!r} (expected {fact!r})")
        texts.append(text)
    if wrong:
        raise RuntimeError(
            "The question set no longer matches the answers, even without load:\n  "
            + "\n  ".join(wrong)
        )
    return texts


def classify(
    result: object, own: int, references: Sequence[str], questions: Sequence[tuple[str, str]]
) -> tuple[str, str]:
    """Check one ``/ask`` result against its own question: (outcome, detail).

    ``crosstalk``: the answer lacks its question's fact or is another question's answer;
    ``unstable``: right fact, but worded unlike the answer given without load.
    """
    if not isinstance(result, dict) or not isinstance(result.get("text"), str):
        return "error", f"malformed result: {str(result)[:120]}"
    text = result["text"]
    if GENERIC_ERROR_MARK in text:
        return "error", "the server answered with its generic error message"
    others = [i for i, ref in enumerate(references) if ref == text and i != own]
    if questions[own][1] not in text or (others and text != references[own]):
        got = f"the answer to {questions[others[0]][0]!r}" if others else repr(text[:80])
        return "crosstalk", f"{questions[own][0]!r} got {got}"
    if text != references[own]:
        return "unstable", f"{questions[own][0]!r}: {text[:80]!r}"
    return "ok", ""


def _client_loop(
    number: int,
    client: Any,
    references: Sequence[str],
    questions: Sequence[tuple[str, str]],
    start: threading.Barrier,
    seconds: float,
    out: list[Sample],
) -> None:
    """One client: ask, check, repeat until the time is up (or the request cap is reached)."""
    try:
        start.wait(timeout=REQUEST_TIMEOUT_S)
    except threading.BrokenBarrierError:
        return
    stop = time.monotonic() + seconds
    cap = max(1, int(seconds * MAX_REQUESTS_PER_SECOND_PER_CLIENT))
    for k in range(cap):
        if time.monotonic() >= stop:
            break
        own = (number * 7 + k) % len(questions)  # each client walks the list in its own order
        began = time.perf_counter()
        job = None
        try:
            job = client.submit(questions[own][0], None, None, api_name="/ask")
            result = job.result(timeout=REQUEST_TIMEOUT_S)
        except Exception as exc:  # any failure counts as an error, and the loop goes on
            if job is not None:
                job.cancel()
            out.append(
                Sample(number, own, time.perf_counter() - began, "error", False,
                       f"{type(exc).__name__}: {str(exc)[:120]}")
            )
            continue
        outcome, detail = classify(result, own, references, questions)
        out.append(
            Sample(number, own, time.perf_counter() - began, outcome,
                   bool(isinstance(result, dict) and result.get("abstained")), detail)
        )


def summarise(
    samples: Sequence[Sample], wall_s: float, questions: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Counts, latency percentiles (answered requests) and throughput over the load phase."""
    outcomes = Counter(s.outcome for s in samples)
    answered = sorted(s.latency_s for s in samples if s.outcome != "error")

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    per_question = [
        {
            "question": q,
            "fact": fact,
            "asked": sum(1 for s in samples if s.question == i),
            "failed": sum(1 for s in samples if s.question == i and s.outcome != "ok"),
        }
        for i, (q, fact) in enumerate(questions)
    ]
    return {
        "requests": len(samples),
        "ok": outcomes["ok"],
        "errors": outcomes["error"],
        "crosstalk": outcomes["crosstalk"],
        "unstable": outcomes["unstable"],
        "abstained": sum(1 for s in samples if s.abstained),
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
        "problems": [s.detail for s in samples if s.outcome != "ok"][:20],
    }


def run_load(
    seconds: float = 60.0,
    clients: int = 20,
    *,
    out: Path = OUT_DIR / "load.json",
    env: Mapping[str, str] | None = None,
    questions: Sequence[tuple[str, str]] = QUESTIONS,
) -> dict[str, Any]:
    """Serve the app, load it with ``clients`` concurrent clients for ``seconds``, report.

    ``env`` adds settings for the server (e.g. ``RAG_INDEX_DIR``). Writes the report
    as JSON to ``out`` and returns it.
    """
    if seconds <= 0 or clients < 1:
        raise ValueError("seconds must be positive and clients at least 1")
    from rag.config import ServerSettings

    out = Path(out)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with serve_app(env, out.with_name(out.stem + "-server.log")) as (url, pid):
        memory_ready = memory_mb(pid)
        pool = [make_client(url) for _ in range(clients)]
        try:
            references = reference_answers(pool[0], questions)
            samples_by_client: list[list[Sample]] = [[] for _ in range(clients)]
            barrier = threading.Barrier(clients + 1)
            threads = [
                threading.Thread(
                    target=_client_loop,
                    args=(i, pool[i], references, questions, barrier, seconds,
                          samples_by_client[i]),
                    name=f"load-client-{i}",
                    daemon=True,
                )
                for i in range(clients)
            ]
            for thread in threads:
                thread.start()
            log.info("%d clients asking for %.0f s", clients, seconds)
            barrier.wait(timeout=REQUEST_TIMEOUT_S)
            began = time.perf_counter()
            for thread in threads:  # every loop ends within seconds + one request timeout
                thread.join(timeout=max(0.0, seconds + REQUEST_TIMEOUT_S + 5 - (
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
        "questions": len(questions),
        "server_concurrency_limit": ServerSettings().concurrency,
        "wall_s": round(wall_s, 2),
        **summarise(samples, wall_s, questions),
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
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    log.info("Wrote %s", out)
    return report


# --------------------------------------------------------------------------- the CLI


def table(report: Mapping[str, Any]) -> str:
    """The report as a small plain-text table."""
    lat = report["latency_ms"]
    mem = report["server_memory_mib"]

    def fmt(value: object, unit: str = "") -> str:
        return "n/a" if value is None else f"{value}{unit}"

    rows = [
        ("clients × seconds", f"{report['clients']} × {report['seconds']:g} s"),
        ("server concurrency", str(report["server_concurrency_limit"])),
        ("requests", str(report["requests"])),
        ("errors", str(report["errors"])),
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
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if report["problems"]:
        lines.append("problems (first ones):")
        lines += [f"  {p}" for p in report["problems"][:10]]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (default 60)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "load.json", help="JSON report")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load test; exit 1 when any request failed or got another question's answer."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "gradio_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    report = run_load(args.seconds, args.clients, out=args.out)
    print(f"Load test against {report['url']} ({report['questions']} questions)")
    print(table(report))
    print(f"JSON: {args.out}")
    return 0 if report["errors"] == 0 and report["crosstalk"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
