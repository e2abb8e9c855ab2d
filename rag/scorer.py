"""The learned answer scorer: a linear ranking over :data:`rag.features.FEATURE_NAMES`, calibrated.

The ranking weights are fit listwise (softmax over one question's candidates: the gold
sentence against its neighbours, which is what picking an answer is); a logistic
calibration of the best score and its lead over the runner-up turns it into the
probability that the chosen sentence holds the answer. So one threshold
(chosen by leave-one-document-out for at most 5 % false abstentions, see
``evals/train_scorer.py``) decides abstention in every language instead of hand-set
per-language constants. Weights live in JSON (``rag/data/scorer.json``); ``make train``
rebuilds them and ``rag/data/scorer_manifest.json`` records what from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.features import FEATURE_NAMES, candidate_features
from rag.timeline import Timeline
from rag.types import Candidate, SentenceRecord, Term

DATA_DIR = Path(__file__).resolve().parent / "data"
WEIGHTS_FILE = DATA_DIR / "scorer.json"
MANIFEST_FILE = DATA_DIR / "scorer_manifest.json"
FORMAT = 1


class ScorerFileError(RuntimeError):
    """The weights file is missing, damaged or stale; the message names it and the fix."""


@dataclass(frozen=True)
class LearnedScorer:
    """Standardisation, weights, calibration and the abstention threshold of one training run."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    calibration: np.ndarray  # (a, b, c): P = sigmoid(a * score + b * lead + c + v . x)
    calibration_weights: np.ndarray  # v: what the ranking cannot see (all candidates alike)
    threshold: float

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Ranking scores of one question's candidates (higher is a likelier answer)."""
        return ((np.asarray(rows, dtype=np.float64) - self.mean) / self.scale) @ self.weights

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """P(the sentence answers) for each row of one question's candidates.

        The lead is a candidate's margin over the best other one: a sentence far ahead of
        its neighbours is surer than one in a tie. The row itself counts too: a year the
        question names that no candidate holds leaves the ranking unchanged but makes any
        answer unlikely."""
        if len(rows) == 0:
            return np.zeros(0)
        scaled = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        return calibrated(self.calibration, self.scores(rows), scaled @ self.calibration_weights)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "feature_names": list(self.names),
            "mean": [float(x) for x in self.mean],
            "scale": [float(x) for x in self.scale],
            "weights": [float(x) for x in self.weights],
            "calibration": [float(x) for x in self.calibration],
            "calibration_weights": [float(x) for x in self.calibration_weights],
            "threshold": float(self.threshold),
        }


_COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def admissible(rows: np.ndarray) -> np.ndarray:
    """Candidates that may answer at all: a figure the question names must be there, a year
    it names must be there or be the time the sentence's section speaks of, and a "how
    many" question needs a sentence with a figure."""
    rows = np.asarray(rows)
    if len(rows) == 0:
        return np.zeros(0, dtype=bool)
    figure_ok = rows[:, _COL["numbers_missing"]] < 0.5
    year_ok = (rows[:, _COL["year_missing"]] < 0.5) | (rows[:, _COL["time_match"]] > 0.5)
    wants_number = rows[:, _COL["quantity"]].max() > 0.5 or rows[:, _COL["unit"]].max() > 0.5
    number_ok = (rows[:, _COL["has_number"]] > 0.5) | (not wants_number)
    return figure_ok & year_ok & number_ok


def leads(scores: np.ndarray) -> np.ndarray:
    """Each score minus the best of the others (0 for a lone candidate)."""
    if len(scores) < 2:
        return np.zeros(len(scores))
    order = np.argsort(-scores)
    best, second = scores[order[0]], scores[order[1]]
    others = np.where(np.arange(len(scores)) == order[0], second, best)
    return scores - others


def calibrated(calibration: np.ndarray, scores: np.ndarray, extra: np.ndarray) -> np.ndarray:
    a, b, c = calibration
    z = a * scores + b * leads(scores) + c + extra
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fail(path: Path, why: str) -> ScorerFileError:
    return ScorerFileError(f"{path}: {why}; run `make train` to rebuild the answer scorer")


def read_weights_json(
    path: Path, what: str, version: int, fail: Callable[[Path, str], Exception]
) -> dict:
    """A ``make train`` weights file as a dict of the expected format version; a missing,
    unreadable or other-version file raises ``fail(path, why)``, which names the fix."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(path, f"the {what} weights file is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(path, f"the {what} weights file is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != version:
        raise fail(path, f"not a format-{version} {what} weights file")
    return raw


def load_scorer(path: Path = WEIGHTS_FILE) -> LearnedScorer:
    """Read a weights file written by ``make train``; anything else is a clear error."""
    raw = read_weights_json(path, "scorer", FORMAT, _fail)
    names = tuple(raw.get("feature_names") or ())
    if names != FEATURE_NAMES:
        raise _fail(path, "its features differ from this version's (rag/features.py)")
    try:
        keys = ("mean", "scale", "weights", "calibration_weights")
        arrays = [np.asarray(raw[k], dtype=np.float64) for k in keys]
        calibration = np.asarray(raw["calibration"], dtype=np.float64)
        threshold = float(raw["threshold"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"a field is missing or not numeric ({exc})") from None
    if any(a.shape != (len(names),) or not np.isfinite(a).all() for a in arrays) or not (
        calibration.shape == (3,)
        and np.isfinite(calibration).all()
        and 0.0 < threshold < 1.0
        and (arrays[1] > 0).all()
    ):
        raise _fail(path, "weights, standardisation, calibration or threshold are malformed")
    mean, scale, weights, calibration_weights = arrays
    return LearnedScorer(names, mean, scale, weights, calibration, calibration_weights, threshold)


def rank_learned(
    scorer: LearnedScorer,
    question: str,
    similarity: np.ndarray,
    candidates: Sequence[int],
    chunk_rank: dict[int, int],
    position: dict[int, float],
    sentences: Sequence[SentenceRecord],
    terms: Sequence[Term],
    timeline: Timeline | None,
    subjects: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """The candidates for ``question``, best ranked first; ``score`` is P(it answers)."""
    kept, rows = candidate_features(
        question, similarity, candidates, chunk_rank, position, sentences, terms, timeline,
        subjects,
    )
    keep = admissible(rows)
    kept = [idx for idx, ok in zip(kept, keep, strict=True) if ok]
    rows = rows[keep]
    if not kept:
        return []
    probabilities = scorer.probability(rows)
    lexical = FEATURE_NAMES.index("lexical")
    dense = FEATURE_NAMES.index("dense")
    order = np.argsort(-scorer.scores(rows), kind="stable")
    return [
        Candidate(kept[i], float(probabilities[i]), float(rows[i, dense]), float(rows[i, lexical]),
                  rows[i])
        for i in order
    ]
