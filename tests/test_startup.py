"""Start-up: the page is served before the model has loaded, and nothing asked meanwhile
is dropped.

``rag serve`` launches the page first and loads the model and the index in the
background; ``/status`` answers at once (``loading``) and a question asked during the
load waits, with a visible message in the chat, and is then answered.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.app_process import AppStartError, app_env, make_client, running_app
from rag.config import Settings
from rag.pipeline import Pipeline, PipelineHolder
from rag.ui import LOADING_ANSWER, ChatHandlers

COVID = "全年开展了多少轮全员核酸检测？"
START_TIMEOUT_S = 300.0  # a fresh process on a busy 2-core machine


def test_status_answers_while_loading_and_an_early_question_is_answered(
    settings: Settings, pipeline: Pipeline, tmp_path: Path  # noqa: ARG001 - index built
) -> None:
    env = app_env(
        RAG_DOCS_DIR=str(settings.documents.docs_dir),
        RAG_INDEX_DIR=str(settings.store.index_dir),
        RAG_EMBED_MODEL=settings.model.name,
    )
    try:
        with running_app(env, tmp_path / "app.log", START_TIMEOUT_S) as app:
            client = make_client(app.url)
            try:
                first = client.predict(api_name="/status")  # the page is up: the model is not
                asked = client.submit(COVID, api_name="/ask")  # asked during the load
                assert first == {"ready": False, "loading": True, "documents": 0,
                                 "chunks": 0, "sources": []}
                answer = asked.result(timeout=START_TIMEOUT_S)
                assert not answer["abstained"] and "73" in answer["text"], answer
                ready = app.wait_ready(START_TIMEOUT_S)
                assert ready["ready"] and ready["chunks"] > 0
            finally:
                client.close()
    except AppStartError as exc:
        pytest.fail(str(exc))


def test_a_chat_turn_during_the_load_says_so_then_answers(settings: Settings, embeddings: Any
                                                          ) -> None:
    release = threading.Event()

    def slow_load() -> Pipeline:  # the real pipeline, once the test lets the load finish
        release.wait(timeout=60)
        return Pipeline(settings, embeddings=embeddings)

    holder = PipelineHolder(slow_load)
    holder.warm_up_in_background()
    handlers = ChatHandlers(holder)
    assert handlers.status()["loading"]
    turn = handlers.respond(COVID, [], [], None)
    messages, _, _ = next(turn)
    assert "Loading the model" in messages[-1]["content"]
    assert LOADING_ANSWER.split("…")[0] in messages[-1]["content"]
    time.sleep(0.2)
    release.set()
    *_, (messages, _, _) = turn
    assert "73" in messages[-1]["content"]
    assert handlers.status()["ready"]
