"""Calibrated abstention: the hand-set ranking picks the sentence, a model fit on data says
how likely it is to answer, and one threshold decides in every language.

Why: the hand-set ranking generalises (it cites the right sentence about as often on
reports nobody tuned on as the learned ranking does), but its abstention thresholds were
set on the seed: on other reports it says "not found" to a quarter of the Chinese
questions it could answer. Here a logistic model reads the chosen sentence's hand-set
score, its lead over the runner-up, the question's language and the named features of
:mod:`rag.features` (the asked attribute, unit, year and time role present or missing),
and gives P(the sentence holds the answer). ``make train`` fits it
(``evals/train_abstention.py``) with the threshold chosen on held-out documents for at
most 5 % false abstentions; weights in JSON (``rag/data/abstention.json``) with their
checksum in the training manifest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.answering import TermWeights, credit
from rag.features import FEATURE_NAMES, candidate_features, question_cues
from rag.numbers import blank_names, has_figure
from rag.question import ASKS_NUMBER_EN, qualifiers_asked
from rag.scorer import file_sha256, read_weights_json
from rag.short_answer import names_asked_person
from rag.timeline import Timeline
from rag.types import Candidate, SentenceRecord, Term

DATA_DIR = Path(__file__).resolve().parent / "data"
WEIGHTS_FILE = DATA_DIR / "abstention.json"
MANIFEST_FILE = DATA_DIR / "abstention_manifest.json"
FORMAT = 1
# A section's role by itself is not read: how a report's sections are laid out differs from
# report to report, so a prior on them learnt on some does not carry to another (held out, the
# reports lost answers to it). Whether the role is the time asked (``time_match``) is read.
_SECTION_ROLES = frozenset({"role_review", "role_multi_year", "role_plan", "role_appendix"})
_READ = [i for i, n in enumerate(FEATURE_NAMES) if n not in _SECTION_ROLES]
INPUT_NAMES: tuple[str, ...] = (
    "handset",  # the hand-set score
    "handset_lead",  # its lead over the runner-up (for the others: how far they trail)
    "english",  # the question's language
    "unseen",  # share of the question's term weight the documents never mention
    "missing_rarest",  # the rarest asked term the sentence does not show, as a share of the
    # rarest possible (a figure asked of a word nowhere near the answer)
    # What the question asks for, so that "asked and absent" can weigh against an answer
    # (the features below say only "asked and present"):
    "asks_number",
    "asks_unit",
    "asks_measure",
    "asks_date",
    "names_year",
    "about_document",  # it asks about the report itself: its candidates are cover and sign-off
    "anchored_number",  # a figure within a few characters after an asked term: the figure
    # belongs to what was asked, not to something else the sentence also mentions
    "figure_absent",  # it asks how many/much and the sentence states no figure
    "measured_absent",  # it asks what a measure is ("What was the GDP?") and the sentence
    # states no figure: no veto, as "与区持平" answers "What is the target for revenue?"
    "date_absent",  # it asks when (which year) and the sentence names no date or year
    "qualifier_absent",  # it asks a figure per person, per day, on average or per mu and
    # the sentence does not say so (a total is another measure)
    "person_named",  # it asks who and the sentence names a person after an office
    *(n for n in FEATURE_NAMES if n not in _SECTION_ROLES),
)
_FIGURE_ABSENT = INPUT_NAMES.index("figure_absent")
_FIGURE_AFTER = 12  # characters between an asked term and "its" figure
_FIGURE = re.compile(r"\d")
# A time a sentence names, in any of Chinese's ways: a year of any era (天正3年, 公元前25年),
# a month or day, a period (世纪, 唐末, 早期), a season or time of day, or a clause of time
# (成立时, 独立5年后, 十八岁). A sentence naming none answers no "when".
_WHEN = re.compile(
    r"\d+\s*年|[〇零一二三四五六七八九十百千]+年|\d{1,2}\s*[月日]|[一二三四五六七八九十]{1,3}[月日]"
    r"|年[底初内间代]|半年|世纪|时[期代候]|[初末早中晚]期|[春夏秋冬]季|[早晚]上|凌晨|中午|夜间"
    r"|[之以此]?[前后]|时|末|岁"
)
_ASKS_YEAR = re.compile(r"哪一?年|什么年份|\b(which|what) year\b", re.I)
TOP = 8  # the hand-set candidates whose features are read (the gaps are relative to them)


class AbstentionFileError(RuntimeError):
    """The abstention weights are missing, damaged or stale; the message names the fix."""


def _fail(path: Path, why: str) -> AbstentionFileError:
    return AbstentionFileError(f"{path}: {why}; run `make train` to rebuild the abstention model")


@dataclass(frozen=True)
class AbstentionModel:
    """Standardisation, logistic weights and the held-out threshold of one training run."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """P(the sentence answers). A how-many question is never answered by a sentence
        stating no figure (no gold of the eval sets lacks one); a linear model cannot
        say "never", as a sentence echoing the question outweighs any one input."""
        rows = np.asarray(rows, dtype=np.float64)
        z = ((rows - self.mean) / self.scale) @ self.weights
        p = 1.0 / (1.0 + np.exp(-np.clip(z + self.bias, -30, 30)))
        return p * (1.0 - rows[:, _FIGURE_ABSENT]) if len(rows) else p

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "input_names": list(INPUT_NAMES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": float(self.bias),
            "threshold": float(self.threshold),
        }


def untrained() -> AbstentionModel:
    """P = 0.5 for everything: what training runs the pipeline with to read the inputs."""
    n = len(INPUT_NAMES)
    return AbstentionModel(np.zeros(n), np.ones(n), np.zeros(n), 0.0, 0.5)


def load_abstention(path: Path = WEIGHTS_FILE) -> AbstentionModel:
    """Read a weights file written by ``make train``; anything else is a clear error."""
    raw = read_weights_json(path, "abstention", FORMAT, _fail)
    if tuple(raw.get("input_names") or ()) != INPUT_NAMES:
        raise _fail(path, "its inputs differ from this version's (rag/abstention.py)")
    try:
        mean, scale, weights = (np.asarray(raw[k], dtype=np.float64)
                                for k in ("mean", "scale", "weights"))
        bias, threshold = float(raw["bias"]), float(raw["threshold"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"a field is missing or not numeric ({exc})") from None
    n = len(INPUT_NAMES)
    if any(a.shape != (n,) or not np.isfinite(a).all() for a in (mean, scale, weights)) or not (
        (scale > 0).all() and np.isfinite(bias) and 0.0 < threshold < 1.0
    ):
        raise _fail(path, "weights, standardisation or threshold are malformed")
    return AbstentionModel(mean, scale, weights, bias, threshold)


def check_manifest(path: Path = WEIGHTS_FILE, manifest: Path = MANIFEST_FILE) -> None:
    """The weights are the ones the training manifest recorded."""
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _fail(manifest, f"the training manifest is unreadable ({exc})") from None
    if file_sha256(path) != recorded:
        raise _fail(path, f"its checksum differs from the one in {manifest.name}")


def anchors_figure(text: str, terms: Sequence[Term], subject: str = "") -> bool:
    """Whether a figure follows an asked term closely. The document's subject (its place,
    :func:`rag.answering.credit`) is named beside any of its figures, so it anchors none."""
    years = re.compile(r"(?:19|20)\d{2}\s*年")
    text = years.sub(lambda m: "年" * len(m.group()), blank_names(text))  # nor is a date
    for term in terms:
        for form in term.forms:
            if len(form) < 2 or form in subject:
                continue
            start = text.find(form)
            while start >= 0:
                end = start + len(form)
                if _FIGURE.search(text, end, end + _FIGURE_AFTER):
                    return True
                start = text.find(form, start + 1)
    return False


def input_rows(
    question: str,
    english: bool,
    ranked: Sequence[Candidate],
    chunk_rank: dict[int, int],
    position: dict[int, float],
    sentences: Sequence[SentenceRecord],
    terms: Sequence[Term],
    term_weights: TermWeights,
    timeline: Timeline | None,
    subjects: Mapping[str, str] | None = None,
) -> np.ndarray:
    """One row of :data:`INPUT_NAMES` for each of the part's top hand-set candidates
    (``subjects``: each document's subject, :func:`rag.answering.credit`)."""
    top = list(ranked[:TOP])
    if not top:
        return np.zeros((0, len(INPUT_NAMES)))
    ids = [c.sentence for c in top]
    _, features = candidate_features(
        question, np.array([c.dense for c in top]), ids, chunk_rank, position, sentences, terms,
        timeline, subjects,
    )
    scores = np.array([c.score for c in top])
    second = scores[1] if len(scores) > 1 else scores[0] - 0.1
    lead = np.where(np.arange(len(scores)) == 0, scores[0] - second, scores - scores[0])
    never = term_weights.idf(0)
    total = sum(t.weight for t in terms) or 1.0
    unseen = sum(t.weight for t in terms if t.weight >= never - 1e-9) / total
    missing = [
        max((t.weight for t in terms if credit(t, sentences[i], subjects) == 0), default=0.0)
        / never
        for i in ids
    ]
    cues = question_cues(question)
    asked = [cues.wants_number, bool(cues.units), bool(cues.measures), cues.wants_date,
             bool(cues.years_asked), cues.about_document]
    subjects = subjects or {}
    anchored = [
        float(anchors_figure(sentences[i].text, terms, subjects.get(sentences[i].source, "")))
        for i in ids
    ]
    named = cues.numbers_asked | cues.years_asked
    named_forms = [form for t in terms for form in t.forms]
    no_figure = [not has_figure(sentences[i].text, named) for i in ids]
    figure_absent = [float(cues.wants_number and absent) for absent in no_figure]
    measured = bool(ASKS_NUMBER_EN.search(question))
    measured_absent = [float(measured and absent) for absent in no_figure]
    wants_when = cues.wants_date or bool(_ASKS_YEAR.search(question))
    date_absent = [float(wants_when and not _WHEN.search(sentences[i].text)) for i in ids]
    qualifiers = qualifiers_asked(question)
    qualifier_absent = [
        float(any(not q.search(sentences[i].text) for q in qualifiers)) for i in ids
    ]
    head = np.column_stack(
        [scores, lead, np.full(len(top), float(english)), np.full(len(top), unseen), missing]
        + [np.full(len(top), float(a)) for a in asked]
        + [anchored, figure_absent, measured_absent, date_absent, qualifier_absent]
        + [[float(names_asked_person(question, sentences[i].text, named_forms)) for i in ids]]
    )
    return np.hstack([head, features[:, _READ].astype(np.float64)])


def shown_first(rows: Sequence[Sequence[float]]) -> int:
    """Which of a part's top candidates an abstention shows first as the closest passage:
    the top one, unless the veto rules it out (asked how many, it states no figure) and one
    of the next two it does not: "国内生产总值增长6.9%" rather than "经济…好于预期"."""
    return next((i for i, row in enumerate(rows[:3]) if row[_FIGURE_ABSENT] != 1.0), 0)


def calibrate(
    model: AbstentionModel, ranked: Sequence[Candidate], rows: np.ndarray
) -> list[Candidate]:
    """The hand-set order kept; each of the top candidates' ``score`` becomes P(it answers)."""
    top = list(ranked[:TOP])
    probability = model.probability(rows) if len(top) else np.zeros(0)
    return [
        replace(c, score=float(p), features=row)
        for c, p, row in zip(top, probability, rows, strict=True)
    ]
