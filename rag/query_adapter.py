"""A learned linear map that moves an English question's vector toward the Chinese sentences
that answer it.

Why: the multilingual model puts an English question nearer to Chinese sentences that share
its topic than to the one stating the asked figure, so English questions were cited right
far less often than Chinese ones (71 % against 89 % held out). One matrix, fit by
``make train`` (``evals/train_adapter.py``) on the English eval questions so that each
one's gold sentence outranks the other candidates of its retrieved chunks, corrects part of
that gap at the cost of one small matrix product per question. It is fit for one embedding
model (the manifest names it) and is used only with that model; Chinese questions are left
as they are. Weights in safetensors with their checksum in the training manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.scorer import file_sha256

DATA_DIR = Path(__file__).resolve().parent / "data"
WEIGHTS_FILE = DATA_DIR / "query_adapter.safetensors"
MANIFEST_FILE = DATA_DIR / "query_adapter_manifest.json"
TENSOR = "matrix"
# It may swap the two best sentences, no more: that is where its held-out gain is, and
# letting it reorder all of them answered more of the questions the reports do not answer.
REORDERS = 2


class AdapterFileError(RuntimeError):
    """The adapter weights are missing, damaged or stale; the message names the fix."""


def _fail(path: Path, why: str) -> AdapterFileError:
    return AdapterFileError(f"{path}: {why}; run `make train` to rebuild the query adapter")


@dataclass(frozen=True)
class QueryAdapter:
    """``vector @ matrix``, renormalised: a question vector in the same space, moved."""

    matrix: np.ndarray  # (dimension, dimension)
    model: str  # the embedding model setting it was fit for

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        moved = np.asarray(vector, dtype=np.float32) @ self.matrix
        norm = float(np.linalg.norm(moved))
        return moved / norm if norm > 0 else np.asarray(vector, dtype=np.float32)


def save_adapter(matrix: np.ndarray, manifest: dict, path: Path = WEIGHTS_FILE,
                 manifest_file: Path = MANIFEST_FILE) -> None:
    """Write the weights and the manifest that records their checksum."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({TENSOR: np.ascontiguousarray(matrix, dtype=np.float32)}, str(path))
    manifest = manifest | {"weights_sha256": file_sha256(path)}
    manifest_file.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", "utf-8")


def load_adapter(path: Path = WEIGHTS_FILE, manifest_file: Path = MANIFEST_FILE) -> QueryAdapter:
    """The adapter ``make train`` wrote, checked against its manifest; else a clear error."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        recorded, model = manifest["weights_sha256"], str(manifest["model"])
    except FileNotFoundError:
        raise _fail(manifest_file, "the query adapter's training manifest is missing") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _fail(manifest_file, f"the training manifest is unreadable ({exc})") from None
    if not path.is_file():
        raise _fail(path, "the query adapter weights file is missing")
    if file_sha256(path) != recorded:
        raise _fail(path, f"its checksum differs from the one in {manifest_file.name}")
    try:
        matrix = load_file(str(path))[TENSOR]
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise _fail(path, f"not a query adapter weights file ({exc})") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or not np.isfinite(matrix).all():
        raise _fail(path, f"the matrix is malformed (shape {matrix.shape})")
    return QueryAdapter(matrix.astype(np.float32), model)
