"""Start the chat UI: ``python app.py [--host HOST] [--port PORT] [--share]``.

Only wiring lives here (flags, logging, auth); the UI is ``rag.ui`` and the
answering is ``rag.pipeline``. Set ``RAG_AUTH=user:password`` to require a login.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence

log = logging.getLogger("rag.app")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Flags, with defaults from RAG_HOST / RAG_PORT so containers need no arguments."""
    parser = argparse.ArgumentParser(description="Cited question answering chat UI.")
    parser.add_argument(
        "--host",
        default=os.environ.get("RAG_HOST") or "127.0.0.1",
        help="interface to listen on (env RAG_HOST, default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("RAG_PORT") or 7860),
        help="port to listen on (env RAG_PORT, default 7860)",
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="also open a public gradio.live link (off unless asked for)",
    )
    return parser.parse_args(argv)


def auth_from_env(value: str | None) -> tuple[str, str] | None:
    """``RAG_AUTH="user:password"`` → credentials; unset → no login. Malformed values fail."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("RAG_AUTH must look like user:password")
    return user, password


def _warm_up() -> None:
    """Load the model and the index in the background so the page never waits on a question."""
    from rag.pipeline import default_pipeline

    try:
        default_pipeline()
    except Exception:
        log.exception("Loading the model or the index failed")


def main(argv: Sequence[str] | None = None) -> int:
    """Configure logging, build the UI and serve it until interrupted."""
    logging.basicConfig(
        level=os.environ.get("RAG_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "faiss.loader"):  # per-request and CPU-probe chatter
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parse_args(argv)
    try:
        auth = auth_from_env(os.environ.get("RAG_AUTH"))
    except ValueError as exc:
        log.error("%s", exc)
        return 2

    from rag.http_limits import launch_limits
    from rag.pipeline import default_pipeline
    from rag.ui import CSS, MAX_UPLOAD_BYTES, build_ui

    try:
        limits = launch_limits(MAX_UPLOAD_BYTES)  # body and upload caps, login back-off
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    demo = build_ui(default_pipeline)
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
    log.info(
        "Serving on http://%s:%d (share=%s, login %s)",
        args.host,
        args.port,
        args.share,
        "required" if auth else "off",
    )
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        auth_message="Log in to ask about the report." if auth else None,
        css=CSS,
        show_error=False,
        **limits,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
