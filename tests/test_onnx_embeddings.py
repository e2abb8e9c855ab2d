"""The int8 ONNX engine for the bundled model gives the torch model's vectors, without torch."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.bundled_model import materialise
from rag.chunking import ChunkerSettings, split_sentences
from rag.config import PROJECT_ROOT, Settings
from rag.embeddings import QueryEmbeddings, load_embeddings, model_identity
from rag.onnx_embeddings import (
    ONNX_FILE,
    OnnxEmbeddings,
    OnnxModelError,
    load_onnx_embeddings,
    onnx_model,
)

CORPUS = PROJECT_ROOT / "evals" / "corpus"
ODD_TEXTS = [
    "  leading and  double  spaces\tand\ttabs\nand newlines  ",
    "全角字符：ＡＢＣ１２３，波浪号～和零宽\u200b字符",
    "emoji 😀 and symbols ★ ← →",
    "京东镇 digital economy 企业 increased to 305 家 in 2022.",
    "",
]


def _sentences(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [text[s.start : s.end] for s in split_sentences(text, ChunkerSettings())]


@pytest.fixture(scope="session")
def model_folder(settings: Settings) -> Path:
    return materialise(settings.model.cache_dir / "models")


@pytest.fixture(scope="module")
def embeddings(settings: Settings):  # noqa: ANN201 - the torch engine the parity is against
    return load_embeddings(replace(settings.model, backend="torch"))


@pytest.fixture(scope="session")
def onnx_embeddings(model_folder: Path) -> OnnxEmbeddings:
    return load_onnx_embeddings(model_folder)  # exported once per machine (about a minute)


@pytest.fixture(scope="session")
def parity_texts() -> list[str]:
    """Every other seed sentence and 60 sentences spread over the corpus reports (all of
    them and 200 corpus sentences are measured by benchmarks/onnx_parity.py)."""
    seed = [t for p in sorted((PROJECT_ROOT / "seeds").glob("*.txt")) for t in _sentences(p)]
    corpus = [t for p in sorted(CORPUS.glob("*.txt")) for t in _sentences(p)]
    step = len(corpus) / 60
    return seed[::2] + [corpus[int(i * step)] for i in range(60)]


def test_parity_with_the_torch_model(embeddings, onnx_embeddings, parity_texts) -> None:
    client = embeddings._client
    cosines = []
    for prompt in ("query", "passage"):
        ours = onnx_embeddings.embed(parity_texts, prompt)
        theirs = client.encode(parity_texts, prompt_name=prompt, normalize_embeddings=True)
        cosines.extend((ours * theirs).sum(axis=1))
    cosines = np.array(cosines)
    assert len(cosines) >= 250
    assert cosines.min() >= 0.99, cosines.min()
    assert cosines.mean() >= 0.995, cosines.mean()


def test_same_tokens_as_sentence_transformers(embeddings, onnx_embeddings, parity_texts) -> None:
    client = embeddings._client
    long_text = "全年开展73轮全员核酸检测,累计检测714万人次。" * 60  # past 512 tokens
    for text in [*parity_texts[::5], *ODD_TEXTS, long_text]:
        for prompt in ("query", "passage"):
            full = client.prompts[prompt] + text
            expected = client.tokenizer(full, truncation=True)["input_ids"]
            assert onnx_embeddings._tokenizer.encode(full).ids == expected, text[:40]
    assert len(onnx_embeddings._tokenizer.encode(long_text).ids) == 512


def test_prompts_and_batches(onnx_embeddings) -> None:
    """Query and passage prompts differ; a batch matches one-by-one (int8 activations are
    scaled per batch, so not to the bit); empty input is empty."""
    texts = ["开展了多少轮核酸检测？疫苗接种率是多少？", "开展了多少轮核酸检测", "GDP"]
    together = np.array(onnx_embeddings.embed_queries(texts))
    apart = np.array([onnx_embeddings.embed_query(t) for t in texts])
    assert together.shape == (3, 384)
    assert (together * apart).sum(axis=1).min() > 0.995
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    passage = np.array(onnx_embeddings.embed_documents(["GDP"])[0])
    assert float(apart[2] @ passage) < 0.9999
    assert onnx_embeddings.embed_documents([]) == []


def test_the_query_path_does_not_import_torch(onnx_embeddings, settings, tmp_path) -> None:
    """A fresh process answers a question on the ONNX engine with no torch import."""
    script = (
        "import sys\n"
        "from rag import query\n"
        "answer = query('全年开展了多少轮全员核酸检测？')\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules]\n"
        "print(repr(answer.text)); print('heavy:', heavy)\n"
    )
    env = os.environ | {
        "RAG_EMBED_BACKEND": "onnx",
        "RAG_EMBED_MODEL": "",
        "RAG_CACHE_DIR": str(settings.model.cache_dir),
        "RAG_DOCS_DIR": str(settings.documents.docs_dir),
        "RAG_INDEX_DIR": str(tmp_path / "index"),
        "RAG_LLM_BASE_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "heavy: []" in done.stdout, done.stdout
    assert "73轮" in done.stdout, done.stdout


def test_a_damaged_file_is_reported_with_its_name_and_the_fix(model_folder, tmp_path) -> None:
    broken = tmp_path / ONNX_FILE
    broken.write_bytes(b"\x08\x07not a model" * 100)
    with pytest.raises(OnnxModelError) as caught:
        OnnxEmbeddings(model_folder, broken)
    message = str(caught.value)
    assert str(broken) in message and "RAG_EMBED_BACKEND=torch" in message
    assert "Delete" in message and "\n" not in message


def test_a_truncated_file_is_rebuilt(onnx_embeddings, model_folder, tmp_path) -> None:
    """A crash mid-copy: the size no longer matches the stamp, so the file is exported anew."""
    folder = tmp_path / model_folder.name
    shutil.copytree(model_folder, folder)
    shutil.copytree(
        onnx_embeddings.onnx_file.parent, tmp_path / onnx_embeddings.onnx_file.parent.name
    )
    cached = onnx_model(folder)
    assert cached.parent.parent == tmp_path  # found complete, beside the copied folder
    size = cached.stat().st_size
    cached.write_bytes(cached.read_bytes()[:100_000])
    rebuilt = load_onnx_embeddings(folder)
    assert rebuilt.onnx_file == cached and cached.stat().st_size == size
    np.testing.assert_allclose(
        rebuilt.embed_query("核酸检测"), onnx_embeddings.embed_query("核酸检测"), atol=1e-6
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".building-")]


def test_backend_setting(settings, model_folder, caplog) -> None:
    with pytest.raises(ValueError, match="RAG_EMBED_BACKEND must be torch or onnx"):
        Settings.from_env({"RAG_EMBED_BACKEND": "tensorrt"})
    onnx = Settings.from_env({"RAG_EMBED_BACKEND": "onnx"}).model
    assert onnx.backend == "onnx"
    # An index of the other engine is stale.
    assert model_identity("bundled", "onnx") != model_identity("bundled", "torch")
    onnx = replace(onnx, cache_dir=settings.model.cache_dir)
    assert isinstance(load_embeddings(onnx), OnnxEmbeddings)
    local = replace(onnx, name=str(model_folder))
    with caplog.at_level(logging.INFO, logger="rag.embeddings"):
        assert isinstance(load_embeddings(local), QueryEmbeddings)  # not the bundled model
    assert "bundled model only" in caplog.text
