"""The served app: ``app.py`` start → HTTP up → ``/status`` ready, then a few ``/ask`` calls.

What a user waits for is the UI being ready to answer, not the first import, so the
real app is started in its own process and timed until its status says so; its
peak RSS after serving is the app's memory figure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.app_process import make_client, running_app
from benchmarks.common import TARGETS, rag_env, summary_ms
from benchmarks.memory import memory_mb

UI_TIMEOUT_S = 300.0


def bench_ui(docs_dir: Path, index_dir: Path, questions: Sequence[str], tmp: Path) -> dict:
    """``app.py`` on a free loopback port: start → HTTP up → /status ready; then serve."""
    env = rag_env(docs_dir, index_dir, RAG_LOG_LEVEL="INFO")
    with running_app(env, tmp / "app.log", UI_TIMEOUT_S) as app:
        status = app.wait_ready(UI_TIMEOUT_S - (time.time() - app.started))
        ready = time.time() - app.started
        client = make_client(app.url)
        api_s = []
        for q in questions:
            t0 = time.perf_counter()
            client.predict(q, api_name="/ask")
            api_s.append(time.perf_counter() - t0)
        memory = memory_mb(app.proc.pid)
    return {
        "seconds_to_http": round(app.seconds_to_http, 2),
        "seconds_to_ready": round(ready, 2),
        "target_s": TARGETS["cold_start_s"],
        "meets_target": ready <= TARGETS["cold_start_s"],
        "status": status,
        "api_ask": summary_ms(api_s),
        "app_memory_after_serving": memory,
    }
