"""PDF, Word and HTML parsing in a child process, with a memory cap and a wall-time limit.

A hostile file can make a parser allocate gigabytes or loop for minutes; in a
child process that costs only the child. The child caps its own address space
(``resource.setrlimit(RLIMIT_AS)``) before it reads anything, and the parent
kills it when the time is up, so the server stays up and other requests keep
being answered (the parent waits without holding the GIL). A slow parse (OCR,
seconds a page) sends ``(done, total)`` messages before its result, on the same
pipe, so the caller can show its progress.

Children come from a fork server (a small clean process started once, with the
parsers preloaded), never from a fork of the server itself with its threads and
model; where there is no fork server (Windows), they are spawned.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from rag.limits import IngestLimits
from rag.loaders import ExtractedText, UnreadableError, parse_rich
from rag.ocr import Progress

try:
    import resource
except ImportError:  # Windows: no address-space cap, the timeout still holds
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_PRELOAD = ["rag.loaders", "pypdf", "docx"]  # imported once by the fork server
_STOP_S = 5.0  # to reap a child that has been killed
_context_lock = threading.Lock()
_context: Any = None


def parse_isolated(
    suffix: str, data: bytes, limits: IngestLimits, progress: Progress | None = None
) -> ExtractedText:
    """:func:`rag.loaders.parse_rich` in a child process; the same result or
    :class:`UnreadableError` (also for a child over its memory or time limit).
    ``progress(done, total)`` is called here as OCR reads each page there."""
    return run_isolated(parse_rich, (suffix, data), limits, pass_limits=True, progress=progress)


def run_isolated(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    limits: IngestLimits,
    pass_limits: bool = False,
    progress: Progress | None = None,
) -> Any:
    """``target(*args)`` (plus ``limits`` when ``pass_limits``) in a child process.

    ``target`` must be importable by name. With ``progress``, it is also given a
    ``progress=`` callable, whose calls in the child call ``progress`` here. Raises
    :class:`UnreadableError` when the child is out of memory or time, dies, or raises.
    """
    ctx = _mp_context()
    receiver, sender = ctx.Pipe(duplex=False)
    call_args = (*args, limits) if pass_limits else args
    # The fork server was started with the environment of that moment: hand the child
    # today's settings (the OCR cache folder, the limits), which it reads from RAG_*.
    settings = {k: v for k, v in os.environ.items() if k.startswith("RAG_")}
    child = ctx.Process(
        target=_child_main,
        args=(sender, limits.parse_memory_mb, target, call_args, settings, progress is not None),
        name="rag-parse",
        daemon=True,
    )
    child.start()
    sender.close()  # the child holds the only writer: a dead child means EOF here
    deadline = time.monotonic() + limits.max_parse_seconds
    try:
        while True:
            if not receiver.poll(max(0.0, deadline - time.monotonic())):
                log.warning("A parser ran over %g s; stopped it", limits.max_parse_seconds)
                raise UnreadableError(limits.exceeded("seconds to read", "max_parse_seconds"))
            try:
                kind, value = receiver.recv()
            except EOFError:
                child.join(_STOP_S)
                log.warning("A parser died with exit code %s", child.exitcode)
                raise UnreadableError(
                    f"the parser stopped (exit code {child.exitcode}), most likely out of "
                    f"memory ({_memory_hint(limits)})"
                ) from None
            if kind != "progress":
                break
            if progress is not None:
                progress(*value)
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(_STOP_S)
    if kind == "ok":
        return value
    if kind == "unreadable":
        raise UnreadableError(value)
    if kind == "memory":
        raise UnreadableError(limits.exceeded("MB of memory to read", "parse_memory_mb"))
    raise UnreadableError(f"the parser failed ({value})")


def _memory_hint(limits: IngestLimits) -> str:
    return f"limit {IngestLimits.ENV['parse_memory_mb']}={limits.parse_memory_mb}"


def _mp_context() -> Any:
    """The fork-server context (started once, parsers preloaded), else spawn."""
    global _context
    with _context_lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                _context = multiprocessing.get_context("forkserver")
                _context.set_forkserver_preload(_PRELOAD)
            else:
                _context = multiprocessing.get_context("spawn")
        return _context


def _child_main(
    conn: Connection,
    memory_mb: int,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    settings: dict[str, str],
    report: bool = False,
) -> None:
    """Cap this process's memory, run ``target`` and send back ``(kind, value)``; with
    ``report``, ``("progress", (done, total))`` messages before it."""
    for name in [k for k in os.environ if k.startswith("RAG_")]:
        del os.environ[name]
    os.environ.update(settings)
    try:
        if resource is not None:
            cap = memory_mb * 2**20
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)  # never above what this process may have anyway
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        def progress(done: int, total: int) -> None:
            conn.send(("progress", (done, total)))

        extra = {"progress": progress} if report else {}
        result: tuple[str, Any] = ("ok", target(*args, **extra))
    except UnreadableError as exc:
        result = ("unreadable", str(exc))
    except MemoryError:
        result = ("memory", "")
    except Exception as exc:  # whatever the parser raised, the parent gets one line
        result = ("error", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory", ""))
    finally:
        conn.close()
