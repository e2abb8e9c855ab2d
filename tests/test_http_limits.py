"""Limits at the door of the real app: body caps before login and parsing, uploads, login back-off.

One ``app.py`` with ``RAG_AUTH`` set serves every test here; its model is never
loaded (nothing here asks a question), so it starts in seconds. The attacks are
the red-team's: 100 MB "questions" (declared and streamed), six at once,
anonymous and logged in; an upload over the 20 MB limit; ten wrong passwords.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.app_process import AppStartError, app_env, log_tail, running_app
from rag.config import DocumentSettings
from rag.http_limits import DEFAULT_MAX_REQUEST_BYTES
from rag.login_throttle import LoginThrottle

QUESTION = b'{"data": ["x"], "fn_index": 0, "session_hash": "x"}'
MB = 1 << 20


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, int, Path]]:
    """(url, port, pid, Gradio temp folder) of ``app.py`` with a login and no model."""
    root = tmp_path_factory.mktemp("door")
    env = app_env(
        RAG_AUTH="user:pw",
        RAG_EMBED_MODEL=str(root / "no_model"),
        HF_HUB_OFFLINE="1",
        GRADIO_TEMP_DIR=str(root / "gradio_tmp"),
    )
    try:
        with running_app(env, root / "app.log", timeout_s=120) as app:
            # The warm-up imports the model's libraries, then fails: wait for that, so the
            # memory measured below is the requests' alone.
            deadline = time.time() + 180
            while "Loading the model or the index failed" not in log_tail(app.log_path, 400):
                assert time.time() < deadline and app.proc.poll() is None, log_tail(app.log_path)
                time.sleep(0.5)
            yield app.url.rstrip("/"), app.port, app.proc.pid, root / "gradio_tmp"
    except AppStartError as exc:
        pytest.fail(str(exc))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _raw_post(
    port: int, path: str, headers: dict[str, str], parts: Iterator[bytes] | None = None
) -> tuple[int, float]:
    """POST with only the headers (and ``parts``, if any); (status, seconds to the answer)."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode())
        for part in parts or ():
            try:
                s.sendall(part)
            except OSError:  # the server may stop listening once it has answered
                break
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), time.perf_counter() - started


