"""Command line: ``rag index|ask|chat|eval|serve|add|remove|list`` (also ``python -m rag``).

A thin shell over the same core the chat UI uses: settings from the environment,
overridden by the flags; every command calls one function of the package.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rag.config import Settings
from rag.types import Answer, Citation

EXAMPLES = """examples:
  rag ask "全年开展了多少轮全员核酸检测？"
  rag ask "How many rounds of COVID testing were carried out?" --source report.txt
  rag chat < questions.txt
  rag index --rebuild
  rag add ~/reports/2023.pdf
  rag serve --port 8080
"""


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


def _page_bars():  # noqa: ANN202 - a rag.ocr.PageReport
    """A ``report(name, done, total)`` callback: one tqdm bar on stderr per file OCR reads.

    A bar is cleared when its file is read: pages taken from the OCR cache (each
    re-index reads them again, in a fraction of a second) leave no trace.
    """
    from tqdm import tqdm

    bar: tqdm | None = None

    def update(name: str, done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total, desc=f"OCR {name}", unit="page", file=sys.stderr, leave=False,
                mininterval=0,  # pages come seconds apart: show every one
            )
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            bar = None

    return update


def where(citation: Citation) -> str:
    """Where a person finds the quote: ``file p.N`` for a PDF, ``file:line`` otherwise."""
    if citation.page is not None:
        return f"{citation.source} p.{citation.page}"
    return f"{citation.source}:{citation.line}"


def format_answer(answer: Answer) -> str:
    """An answer as the terminal shows it: the text, then each source with title and place."""
    lines = [answer.text]
    if answer.citations:
        lines.append("\nClosest passages:" if answer.abstained else "\nSources:")
    for n, c in enumerate(answer.citations, 1):
        title = f"{c.title} · " if c.title and c.title != c.source else ""
        place = " · ".join(p for p in (c.section, c.period) if p)
        section = f"  ({place})" if place else ""
        quote = c.quote.replace("\n", "\n    ")  # a list of one item to a line, indented
        lines.append(f"[{n}] {title}{where(c)}{section}\n    {quote}")
    return "\n".join(lines)


class UnknownSourceError(ValueError):
    """``--source`` names no indexed document; the message lists those that exist."""


def _check_source(pipeline, source: str | None) -> None:  # noqa: ANN001 - a Pipeline
    if source is not None and source not in pipeline.sources:
        known = "\n".join(
            f"  {name}  ({pipeline.titles.get(name, name)})" for name in pipeline.sources
        )
        raise UnknownSourceError(
            f"no document named {source!r}; the documents are:\n{known or '  (none)'}"
        )


def _settings(args: argparse.Namespace) -> Settings:
    flags = {
        "embed_model": args.model,
        "docs_dir": args.docs,
        "index_dir": args.index_dir,
        "store": args.store,
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "share": getattr(args, "share", None) or None,
    }
    return Settings.from_env().override(**{k: v for k, v in flags.items() if v is not None})


def _holder(settings: Settings, progress: bool = False):  # noqa: ANN202
    from rag.pipeline import Pipeline, PipelineHolder

    bar = _progress_bar("Embedding") if progress else None
    return PipelineHolder(lambda: Pipeline(settings, bar))


def _cmd_index(args: argparse.Namespace) -> int:
    from rag.embeddings import load_embeddings
    from rag.ocr import reporting_pages
    from rag.store import open_store

    settings = _settings(args)
    embeddings = load_embeddings(settings.model)
    with reporting_pages(_page_bars()):
        store = open_store(settings, embeddings, _progress_bar("Embedding"), rebuild=args.rebuild)
    for item in store.skipped:
        print(f"skipped {item.name}: {item.reason}")
    if args.rebuild:
        print(f"Index built: {store.location}")
    print(f"Index ready: {len(store.chunks)} chunks from {len(store.texts)} documents.")
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline

    pipeline = Pipeline(_settings(args), _progress_bar("Embedding"))  # a bar only if it builds
    _check_source(pipeline, args.source)
    print(format_answer(pipeline.query(args.question, source=args.source)))
    return 0


def _cmd_chat(args: argparse.Namespace) -> int:
    """Questions from stdin, one a line, answered by one loaded pipeline; follow-ups in context."""
    from rag.pipeline import Pipeline

    interactive = sys.stdin.isatty()
    if interactive:
        print("Loading… (type a question; 'exit' or Ctrl-D to leave)", file=sys.stderr)
    pipeline = Pipeline(_settings(args), _progress_bar("Embedding"))
    _check_source(pipeline, args.source)
    history: list[str] = []
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        question = line.strip()
        if question.lower() in ("exit", "quit"):
            break
        if not question:
            continue
        answer = pipeline.query(question, history=history, source=args.source)
        print(format_answer(answer) + "\n", flush=True)
        if answer.citations:
            history = [*history, question][-20:]
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.from_feedback is not None:
        return _drafts_from_feedback(args.from_feedback, args.out)
    from rag.evaluation import run_eval

    return run_eval(
        _settings(args),
        question_file=args.set,
        baselines=not args.no_baselines,
        out_dir=args.out,
        scope=args.scope,
    )


def _drafts_from_feedback(path: Path, out: Path | None) -> int:
    import json

    from rag.feedback import draft_questions, read_feedback

    drafts = draft_questions(read_feedback(path))
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in drafts)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"{len(drafts)} draft questions written to {out}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from rag.server import configure_logging, serve

    settings = _settings(args)
    configure_logging(settings.server.log_level)
    return serve(settings)


def _cmd_add(args: argparse.Namespace) -> int:
    from rag.documents import add_document
    from rag.ocr import reporting_pages

    holder = _holder(_settings(args), progress=True)
    for path in args.files:
        with reporting_pages(_page_bars()):
            change = add_document(holder, path, _progress_bar("Embedding"), replace=args.replace)
        print(change.message)
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    from rag.documents import remove_document

    holder = _holder(_settings(args), progress=True)
    for name in args.names:
        print(remove_document(holder, name, _progress_bar("Embedding")).message)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from rag.documents import list_documents

    documents = list_documents(_holder(_settings(args), progress=True).get())
    for doc in documents:
        size = f"{doc.pages} pages" if doc.pages else f"{doc.lines} lines"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(doc.modified)) if doc.modified else ""
        print(f"{doc.name}\t{doc.title}\t{doc.kind}\t{size}\t{doc.chunks} chunks\t{when}")
    print(f"{len(documents)} documents")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line parser (flags override the RAG_* environment variables)."""
    top = argparse.ArgumentParser(
        prog="rag",
        description="Cited answers from Chinese government work reports.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The shared flags go before or after the command: `rag --docs D ask …` = `rag ask --docs D …`.
    shared = argparse.ArgumentParser(add_help=False)
    for parser_, default in ((top, None), (shared, argparse.SUPPRESS)):
        parser_.add_argument(
            "--model", default=default, help="embedding model: hub id or folder (RAG_EMBED_MODEL)"
        )
        parser_.add_argument("--docs", type=Path, default=default, help="documents (RAG_DOCS_DIR)")
        parser_.add_argument(
            "--index-dir", type=Path, default=default, help="index folder (RAG_INDEX_DIR)"
        )
        parser_.add_argument(
            "--store", choices=["faiss", "milvus"], default=default,
            help="index engine (RAG_STORE, default faiss)",
        )
        parser_.add_argument(
            "-v", "--verbose", action="store_true", default=default or False,
            help="log what happens",
        )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
            parents=[shared],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    index = command("index", "build or refresh the index", "rag index --rebuild")
    index.add_argument("--rebuild", action="store_true", help="build anew even if current")
    index.set_defaults(run=_cmd_index)
    ask = command("ask", "answer one question", 'rag ask "2023年地区生产总值预期增长多少？"')
    ask.add_argument("question")
    ask.add_argument("--source", help="limit the search to one document")
    ask.set_defaults(run=_cmd_ask)
    chat = command(
        "chat",
        "answer questions read from the terminal or stdin, one a line (loads once)",
        'printf "全年开展了多少轮全员核酸检测？\\n那疫苗接种呢？\\n" | rag chat',
    )
    chat.add_argument("--source", help="limit the search to one document")
    chat.set_defaults(run=_cmd_chat)
    evaluate = command("eval", "run the eval set with the baselines", "rag eval --no-baselines")
    evaluate.add_argument(
        "--set", type=Path, help="question file (JSON Lines, or a CMRC .json: needs --docs)"
    )
    evaluate.add_argument(
        "--scope",
        choices=["doc", "all"],
        default="doc",
        help="ask a question naming its document of that document alone (doc) or of all",
    )
    evaluate.add_argument("--no-baselines", action="store_true", help="only our pipeline")
    evaluate.add_argument(
        "--out", type=Path,
        help="report folder (default evals/reports); with --from-feedback, the drafts file",
    )
    evaluate.add_argument(
        "--from-feedback", type=Path, metavar="FILE",
        help="turn the 👎 answers of FILE (index/feedback.jsonl) into draft eval questions",
    )
    evaluate.set_defaults(run=_cmd_eval)
    serve = command("serve", "serve the chat UI", "rag serve --host 0.0.0.0 --port 8080")
    serve.add_argument("--host", help="interface to listen on (env RAG_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (env RAG_PORT, default 7860)")
    serve.add_argument(
        "--share", action="store_true", help="also open a public share link (off unless asked)"
    )
    serve.set_defaults(run=_cmd_serve)
    add = command("add", "add documents and index them", "rag add report.pdf")
    add.add_argument("files", type=Path, nargs="+", metavar="FILE")
    add.add_argument(
        "--replace",
        action="store_true",
        help="replace a different document of the same name (the old one is kept in .versions/)",
    )
    add.set_defaults(run=_cmd_add)
    remove = command("remove", "remove documents from the index", "rag remove report.pdf")
    remove.add_argument("names", nargs="+", metavar="NAME")
    remove.set_defaults(run=_cmd_remove)
    listing = command("list", "list the indexed documents", "rag list")
    listing.set_defaults(run=_cmd_list)
    return top


_CHANGES = {"add", "remove"}  # commands that put everything back when they fail


def main(argv: Sequence[str] | None = None) -> int:
    # The model's "Loading weights" bar is noise on every run; our own bars (indexing) stay.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    args = parser().parse_args(argv)
    if args.command != "serve":
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    from rag.abstention import AbstentionFileError
    from rag.documents import DocumentError
    from rag.embeddings import EmbeddingModelError
    from rag.feedback import FeedbackError
    from rag.query_adapter import AdapterFileError
    from rag.scorer import ScorerFileError
    from rag.store.base import IndexError_

    weights = (AbstentionFileError, AdapterFileError, ScorerFileError)  # each names `make train`
    try:
        return args.run(args)
    except (EmbeddingModelError, IndexError_, DocumentError, FeedbackError, ValueError,
            *weights) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug or the machine: one line, the traceback on request
        if args.verbose:
            logging.getLogger("rag.cli").error("rag %s failed", args.command, exc_info=True)
        changes = " (documents and index are as they were)" if args.command in _CHANGES else ""
        print(
            f"error: rag {args.command} failed unexpectedly ({type(exc).__name__}: {exc})"
            f"{changes}. Run with --verbose for the details.",
            file=sys.stderr,
        )
        return 1
