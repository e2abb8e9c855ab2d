"""The bundled model on ONNX Runtime with int8 weights: the same vectors, without torch.

Why: the model is most of the start-up (importing torch and sentence-transformers)
and nearly all of an index build. The converted model folder is exported once
with ``torch.onnx.export`` and quantised with ``onnxruntime.quantization``; the
file is cached beside the folder, and from then on a process embeds with
ONNX Runtime and the ``tokenizers`` library alone.

The encoding mirrors what sentence-transformers does with the same folder: the
prompts of ``config_sentence_transformers.json``, the tokenizer of
``tokenizer.json`` truncated at ``max_seq_length``, then the pooling of
``1_Pooling/config.json`` and the L2 normalisation that ``modules.json`` lists.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

_VERSION = "1"  # bump when the exported file changes
_MARKER = "rag-onnx-model.json"
ONNX_FILE = "model-int8.onnx"
_OPSET = 17
_BATCH = 32  # texts per forward pass, as sentence-transformers' default


class OnnxModelError(RuntimeError):
    """The ONNX model cannot be built or loaded; the message names the file and the fix."""


@dataclass(frozen=True)
class EncoderConfig:
    """What sentence-transformers reads from the model folder to encode a text."""

    prompts: dict[str, str]
    max_length: int
    pooling: str  # "mean" or "cls"
    normalize: bool
    pad_token: str


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OnnxModelError(
            f"Cannot read {path}: {exc}. Delete {path.parent} so that it is rebuilt."
        ) from exc


def encoder_config(folder: Path) -> EncoderConfig:
    """Read prompts, truncation, pooling and normalisation from a sentence-transformers folder."""
    modules = {m["type"].rsplit(".", 1)[-1]: m["path"] for m in _read_json(folder / "modules.json")}
    pooling = _read_json(folder / modules.get("Pooling", "1_Pooling") / "config.json")
    flags = [m for m in ("mean", "cls") if pooling.get(f"pooling_mode_{m}_tokens")]
    mode = pooling.get("pooling_mode") or (flags[0] if len(flags) == 1 else None)
    names = list(modules)
    supported = names[:2] == ["Transformer", "Pooling"] and set(names[2:]) <= {"Normalize"}
    if not supported or mode not in ("mean", "cls"):
        raise OnnxModelError(
            f"{folder}: the ONNX backend runs a Transformer with mean or CLS pooling (then "
            "Normalize) only; set RAG_EMBED_BACKEND=torch for this model."
        )
    st_config = _read_json(folder / "config_sentence_transformers.json")
    max_length = _read_json(folder / "sentence_bert_config.json").get("max_seq_length")
    pad = _read_json(folder / "tokenizer_config.json").get("pad_token")
    return EncoderConfig(
        prompts=dict(st_config.get("prompts", {})),
        max_length=int(max_length or 512),
        pooling=mode,
        normalize="Normalize" in names,
        pad_token=str(pad or "<pad>"),
    )


# --- Building the file, once -------------------------------------------------------------


def _source_stamp(model_folder: Path) -> dict[str, int]:
    """Sizes of the folder's weight files: a rebuilt or replaced folder re-exports."""
    return {p.name: p.stat().st_size for p in sorted(model_folder.glob("*.safetensors"))}


def _is_complete(out_dir: Path, model_folder: Path) -> bool:
    try:
        marker = json.loads((out_dir / _MARKER).read_text(encoding="utf-8"))
        size = (out_dir / ONNX_FILE).stat().st_size
    except (OSError, ValueError):
        return False
    expected = {"version": _VERSION, "source": _source_stamp(model_folder), "size": size}
    return {k: marker.get(k) for k in expected} == expected


