"""The Milvus store against a real Milvus server, with authentication on.

The server is Milvus 2.3.5 standalone (etcd embedded, local storage), the binary the
``milvus`` package ships and starts. That is the package's last release, and older than the
store needs (BM25 functions came with Milvus 2.5); a newer server needs Docker, which does
not run here. So these tests check what a server decides: a refused token, and a server
too old for the schema. Each must be one line naming the setting and the fix, and leave
the documents, the FAISS index and the server's collections as they were.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from conftest import copy_seeds
from milvus import MilvusServer, MilvusServerConfig
from pymilvus import MilvusClient
from test_milvus_store import spec_for

from rag.cli import main
from rag.store.build import ensure_index
from rag.store.milvus_store import ENV_TOKEN, ENV_URI, MilvusStoreError, open_milvus_store

ROOT = "root:Milvus"  # the user a new Milvus server starts with
ETCD_PEER_PORT = 2380


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A Milvus standalone server on free ports; its URI."""
    with socket.socket() as probe:  # its embedded etcd's peer port is fixed
        if probe.connect_ex(("127.0.0.1", ETCD_PEER_PORT)) == 0:
            pytest.fail(f"port {ETCD_PEER_PORT} is taken: another Milvus or etcd runs here")
    config = MilvusServerConfig()
    config.set("authorization_enabled", True)
    milvus = MilvusServer(config)
    milvus.set_base_dir(str(tmp_path_factory.mktemp("milvus-server")))
    milvus.start()  # returns once it serves
    try:
        yield f"http://127.0.0.1:{milvus.listen_port}"
    finally:
        milvus.stop()


def snapshot(folder: Path) -> list[tuple]:
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    )


@pytest.fixture()
def folder(tmp_path: Path, embeddings) -> Path:  # noqa: ANN001
    """The seed and its FAISS index, which a Milvus failure must not touch."""
    copy_seeds(tmp_path / "docs")
    ensure_index(spec_for(tmp_path), embeddings)
    return tmp_path


def test_a_wrong_token_is_refused_by_the_server(server: str, folder: Path, embeddings) -> None:  # noqa: ANN001
    before = snapshot(folder)
    started = time.monotonic()
    with pytest.raises(MilvusStoreError, match=f"refused the credentials \\({ENV_TOKEN}\\)") as e:
        open_milvus_store(spec_for(folder), embeddings, uri=server, token="root:wrong")
    assert time.monotonic() - started < 10
    assert "\n" not in str(e.value) and "Fix:" in str(e.value)
    assert snapshot(folder) == before


def test_a_server_older_than_the_schema_needs_is_named_with_its_version(
    server: str,
    folder: Path,
    embeddings,  # noqa: ANN001
) -> None:
    before = snapshot(folder)
    with pytest.raises(MilvusStoreError, match=f"{ENV_URI}\\) is version v2\\.3\\.5") as e:
        open_milvus_store(spec_for(folder), embeddings, uri=server, token=ROOT)
    assert "needs Milvus 2.5 or later" in str(e.value) and "Fix:" in str(e.value)
    assert snapshot(folder) == before
    client = MilvusClient(uri=server, token=ROOT)
    try:
        assert client.list_collections() == []  # refused before creating anything
    finally:
        client.close()


def test_the_cli_says_the_same_in_one_line(
    server: str,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv(ENV_URI, server)
    monkeypatch.setenv(ENV_TOKEN, "root:wrong")
    before = snapshot(folder)
    argv = ["index", "--store", "milvus", "--docs", str(folder / "docs")]
    assert main([*argv, "--index-dir", str(folder / "index")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Milvus at") and ENV_TOKEN in err and "\n" not in err
    assert snapshot(folder) == before
