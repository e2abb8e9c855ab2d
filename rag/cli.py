"""Command line: ``python -m rag index | ask | eval``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rag.config import Settings
from rag.types import Citation


def _progress_bar(description: str):  # noqa: ANN202 - a tqdm callback
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=description, unit="text", file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def where(citation: Citation) -> str:
    """Where a person finds the quote: ``file p.N`` for a PDF, ``file:line`` otherwise."""
    if citation.page is not None:
        return f"{citation.source} p.{citation.page}"
    return f"{citation.source}:{citation.line}"


def _settings(args: argparse.Namespace) -> Settings:
    return Settings().with_overrides(
        embed_model=args.model, docs_dir=args.docs, index_dir=args.index_dir
    )


def _cmd_index(args: argparse.Namespace) -> int:
    from rag.embeddings import load_embeddings, model_identity
    from rag.index_store import build

    settings = _settings(args)
    embeddings = load_embeddings(settings)
    if not args.rebuild:
        from rag.index_store import ensure_index

        index = ensure_index(
            settings.docs_dir,
            settings.index_dir,
            embeddings,
            model_identity(settings.embed_model),
            progress=_progress_bar("Embedding"),
        )
        for item in index.skipped:
            print(f"skipped {item.name}: {item.reason}")
        print(f"Index ready: {len(index.chunks)} chunks from {len(index.texts)} documents.")
        return 0
    path, skipped = build(
        settings.docs_dir,
        settings.index_dir,
        embeddings,
        model_identity(settings.embed_model),
        progress=_progress_bar("Embedding"),
    )
    for item in skipped:
        print(f"skipped {item.name}: {item.reason}")
    print(f"Index built: {path}")
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline

    answer = Pipeline(_settings(args)).query(args.question, source=args.source)
    print(answer.text)
    if answer.citations:
        print("\nClosest passages:" if answer.abstained else "\nSources:")
    for n, c in enumerate(answer.citations, 1):
        print(f"[{n}] {where(c)}  ({c.section})\n    {c.quote}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluation import run_eval

    return run_eval(
        _settings(args),
        question_file=args.set,
        baselines=not args.no_baselines,
        out_dir=args.out,
        scope=args.scope,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag", description=__doc__)
    parser.add_argument("--model", help="embedding model: hub id or folder (env RAG_EMBED_MODEL)")
    parser.add_argument("--docs", type=Path, help="documents folder (env RAG_DOCS_DIR)")
    parser.add_argument("--index-dir", type=Path, help="index folder (env RAG_INDEX_DIR)")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", help="build or refresh the index")
    index.add_argument("--rebuild", action="store_true", help="build anew even if current")
    index.set_defaults(run=_cmd_index)
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--source", help="limit the search to one document")
    ask.set_defaults(run=_cmd_ask)
    evaluate = commands.add_parser("eval", help="run the eval set with the baselines")
    evaluate.add_argument(
        "--set", type=Path, help="question file (JSON Lines, or a CMRC .json: needs --docs)"
    )
    evaluate.add_argument(
        "--scope",
        choices=["doc", "all"],
        default="doc",
        help="ask a question naming its document of that document alone (doc) or of all",
    )
    evaluate.add_argument("--no-baselines", action="store_true")
    evaluate.add_argument("--out", type=Path, help="report folder (default evals/reports)")
    evaluate.set_defaults(run=_cmd_eval)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from rag.embeddings import EmbeddingModelError
    from rag.index_store import IndexError_

    try:
        return args.run(args)
    except (EmbeddingModelError, IndexError_) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
