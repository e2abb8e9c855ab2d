"""OCR on a scanned copy of a report: speed, character error rate, and the eval against its text.

``python -m benchmarks.ocr_eval`` draws the seed report on A4 pages
(``benchmarks/scans.py``), saves them as an image-only PDF, reads it back with a
fresh OCR cache (so every page is really read), and runs the eval questions on
the scanned copy and on the text file, each alone in its index. ``--pages N``
reads only the first N pages (speed and CER only, no eval).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from benchmarks.scans import cer, paragraphs_of, render_pages, scanned_pdf
from rag.config import PROJECT_ROOT, Settings

SEED = PROJECT_ROOT / "seeds" / "000_12477834bc4718d4.txt"
METRICS = ("accuracy", "citation@1", "hit@1", "hit@5", "false_abstention_rate", "abstention_rate")


def read_scan(
    report: Path, work: Path, pages: int | None, cache: Path | None
) -> tuple[Path, dict]:
    """The scanned PDF of ``report`` and its OCR figures (time, pages/min, CER)."""
    from rag.loaders import extract_text

    paragraphs = paragraphs_of(report.read_text(encoding="utf-8"))
    scans = render_pages(paragraphs)
    if pages:
        scans = scans[:pages]
    folder = work / "scan"
    folder.mkdir()
    pdf = scanned_pdf(folder / f"{report.stem}.pdf", scans)
    os.environ["RAG_CACHE_DIR"] = str(cache or work / "cache")  # fresh: every page is read
    os.environ.setdefault("RAG_MAX_PARSE_SECONDS", "3600")
    wall, cpu = time.perf_counter(), time.process_time()
    extracted = extract_text(pdf)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    lines = extracted.ocr_lines or []
    figures = {
        "pages": len(scans),
        "seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "pages_per_min": round(60 * len(scans) / wall, 2),
        "characters": len("".join(extracted.text.split())),
        "lines": len(lines),
        "low_confidence_lines": sum(line.low_confidence for line in lines),
        "load_average": round(os.getloadavg()[0], 1),
    }
    if not pages:
        figures["cer"] = round(cer(extracted.text, paragraphs), 4)
        # The report mixes `,` and `，`; a glyph's width is not always visible on a scan.
        figures["cer_width_folded"] = round(
            cer(_fold(extracted.text), [_fold(p) for p in paragraphs]), 4
        )
    return pdf, figures


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def run_eval(docs: Path, index: Path, embeddings: object) -> dict:
    from rag.eval_metrics import summarize
    from rag.evaluation import DEFAULT_QUESTIONS, load_questions, run_pipeline
    from rag.pipeline import Pipeline

    settings = Settings().override(docs_dir=docs, index_dir=index, llm=None)
    pipeline = Pipeline(settings, embeddings=embeddings)
    summary = summarize(run_pipeline(pipeline, load_questions(DEFAULT_QUESTIONS)))
    return {key: summary[key] for key in METRICS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=SEED, help="a UTF-8 report to scan")
    parser.add_argument("--pages", type=int, help="read only the first N pages; no eval")
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    parser.add_argument(
        "--cache", type=Path, help="OCR cache to use (default: a fresh one; its speed is real)"
    )
    parser.add_argument("--scan-only", action="store_true", help="no eval of the text file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pdf, figures = read_scan(args.report, work, args.pages, args.cache)
        result: dict = {"report": args.report.name, "ocr": figures, "cached": bool(args.cache)}
        if not args.pages:
            from rag.embeddings import load_embeddings

            embeddings = load_embeddings(Settings().model)
            if not args.scan_only:
                text_docs = work / "text"
                text_docs.mkdir()
                shutil.copy(args.report, text_docs / args.report.name)
                result["eval_text"] = run_eval(text_docs, work / "index_text", embeddings)
            result["eval_scan"] = run_eval(pdf.parent, work / "index_scan", embeddings)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
