"""👍/👎 on answers: appended to ``feedback.jsonl`` by the index, made into draft eval questions.

The file is append-only JSON Lines, one verdict a line, written under a lock
(threads of this process and other processes alike), so a reader never sees a
half-written line and two verdicts never interleave.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.jsonl"
_lock = threading.Lock()


class FeedbackError(ValueError):
    """A feedback file cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Feedback:
    """One verdict on one answer."""

    question: str
    answer: str
    verdict: str  # "up" or "down"
    citations: list[dict[str, Any]] = field(default_factory=list)
    time: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))


def feedback_path(index_dir: Path) -> Path:
    return index_dir / FEEDBACK_FILE


def record_feedback(index_dir: Path, feedback: Feedback) -> Path:
    """Append ``feedback`` as one JSON line to the index folder's feedback file."""
    if feedback.verdict not in ("up", "down"):
        raise ValueError(f"verdict must be 'up' or 'down', not {feedback.verdict!r}")
    path = feedback_path(index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(feedback), ensure_ascii=False) + "\n"
    with _lock, path.open("a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.write(line)
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    log.info("Recorded a %s verdict in %s", feedback.verdict, path)
    return path


def read_feedback(path: Path) -> list[dict[str, Any]]:
    """Every entry of a feedback file; a broken line is an error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FeedbackError(f"cannot read {path} ({exc.strerror}); give a feedback.jsonl") from exc
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise FeedbackError(
                f"{path}:{number} is not JSON ({exc.msg}); fix or delete the line"
            ) from exc
        if not isinstance(entry, dict) or not isinstance(entry.get("question"), str):
            raise FeedbackError(f"{path}:{number} has no question; fix or delete the line")
        entries.append(entry)
    return entries


def draft_questions(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Draft eval questions from the 👎 entries, in the ``evals/questions.jsonl`` format.

    The answers are left empty (a person writes them); ``draft: true`` keeps them
    out of a real eval run until then. The same question twice gives one draft.
    """
    from rag.text import is_chinese

    drafts, seen = [], set()
    for entry in entries:
        question = entry["question"].strip()
        if entry.get("verdict") != "down" or not question or question in seen:
            continue
        seen.add(question)
        cited = entry.get("citations") or []
        drafts.append(
            {
                "id": f"feedback-{len(drafts) + 1:02d}",
                "question": question,
                "lang": "zh" if is_chinese(question) else "en",
                "kind": "feedback",
                "answers": [],
                "gold": "",
                "draft": True,
                "rejected_answer": entry.get("answer", ""),
                "rejected_sources": [c.get("source", "") for c in cited if isinstance(c, dict)],
                "time": entry.get("time", ""),
            }
        )
    return drafts
