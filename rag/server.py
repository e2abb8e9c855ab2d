"""Serving the chat UI (``rag serve``, ``app.py``): logging, login, warm-up, launch.

Only wiring lives here; the page is :mod:`rag.ui` and the answering is
:mod:`rag.pipeline`. Set ``RAG_AUTH=user:password`` to require a login.
"""

from __future__ import annotations

import logging

from rag.config import Settings

log = logging.getLogger("rag.app")


def configure_logging(level: str) -> None:
    """One format for the whole app; per-request and CPU-probe chatter kept out."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def serve(settings: Settings) -> int:
    """Build the UI, serve it, then load the pipeline in the background until interrupted.

    The page comes first: loading the model would slow the server's own start (both
    want the CPU), and a question asked meanwhile waits with a "loading" message.
    """
    from starlette.middleware import Middleware

    from rag.api_defaults import ApiDefaults
    from rag.http_limits import launch_limits
    from rag.pipeline import default_holder
    from rag.ui import CSS, HEAD, ChatHandlers, build_ui

    server = settings.server
    limits = launch_limits(settings.documents.max_upload_bytes)  # body caps, login back-off
    # Inside the body cap: raw HTTP may send /ask the question alone.
    limits["app_kwargs"]["middleware"].append(
        Middleware(ApiDefaults, endpoints={"ask": ChatHandlers.ask})
    )
    holder = default_holder()
    demo = build_ui(settings, holder)
    log.info(
        "Serving on http://%s:%d (share=%s, login %s)",
        server.host,
        server.port,
        server.share,
        "required" if server.auth else "off",
    )
    demo.launch(
        server_name=server.host,
        server_port=server.port,
        share=server.share,
        auth=server.auth,
        auth_message="Log in to ask about the report." if server.auth else None,
        css=CSS,
        head=HEAD,
        show_error=False,
        prevent_thread_lock=True,
        **limits,
    )
    holder.warm_up_in_background()
    demo.block_thread()
    return 0
