"""Reliability and security: crash-safe and serialised builds, hostile input, exposure.

* A build killed with SIGKILL half-way leaves the previous index live and loadable.
* Two ``rag index --rebuild`` processes on one index folder both succeed and leave one
  consistent live build.
* Hostile questions through the Python API and the HTTP API get a message, an answer
  or an abstention in bounded time, never an exception, a traceback or a server path.
  The input → result tables are printed (``pytest -s``).
* The app listens on loopback and opens no share link by default; with ``RAG_AUTH``
  set, the API refuses requests that have not logged in.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SEED, copy_seeds

from benchmarks.app_process import AppStartError, app_env, log_tail, running_app
from rag.config import PROJECT_ROOT, ModelSettings, Settings
from rag.embeddings import model_identity
from rag.http_limits import DEFAULT_MAX_REQUEST_BYTES
from rag.pipeline import Pipeline
from rag.store.base import CorruptIndexError, IndexSpec
from rag.store.build import build, load_live
from rag.store.layout import current_build, load

COVID = "全年开展了多少轮全员核酸检测？"
MODEL = model_identity("bundled", ModelSettings().backend)  # what the suite embeds with
SUBPROCESS_TIMEOUT_S = 300.0  # model load + build on a busy 2-core machine
ANSWER_BOUND_S = 10.0  # any single question, however hostile
EXTRA_REPORTS = 30  # makes a --rebuild embed for minutes: plenty of time to kill it


# --------------------------------------------------------------------------- helpers


def _rag_env(docs: Path, index_dir: Path) -> dict[str, str]:
    return app_env(
        RAG_DOCS_DIR=str(docs), RAG_INDEX_DIR=str(index_dir), RAG_EMBED_MODEL="bundled"
    )


def _write_shuffled_reports(docs: Path, count: int, seed_text: str, paragraphs: int = 0) -> None:
    """Reports made of the seed's paragraphs in another order (``paragraphs`` of them, or all)."""
    lines = [line for line in seed_text.splitlines() if line.strip()]
    for i in range(count):
        rng = random.Random(i)
        chosen = rng.sample(lines, paragraphs) if paragraphs else rng.sample(lines, len(lines))
        (docs / f"shuffled_{i:02d}.txt").write_text("\n".join(chosen) + "\n", encoding="utf-8")


def _copy_index(source: Path, target: Path) -> Path:
    """A private copy of a built index (the session's), so no test embeds the seed twice."""
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns(".lock", ".tmp-*", ".CURRENT-*")
    )
    return target


def _build_names(index_dir: Path) -> list[str]:
    return sorted(p.name for p in (index_dir / "builds").iterdir())


def _manifest(build_dir: Path) -> dict[str, Any]:
    return json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))


_PROGRESS = re.compile(r"(\d+)/(\d+) \[")


def _embedding_progress(stderr: str) -> tuple[int, int] | None:
    """The last ``done/total`` of the tqdm bar that ``rag index`` draws on stderr."""
    found = _PROGRESS.findall(stderr)
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def _drain(stream: Any, sink: list[str]) -> threading.Thread:
    """Read a pipe in the background so the child never blocks on a full pipe."""

    def run() -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):
            sink.append(chunk.decode("utf-8", errors="replace"))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _leaks(text: str) -> list[str]:
    """Signs of an internal error or of the server's file system in user-facing text."""
    marks = ["Traceback", 'File "', str(PROJECT_ROOT), "site-packages", "/tmp/", "/home/",
             "/root/", "/usr/", "Error:"]
    return [m for m in marks if m in text]


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def _print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    """input → (abstained, seconds, text prefix), for the closing note."""
    print(f"\n{title}")
    print(f"  {'input':40s} {'abstained':9s} {'s':>5s}  text")
    for label, abstained, seconds, text in rows:
        print(f"  {label:40s} {abstained:9s} {seconds:>5s}  {text}")


