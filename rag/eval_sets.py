"""CMRC 2018 (trial split) as an out-of-domain eval set: paragraphs become documents.

CMRC 2018 (Cui et al., 2019; CC BY-SA 4.0, licence in ``evals/cmrc2018/``) is SQuAD-style:
Chinese Wikipedia paragraphs with questions and answer offsets. The product answers from
a folder of documents and is scored on the sentence it cites, so each paragraph is written
out as one ``.txt`` (title line, then the paragraph) and each question gets as its gold the
sentence(s) of the paragraph holding the answer span. The documents are generated, never
committed: :func:`load_cmrc` rewrites only what differs, so calling it again is cheap.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from rag.chunking import sentence_spans
from rag.config import PROJECT_ROOT
from rag.evaluation import EvalQuestion, QuestionFileError

log = logging.getLogger(__name__)

CMRC_TRIAL = PROJECT_ROOT / "evals" / "cmrc2018" / "cmrc2018_trial.json"
ATTRIBUTION = "CMRC 2018, Cui et al., 2019"
KIND = "span"  # an extractive reading-comprehension answer
_SAFE_NAME = re.compile(r"[^0-9A-Za-z_.-]+")


@dataclass(frozen=True)
class CmrcSet:
    """The generated documents folder and the questions asked about it."""

    docs_dir: Path
    questions: list[EvalQuestion]
    skipped: int  # questions whose answer text is nowhere in their paragraph
    written: int  # documents (re)written by this call: 0 when the folder was current


def doc_name(paragraph_id: str) -> str:
    """File name of one paragraph's document (ids like ``TRIAL_800`` are kept readable)."""
    return _SAFE_NAME.sub("_", paragraph_id) + ".txt"


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def locate_answer(context: str, text: str, start: int, question: str) -> int | None:
    """Where the answer ``text`` sits in ``context``, or None when it is not there.

    CMRC trial offsets point at the first occurrence of the answer text even when the
    answer is a later one (77 of 1,002 questions have a repeated answer text). So among
    several occurrences the one whose sentence shares most character bigrams with the
    question wins; the given offset only breaks ties.
    """
    found = [m.start() for m in re.finditer(re.escape(text), context)]
    if len(found) <= 1:
        return found[0] if found else None
    asked = _bigrams(question)

    def fit(at: int) -> tuple[int, int]:
        sentence = gold_sentence(context, at, at + len(text))
        return len(_bigrams(sentence) & asked), -abs(at - start)

    return max(found, key=fit)


def gold_sentence(context: str, start: int, end: int) -> str:
    """The sentence (or run of sentences) of ``context`` covering ``[start, end)``."""
    spans = sentence_spans(context, 0, len(context))
    covering = [(s, e) for s, e in spans if s < end and e > start]
    if not covering:  # the span lies in whitespace between sentences: cannot happen for text
        return context[start:end]
    return context[covering[0][0] : covering[-1][1]]


def _write_if_changed(path: Path, text: str) -> bool:
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


def _entries(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QuestionFileError(f"{path}: cannot read the CMRC file ({exc})") from exc
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise QuestionFileError(f"{path}: expected SQuAD-style JSON with a 'data' list")
    return entries


def _question(qa: dict, context: str, title: str, name: str) -> EvalQuestion | None:
    """One CMRC question as an :class:`EvalQuestion`; None when no answer is in the text."""
    located = [
        (
            locate_answer(context, a["text"].strip(), int(a["answer_start"]), qa["question"]),
            a["text"].strip(),
        )
        for a in qa["answers"]
    ]
    found = [(at, text) for at, text in located if at is not None and text]
    if not found:
        return None
    start, text = found[0]
    return EvalQuestion(
        id=f"cmrc-{qa['id']}",
        question=qa["question"].strip(),
        lang="zh",
        kind=KIND,
        answers=[list(dict.fromkeys(t for _, t in found))],
        gold=gold_sentence(context, start, start + len(text)),
        section=title,
        doc=name,
    )


def load_cmrc(docs_dir: Path, path: Path = CMRC_TRIAL) -> CmrcSet:
    """Write one document per paragraph into ``docs_dir`` and return the questions.

    Each question has one fact whose spellings are its distinct answer texts; its gold
    is the sentence around the first answer found in the paragraph.
    """
    entries = _entries(path)
    docs_dir.mkdir(parents=True, exist_ok=True)
    questions: list[EvalQuestion] = []
    skipped = written = 0
    try:
        for entry in entries:
            title = str(entry.get("title") or "").strip()
            for paragraph in entry["paragraphs"]:
                context = paragraph["context"]
                name = doc_name(paragraph["id"])
                written += _write_if_changed(docs_dir / name, f"{title}\n{context}\n")
                for qa in paragraph["qas"]:
                    question = _question(qa, context, title, name)
                    if question is None:
                        skipped += 1
                    else:
                        questions.append(question)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise QuestionFileError(f"{path}: not in the CMRC/SQuAD layout ({exc!r})") from exc
    log.info(
        "CMRC: %d questions, %d documents written to %s, %d questions skipped",
        len(questions),
        written,
        docs_dir,
        skipped,
    )
    return CmrcSet(docs_dir, questions, skipped, written)