def _export(model_folder: Path, fp32_file: Path) -> None:
    """``last_hidden_state`` of the encoder for ``input_ids`` and ``attention_mask``."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_folder), attn_implementation="eager").eval()

    class _Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.tensor([[0, 100, 200, 2], [0, 300, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation notes about a fixed graph
        # The TorchScript exporter needs only `onnx`; the dynamo one would add onnxscript.
        torch.onnx.export(
            _Encoder(),
            (ids, mask),
            str(fp32_file),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=_OPSET,
            dynamo=False,
        )


class _DropPreprocessAdvice(logging.Filter):
    """quantize_dynamic advises (on the root logger) a pre-pass this encoder does not need."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _quantise(fp32_file: Path, int8_file: Path) -> None:
    """Int8 weights, one scale per output channel, 7-bit so that the u8s8 kernels of
    CPUs without VNNI cannot saturate. Per-tensor scales missed parity (cosine 0.978)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    advice = _DropPreprocessAdvice()
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            str(fp32_file),
            str(int8_file),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
        )
    finally:
        logging.getLogger().removeFilter(advice)


def onnx_model(model_folder: Path) -> Path:
    """Return the int8 ONNX file for a converted model folder, exporting it once.

    It lives beside the folder with a version stamp; a missing, partial or
    outdated file is rebuilt in a temporary folder renamed into place, so an
    interrupted build never leaves a half-written model behind.
    """
    out_dir = model_folder.parent / f"{model_folder.name}-onnx-v{_VERSION}"
    if _is_complete(out_dir, model_folder):
        return out_dir / ONNX_FILE
    if out_dir.exists():
        log.warning("ONNX model cache %s is incomplete or outdated; rebuilding it", out_dir)
    log.info("Exporting the embedding model to ONNX int8 (once, about a minute)")
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=".building-onnx-", dir=model_folder.parent))
    try:
        _export(model_folder, tmp / "model-fp32.onnx")
        _quantise(tmp / "model-fp32.onnx", tmp / ONNX_FILE)
        (tmp / "model-fp32.onnx").unlink()
        marker = {
            "version": _VERSION,
            "source": _source_stamp(model_folder),
            "size": (tmp / ONNX_FILE).stat().st_size,
        }
        (tmp / _MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("ONNX model ready in %s (%.1f s)", out_dir, time.perf_counter() - started)
    return out_dir / ONNX_FILE


# --- Embedding ---------------------------------------------------------------------------


class OnnxEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over an ONNX encoder, encoding as sentence-transformers does."""

    def __init__(self, model_folder: Path, onnx_file: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.config = encoder_config(model_folder)
        self.onnx_file = onnx_file
        try:
            self._session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own untyped errors for a damaged file
            first_line = (str(exc).splitlines() or [""])[0]
            raise OnnxModelError(
                f"Cannot load the ONNX embedding model {onnx_file}: {first_line}. Delete "
                f"{onnx_file.parent} to rebuild it, or set RAG_EMBED_BACKEND=torch."
            ) from exc
        self.dimension = int(self._session.get_outputs()[0].shape[-1])
        self._tokenizer = Tokenizer.from_file(str(model_folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.config.max_length)
        pad_id = self._tokenizer.token_to_id(self.config.pad_token)
        self._tokenizer.enable_padding(pad_id=pad_id or 0, pad_token=self.config.pad_token)

    def _encode(self, texts: list[str], prompt_name: str) -> np.ndarray:
        prompt = self.config.prompts.get(prompt_name, "")
        encodings = self._tokenizer.encode_batch([prompt + t for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        if self.config.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.config.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32)

    def embed(self, texts: list[str], prompt_name: str) -> np.ndarray:
        """Batches of similar length (longest first), as sentence-transformers sorts them."""
        out = np.empty((len(texts), self.dimension), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), _BATCH):
            rows = order[start : start + _BATCH]
            out[rows] = self._encode([texts[i] for i in rows], prompt_name)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts, "passage").tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text], "query")[0].tolist()

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """A question and its parts in one forward pass."""
        return self.embed(texts, "query").tolist()


def load_onnx_embeddings(model_folder: Path) -> OnnxEmbeddings:
    """The ONNX engine for a converted folder; a file that will not load is rebuilt once."""
    onnx_file = onnx_model(model_folder)
    try:
        return OnnxEmbeddings(model_folder, onnx_file)
    except OnnxModelError as exc:
        log.warning("%s Rebuilding it.", exc)
        shutil.rmtree(onnx_file.parent, ignore_errors=True)
        return OnnxEmbeddings(model_folder, onnx_model(model_folder))