def _prefix(text: str, n: int = 70) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= n else flat[:n] + "…"


# --------------------------------------------------------------------------- crash safety


@pytest.fixture()
def built_index(pipeline: Pipeline, tmp_path: Path) -> Path:
    """A private index folder holding a complete earlier build of the seed report."""
    return _copy_index(pipeline.settings.store.index_dir, tmp_path / "index")


def test_a_build_killed_midway_leaves_the_previous_index_live(
    built_index: Path, tmp_path: Path, embeddings: Any, seed_text: str
) -> None:
    index_dir = built_index
    old_build = current_build(index_dir)
    assert old_build is not None
    old_manifest = _manifest(old_build)
    dimension = old_manifest["dimension"]
    old_chunks = len(load(old_build, dimension).chunks)

    docs = copy_seeds(tmp_path / "docs")
    _write_shuffled_reports(docs, EXTRA_REPORTS, seed_text)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "index", "--rebuild"],
        cwd=PROJECT_ROOT,
        env=_rag_env(docs, index_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    stderr: list[str] = []
    reader = _drain(proc.stderr, stderr)
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT_S
    try:
        while True:  # until it is writing a build or has embedded some texts, then kill
            if proc.poll() is not None:
                pytest.fail(f"the build ended before it could be killed:\n{''.join(stderr)}")
            partial = list((index_dir / "builds").glob(".tmp-*"))
            progress = _embedding_progress("".join(stderr))
            if partial or (progress and 0 < progress[0] < progress[1]):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no build progress within {SUBPROCESS_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    reader.join(timeout=5)
    assert proc.returncode == -signal.SIGKILL
    print(f"\nkilled the build at {progress} texts embedded, partial folders: {partial}")

    # The earlier build is still the live one, whole, and answers.
    assert (index_dir / "CURRENT").read_text(encoding="utf-8").strip() == old_build.name
    assert current_build(index_dir) == old_build
    assert [n for n in _build_names(index_dir) if not n.startswith(".")] == [old_build.name]
    assert len(load(old_build, dimension).chunks) == old_chunks
    seed_only = copy_seeds(tmp_path / "seed_only")  # what the earlier build was built from
    settings = Settings().override(embed_model="bundled", docs_dir=seed_only, index_dir=index_dir)
    answer = Pipeline(settings, embeddings=embeddings).query(COVID)
    assert "73" in answer.text and not answer.abstained
    assert current_build(index_dir) == old_build  # loaded as it was, not rebuilt

    # A kill while writing leaves a `.tmp-*` folder: never loaded, cleared by the next
    # build, and the lock of the killed process does not block that build.
    debris = index_dir / "builds" / ".tmp-killed-while-writing"
    debris.mkdir(exist_ok=True)
    (debris / "chunks.faiss").write_bytes(b"\x00" * 10)
    assert current_build(index_dir) == old_build
    finished = threading.Event()
    result: list[Path] = []

    def rebuild() -> None:
        result.append(build(IndexSpec(seed_only, index_dir, MODEL), embeddings)[0])
        finished.set()

    threading.Thread(target=rebuild, daemon=True).start()
    assert finished.wait(timeout=SUBPROCESS_TIMEOUT_S), "the next build waited on a dead lock"
    assert _build_names(index_dir) == [result[0].name]
    assert current_build(index_dir) == result[0]
    assert _manifest(result[0])["embedded"] == 0  # the earlier vectors were intact to reuse


def test_two_builds_at_once_leave_one_consistent_live_build(
    built_index: Path, tmp_path: Path, embeddings: Any, seed_text: str
) -> None:
    index_dir = built_index
    docs = copy_seeds(tmp_path / "docs")
    _write_shuffled_reports(docs, 1, seed_text, paragraphs=4)  # something new to embed
    logs = [tmp_path / f"build-{i}.log" for i in range(2)]
    procs = []
    for log_path in logs:
        with log_path.open("wb") as log_file:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "rag", "index", "--rebuild"],
                    cwd=PROJECT_ROOT,
                    env=_rag_env(docs, index_dir),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        codes = [p.wait(timeout=SUBPROCESS_TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    outputs = [log_tail(path, 15) for path in logs]
    assert codes == [0, 0], "\n---\n".join(outputs)
    built = [re.search(r"Index built: (\S+)", out) for out in outputs]
    assert all(built), outputs

    names = _build_names(index_dir)
    assert len(names) == 1 and not names[0].startswith("."), names  # no partial folders
    live = current_build(index_dir)
    assert live is not None and live.name == names[0]
    assert live.name in {Path(m.group(1)).name for m in built}  # one of the two, not a mix
    assert not list(index_dir.glob(".CURRENT-*"))
    manifest = _manifest(live)
    loaded = load(live, manifest["dimension"])
    assert len(loaded.chunks) == manifest["chunks"] > 0
    assert len(loaded.sentences) == manifest["sentences"]
    assert set(manifest["sources"]) == {p.name for p in docs.iterdir()}
    # The later build waited for the earlier one and reused its vectors: had they run
    # side by side, both would have embedded the new report.
    assert manifest["embedded"] == 0

    settings = Settings().override(embed_model="bundled", docs_dir=docs, index_dir=index_dir)
    answer = Pipeline(settings, embeddings=embeddings).query(COVID)
    assert "73" in answer.text
    assert current_build(index_dir) == live  # consistent with the documents: no rebuild


def test_a_reader_whose_build_is_pruned_midway_loads_the_newer_live_build(
    built_index: Path
) -> None:
    """A reader takes no lock: a builder can make a newer build live and delete the one
    the reader is part-way through. That reader must load the newer build, not report
    damage (CI saw "chunks.faiss is unreadable" from exactly this race)."""
    index_dir = built_index
    live = current_build(index_dir)
    assert live is not None
    dimension = _manifest(live)["dimension"]
    pruned = live.with_name(live.name + "-pruned")
    shutil.copytree(live, pruned)
    (pruned / "chunks.faiss").write_bytes(b"")  # what a reader sees mid-rmtree
    assert load_live(index_dir, pruned, dimension).path == live
    # When the damaged build is the live one, the damage is real and reported.
    (index_dir / "CURRENT").write_text(pruned.name + "\n", encoding="utf-8")
    with pytest.raises(CorruptIndexError, match="chunks.faiss"):
        load_live(index_dir, pruned, dimension)


# --------------------------------------------------------------------------- hostile input

# (label, question, history, source, kind); kind "message": refused with a message and no
# passages; "answer:<fact>": a real question wrapped in noise, still answered; "any": a
# message, an answer or an abstention are all fine.
HOSTILE: list[tuple[str, str, list[str], str | None, str]] = [
    ("1 MiB string", "x" * 1_048_576, [], None, "message"),
    ("1 MiB of Chinese", ("核酸检测" * 262_144), [], None, "message"),
    ("NUL/control bytes around a question", "\x00\x07\x1b" + COVID + "\x7f\x00\x1f", [], None,
     "answer:73"),
    ("ANSI colour codes around a question", "\x1b[31m" + COVID + "\x1b[0m", [], None, "any"),
    ("only NUL/control bytes", "\x00\x01\x02\x1b\x7f\u200b" * 200, [], None, "message"),
    ("emoji only", "😀🎉🔥👍🏽🇨🇳", [], None, "message"),
    ("HTML/script", "<script>alert(1)</script>", [], None, "any"),
    ("HTML tag around a question", "<img src=x onerror=alert(1)>" + COVID, [], None, "answer:73"),
    ("SQL-like", "'; DROP TABLE chunks; --", [], None, "any"),
    ("format strings / JNDI", "{0.__class__} %s%n ${jndi:ldap://x/a}", [], None, "any"),
    ("Russian", "Сколько раундов тестирования провели?", [], None, "any"),
    ("Arabic", "كم عدد جولات الاختبار؟", [], None, "any"),
    ("Japanese", "全員PCR検査は何回行われましたか？", [], None, "any"),
    ("lone surrogate in a question", "全年开展了多少轮全员核酸检测\udcff？", [], None, "answer:73"),
    ("only lone surrogates", "\udcff\ud800\udfff", [], None, "message"),
    ("only punctuation", "？！。，…!?.,;:'\"()[]", [], None, "message"),
    ("right-to-left override", "\u202e" + COVID + "\u202c", [], None, "answer:73"),
    ("source = ../../etc/passwd", COVID, [], "../../../etc/passwd", "any"),
    ("history of control bytes", "那疫苗接种呢？", ["\x00\x01\x02"], None, "any"),
]


def _check(label: str, kind: str, text: str, abstained: bool, citations: list, seconds: float
           ) -> None:
    assert isinstance(text, str) and text.strip(), label
    assert not _leaks(text), (label, _leaks(text))
    assert seconds < ANSWER_BOUND_S, (label, seconds)
    if kind == "message":
        assert abstained and not citations, (label, text)
    elif kind.startswith("answer:"):
        assert not abstained and kind.split(":", 1)[1] in text, (label, text)
    if not abstained:
        assert citations, (label, "an answer without a citation")


def test_hostile_questions_through_the_python_api(pipeline: Pipeline) -> None:
    rows = []
    for label, question, history, source, kind in HOSTILE:
        answer, seconds = _timed(lambda q=question, h=history, s=source: pipeline.query(
            q, history=h, source=s))
        rows.append((label, str(answer.abstained), f"{seconds:.2f}", _prefix(answer.text)))
        _check(label, kind, answer.text, answer.abstained, answer.citations, seconds)
        for c in answer.citations:
            assert not Path(c.source).is_absolute() and ".." not in c.source
    _print_table("Hostile input → Python API (rag.pipeline.Pipeline.query)", rows)


# Inputs that ask nothing: they must not come back as a confident answer.
NON_QUESTIONS = [
    pytest.param("😀🎉🔥", id="emoji"),
    pytest.param("？！。，…!?", id="punctuation"),
    pytest.param("\x00\x01\x02", id="control-bytes"),
    pytest.param("<script>alert(1)</script>", id="html-script"),
    pytest.param("'; DROP TABLE chunks; --", id="sql"),
]


@pytest.mark.parametrize("question", NON_QUESTIONS)
def test_a_non_question_is_not_answered(pipeline: Pipeline, question: str) -> None:
    answer = pipeline.query(question)
    assert answer.abstained, f"{question!r} was answered: {answer.text[:80]!r}"


class _TooMuchToEmbed(Exception):
    pass


def test_a_huge_earlier_question_does_not_make_a_follow_up_expensive(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``/ask`` anyone can send 20 such history items per request.

    The model is stopped from embedding more than a few questions' worth of text, so
    the failing case costs a fraction of a second instead of a minute.
    """
    limit = pipeline.settings.answering.max_question_chars
    cls = type(pipeline.embeddings)
    original = cls.embed_queries
    asked: list[int] = []

    def guarded(self: Any, texts: list[str]) -> list[list[float]]:
        asked.extend(len(text) for text in texts)
        if max(asked) > 4 * limit:
            raise _TooMuchToEmbed(max(asked))
        return original(self, texts)

    monkeypatch.setattr(cls, "embed_queries", guarded)
    huge = ("全年开展了多少轮全员核酸检测" * 80_000)[:1_048_576]
    started = time.perf_counter()
    try:
        answer = pipeline.query("那疫苗接种呢？", history=[huge])
    except _TooMuchToEmbed as exc:
        raise AssertionError(f"asked the model to embed {exc.args[0]} characters") from None
    assert time.perf_counter() - started < ANSWER_BOUND_S
    assert answer.text and max(asked) <= 4 * limit


def _ask_raw(base: str, payload: bytes) -> tuple[int, str, float]:
    """POST /gradio_api/call/ask with raw bytes, then read the event stream: (status, text, s)."""
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=ANSWER_BOUND_S * 3) as http:
        posted = http.post(
            "/gradio_api/call/ask", content=payload, headers={"content-type": "application/json"}
        )
        if posted.status_code != 200:
            return posted.status_code, posted.text, time.perf_counter() - started
        event_id = posted.json()["event_id"]
        stream = http.get(f"/gradio_api/call/ask/{event_id}")
        return stream.status_code, stream.text, time.perf_counter() - started


def _event_result(stream: str) -> tuple[str, Any]:
    """The last event of a Gradio SSE response: (event name, decoded data)."""
    events = re.findall(r"^event: (\w+)\ndata: (.*)$", stream, flags=re.M)
    assert events, stream[:300]
    name, data = events[-1]
    try:
        return name, json.loads(data)
    except ValueError:
        return name, data


@pytest.fixture(scope="module")
def api_client(ui_server: str):  # noqa: ANN201 - gradio_client.Client
    from gradio_client import Client

    with pytest.MonkeyPatch.context() as patch:  # no start-up telemetry from the client
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        patch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        client = Client(ui_server, verbose=False)
    yield client
    client.close()


def test_hostile_questions_through_the_http_api(api_client: Any, ui_server: str) -> None:
    rows = []
    for label, question, history, source, kind in HOSTILE:
        if any("\ud800" <= ch <= "\udfff" for ch in question):
            continue  # not encodable as UTF-8 by the client; sent raw below
        if len(question.encode()) >= DEFAULT_MAX_REQUEST_BYTES:  # refused at the door (413)
            started = time.perf_counter()
            with pytest.raises(Exception, match="413"):  # whatever the client raises, it says 413
                api_client.predict(question, history or None, source, api_name="/ask")
            seconds = time.perf_counter() - started
            assert seconds < ANSWER_BOUND_S, (label, seconds)
            rows.append((label, "-", f"{seconds:.2f}", "HTTP 413 (RAG_MAX_REQUEST_BYTES)"))
            continue
        result, seconds = _timed(lambda q=question, h=history, s=source: api_client.predict(
            q, h or None, s, api_name="/ask"))
        assert isinstance(result, dict) and {"text", "abstained", "citations"} <= set(result)
        rows.append((label, str(result["abstained"]), f"{seconds:.2f}", _prefix(result["text"])))
        _check(label, kind, result["text"], result["abstained"], result["citations"], seconds)
        if label.startswith("source ="):
            assert "no document of that name" in result["text"]

    # Raw requests no well-behaved client sends.
    raw: list[tuple[str, bytes, str]] = [
        ("lone surrogate (JSON \\udcff escape)",
         json.dumps({"data": ["全年开展了多少轮全员核酸检测\udcff？", None, None]}).encode(),
         "answer:73"),
        ("only lone surrogates (JSON escapes)",
         b'{"data": ["\\udcff\\ud800", null, null]}', "message"),
        ("invalid UTF-8 bytes in the body", b'{"data": ["\xff\xfe\xc3\x28", null, null]}',
         "rejected"),
        ("not JSON at all", b"\x00\x01 DROP TABLE", "rejected"),
        ("question is a number", b'{"data": [12345, null, null]}', "any"),
        ("question is a list", b'{"data": [["a", "b"], null, null]}', "any"),
        ("history is an object", b'{"data": ["' + COVID.encode() + b'", {"a": 1}, null]}',
         "answer:73"),
        ("missing arguments", b'{"data": []}', "any"),
    ]
    for label, payload, kind in raw:
        status, body, seconds = _ask_raw(ui_server, payload)
        assert seconds < ANSWER_BOUND_S, (label, seconds)
        assert not _leaks(body), (label, _leaks(body), body[:300])
        if kind == "rejected":
            assert 400 <= status < 500, (label, status, body[:200])
            rows.append((label, "-", f"{seconds:.2f}", f"HTTP {status} {_prefix(body, 55)}"))
            continue
        assert status == 200, (label, status, body[:200])
        event, data = _event_result(body)
        if event != "complete":  # refused by Gradio itself: fine if it says nothing inside
            assert kind == "any", (label, event, data)
            rows.append((label, "-", f"{seconds:.2f}", f"event {event}: {_prefix(data, 50)}"))
            continue
        result = data[0]
        rows.append((label, str(result["abstained"]), f"{seconds:.2f}", _prefix(result["text"])))
        _check(label, kind, result["text"], result["abstained"], result["citations"], seconds)
    _print_table("Hostile input → HTTP API (/ask via gradio_client, then raw HTTP)", rows)

    # The server is still well after all that.
    assert "73" in api_client.predict(COVID, api_name="/ask")["text"]


def test_raw_http_ask_takes_the_question_alone(ui_server: str) -> None:
    """``history`` and ``source`` have defaults: a raw call may leave them out (it once
    failed "needed: 3, got: 1")."""
    for payload in ({"data": [COVID]}, {"data": [COVID, None]}, {"data": [COVID, [], None]}):
        status, body, _ = _ask_raw(ui_server, json.dumps(payload).encode())
        assert status == 200, (payload, body[:200])
        event, data = _event_result(body)
        assert event == "complete", (payload, event, data)
        result = data[0]
        assert "73" in result["text"] and not result["abstained"] and result["citations"]
    # A follow-up with the history given, the source left out.
    status, body, _ = _ask_raw(ui_server, json.dumps(
        {"data": ["那疫苗接种呢？", [COVID]]}).encode())
    event, data = _event_result(body)
    assert event == "complete" and any(f in data[0]["text"] for f in ("11万", "93.9%")), data
    # The one-shot route too, with a trailing slash.
    with httpx.Client(base_url=ui_server, timeout=ANSWER_BOUND_S * 3) as http:
        response = http.post("/gradio_api/run/ask/", json={"data": [COVID]})
    assert response.status_code == 200, response.text[:200]
    assert "73" in response.json()["data"][0]["text"]
    # Without the question there is nothing to default: Gradio's own refusal, no answer.
    event, _ = _event_result(_ask_raw(ui_server, b'{"data": []}')[1])
    assert event == "error"


def test_only_missing_trailing_defaults_are_filled_in() -> None:
    from rag.api_defaults import padded, signature_defaults
    from rag.ui import ChatHandlers

    assert signature_defaults(ChatHandlers.ask) == (1, (None, None))
    assert json.loads(padded(b'{"data": ["q"], "session_hash": "s"}', 1, (None, None))) == {
        "data": ["q", None, None], "session_hash": "s"}
    assert json.loads(padded(b'{"data": ["q", ["h"]]}', 1, (None, None))) == {
        "data": ["q", ["h"], None]}
    for untouched in (b'{"data": ["q", null, null]}', b'{"data": []}', b'{"data": "q"}',
                      b"[1]", b"\xff not json"):
        assert padded(untouched, 1, (None, None)) is None, untouched


# --------------------------------------------------------------------------- exposure


def test_defaults_listen_on_loopback_without_share_or_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rag.ui
    from rag.cli import main
    from rag.pipeline import PipelineHolder

    for name in ("RAG_HOST", "RAG_PORT", "RAG_AUTH"):
        monkeypatch.delenv(name, raising=False)
    server = Settings.from_env().server
    assert (server.host, server.port, server.share) == ("127.0.0.1", 7860, False)

    launched: list[dict[str, Any]] = []

    class FakeDemo:
        def launch(self, **kwargs: Any) -> None:
            launched.append(kwargs)

        def block_thread(self) -> None:  # serving until interrupted: at once here
            pass

    monkeypatch.setattr(rag.ui, "build_ui", lambda settings, holder: FakeDemo())
    monkeypatch.setattr(PipelineHolder, "warm_up_in_background", lambda self: None)  # no model
    assert main(["serve"]) == 0
    assert launched[-1]["server_name"] == "127.0.0.1"
    assert launched[-1]["share"] is False and launched[-1]["auth"] is None
    assert launched[-1]["show_error"] is False  # errors go to the log, not the page

    monkeypatch.setenv("RAG_AUTH", "user:pw")
    assert main(["serve"]) == 0
    assert launched[-1]["auth"] == ("user", "pw")
    for malformed in ("user", "user:", ":pw"):
        monkeypatch.setenv("RAG_AUTH", malformed)
        assert main(["serve"]) == 2  # refuses to start rather than run without the login
    assert len(launched) == 2


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """``app.py`` with RAG_AUTH set and no --host flag; its model never loads (not needed)."""
    env = app_env(
        RAG_AUTH="user:pw",
        RAG_EMBED_MODEL=str(tmp_path_factory.mktemp("no_model") / "missing"),
        HF_HUB_OFFLINE="1",  # so the missing model fails at once, without the network
    )
    env.pop("RAG_HOST", None)
    log_path = tmp_path_factory.mktemp("auth_server") / "app.log"
    try:
        with running_app(env, log_path, timeout_s=120, host=None) as app:
            yield app.url.rstrip("/"), app.port, log_path
    except AppStartError as exc:
        pytest.fail(str(exc))


def test_with_rag_auth_the_api_refuses_anonymous_requests(
    auth_server: tuple[str, int, Path], seed_text: str
) -> None:
    url, port, log_path = auth_server
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only, no IPv6 either
    started = log_tail(log_path, 200)
    assert "share=False" in started and "gradio.live" not in started

    with httpx.Client(base_url=url, timeout=10) as anonymous:
        for path in ("/config", "/gradio_api/info", "/gradio_api/openapi.json",
                     "/gradio_api/queue/data?session_hash=x", "/gradio_api/call/ask/x",
                     "/gradio_api/file=" + str(SEED)):
            response = anonymous.get(path)
            assert response.status_code == 401, (path, response.status_code)
        body = {"data": [COVID, None, None]}
        for path in ("/gradio_api/call/ask", "/gradio_api/run/ask", "/gradio_api/call/v2/ask"):
            response = anonymous.post(path, json=body)
            assert response.status_code == 401, (path, response.status_code)
        upload = anonymous.post("/gradio_api/upload", files={"files": ("r.txt", b"x")})
        assert upload.status_code == 401  # no anonymous writes to the server either
        response = anonymous.post(
            "/gradio_api/queue/join",
            json={"data": [COVID, None, None], "fn_index": 0, "session_hash": "x"},
        )
        assert response.status_code == 401
        page = anonymous.get("/")  # the login page, and nothing of the report
        assert page.status_code == 200 and '"auth_required":true' in page.text.replace(" ", "")
        assert "73轮" not in page.text and seed_text.splitlines()[8][:20] not in page.text
        assert anonymous.post("/login", data={"username": "user", "password": "nope"}
                              ).status_code == 400

    from gradio_client import Client

    with pytest.MonkeyPatch.context() as patch, pytest.raises(Exception):  # noqa: B017
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        Client(url, verbose=False)  # whatever it raises, it must not connect

    with httpx.Client(base_url=url, timeout=10) as user:  # the same requests, logged in
        assert user.post("/login", data={"username": "user", "password": "pw"}
                         ).status_code == 200
        info = user.get("/gradio_api/info")
        assert info.status_code == 200 and "/ask" in info.text
        assert user.get("/config").status_code == 200