def _chunked(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes in HTTP chunked encoding, then the final empty chunk."""
    block = f"{piece:x}\r\n".encode() + b"a" * piece + b"\r\n"
    for _ in range(total // piece):
        yield block
    yield b"0\r\n\r\n"


def _login(client: httpx.Client, password: str) -> httpx.Response:
    return client.post("/login", data={"username": "user", "password": password})


def _cookie_header(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def test_oversized_bodies_are_refused_before_login_and_parsing(
    door: tuple[str, int, int, Path],
) -> None:
    url, port, pid, _ = door
    with httpx.Client(base_url=url, timeout=30) as user:
        assert _login(user, "pw").status_code == 200
        cookie = _cookie_header(user)
        rss_before = _rss_mb(pid)
        rows = []
        for who, extra in (("anonymous", {}), ("logged in", {"Cookie": cookie})):
            for path, kind in (
                ("/gradio_api/queue/join", "application/json"),
                ("/gradio_api/call/ask", "application/json"),
                ("/login", "application/x-www-form-urlencoded"),
            ):
                # 100 MB declared: refused at once, without the body ever being sent.
                declared = {"Content-Type": kind, "Content-Length": str(100 * MB)}
                status, seconds = _raw_post(port, path, declared | extra)
                rows.append((who, path, "declared 100 MB", status, seconds))
                # 8 MB streamed without a length: cut off once past the limit.
                streamed = {"Content-Type": kind, "Transfer-Encoding": "chunked"}
                status2, seconds2 = _raw_post(port, path, streamed | extra, _chunked(8 * MB))
                rows.append((who, path, "streamed 8 MB", status2, seconds2))
        for row in rows:
            print(f"{row[0]:<10} {row[1]:<24} {row[2]:<16} HTTP {row[3]} {row[4]:.2f} s")
        for row in rows:
            assert row[3] == 413 and row[4] < 5.0, row

        # Six 100 MB questions at once (the red-team's 6.5 GB): each refused, memory flat.
        def big(_: int) -> int:
            return user.post("/gradio_api/call/ask", content=b"x" * (100 * MB)).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(big, range(6))) == [413] * 6
        assert time.perf_counter() - started < 30.0
        grown = _rss_mb(pid) - rss_before
        print(f"server RSS grew {grown:.0f} MB over the oversized requests")
        assert grown < 100, grown

        # Bodies within the limit still reach Gradio, and the login still guards it.
        small = b'{"data": ["' + b"x" * (DEFAULT_MAX_REQUEST_BYTES // 2) + b'"]}'
        assert httpx.post(url + "/gradio_api/call/ask", content=small).status_code == 401
        assert user.post("/gradio_api/call/ask", content=small).status_code != 413
        assert user.get("/gradio_api/info").status_code == 200  # the server is still responsive


def test_uploads_over_the_limit_are_refused_and_leave_no_temp_file(
    door: tuple[str, int, int, Path],
) -> None:
    url, _, _, temp_dir = door

    def stored() -> set[Path]:
        return {p for p in temp_dir.rglob("*") if p.is_file()} if temp_dir.exists() else set()

    before = stored()
    with httpx.Client(base_url=url, timeout=60) as user:
        assert _login(user, "pw").status_code == 200
        limit = DocumentSettings().max_upload_bytes
        for size in (limit + 1, 25 * MB):  # Gradio's own check, then ours
            files = {"files": ("report.pdf", b"%" * size, "application/pdf")}
            response = user.post("/gradio_api/upload", files=files)
            assert response.status_code == 413, (size, response.status_code, response.text[:200])
        assert stored() == before  # nothing of the refused uploads is kept
        fine = user.post("/gradio_api/upload", files={"files": ("r.txt", b"report", "text/plain")})
        assert fine.status_code == 200, fine.text


def test_no_schema_without_login(door: tuple[str, int, int, Path]) -> None:
    url = door[0]
    with httpx.Client(base_url=url, timeout=10) as anonymous:
        assert anonymous.get("/openapi.json").status_code == 404  # FastAPI's own: off
        assert anonymous.get("/gradio_api/openapi.json").status_code == 401
        assert anonymous.get("/docs").status_code == 404
    with httpx.Client(base_url=url, timeout=10) as user:
        assert _login(user, "pw").status_code == 200
        assert user.get("/gradio_api/openapi.json").status_code == 200


def test_failed_logins_back_off_and_a_correct_login_works_after(
    door: tuple[str, int, int, Path],
) -> None:
    url = door[0]
    with httpx.Client(base_url=url, timeout=10) as client:
        assert _login(client, "pw").status_code == 200  # a clean slate for this address
        started = time.perf_counter()
        statuses = [_login(client, f"guess{i}").status_code for i in range(10)]
        assert statuses == [400] * 5 + [429] * 5, statuses
        assert time.perf_counter() - started < 5.0  # refusals are quick, not slow to answer
        refused = _login(client, "pw")  # even the right password waits out the back-off
        assert refused.status_code == 429 and "try again" in refused.json()["detail"]
        time.sleep(int(refused.headers["retry-after"]) + 0.2)
        assert _login(client, "pw").status_code == 200
        assert _login(client, "wrong").status_code == 400  # the count started again

        # Guesses in parallel are no shortcut: one attempt at a time per address.
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(lambda i: _login(client, f"p{i}").status_code, range(24)))
        assert parallel.count(400) <= 4 and set(parallel) <= {400, 429}, parallel


def test_the_back_off_doubles_to_a_minute() -> None:
    throttle = LoginThrottle(app=None)  # type: ignore[arg-type]
    delays = [throttle.delay_after(n) for n in range(1, 14)]
    assert delays == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_the_app_launches_with_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.ui
    from rag.cli import main
    from rag.pipeline import PipelineHolder

    launched: list[dict[str, Any]] = []

    class FakeDemo:
        def launch(self, **kwargs: Any) -> None:
            launched.append(kwargs)

        def block_thread(self) -> None:  # serving until interrupted: at once here
            pass

    monkeypatch.setattr(rag.ui, "build_ui", lambda settings, holder: FakeDemo())
    monkeypatch.setattr(PipelineHolder, "warm_up_in_background", lambda self: None)
    monkeypatch.delenv("RAG_AUTH", raising=False)
    monkeypatch.setenv("RAG_MAX_REQUEST_BYTES", "2048")
    assert main(["serve"]) == 0
    kwargs = launched[-1]
    assert kwargs["max_file_size"] == DocumentSettings().max_upload_bytes
    body_limit = kwargs["app_kwargs"]["middleware"][0]
    assert body_limit.kwargs["max_bytes"] == 2048
    monkeypatch.setenv("RAG_MAX_REQUEST_BYTES", "1MB")
    assert main(["serve"]) == 2  # refuses to start with a limit it cannot read
    assert len(launched) == 1
