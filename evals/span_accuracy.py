"""Exact-span accuracy of the short-answer picker, given the sentence that holds the answer.

Three sets: CMRC 2018 trial (``evals/cmrc2018/cmrc2018_trial.json``: Chinese Wikipedia
paragraphs, the sentence around each gold span), the seed questions
(``evals/questions.jsonl``: the seed sentence holding the gold fragment) and the seven
reports' questions (``evals/corpus_questions.jsonl``, the same way). For each
question kind it prints how often the picker answers at all, how often its span
equals a gold answer (of all questions and of those it answered) and how often it
contains one. Run: ``python -m evals.span_accuracy`` (``--json`` for machine output).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.chunking import sentence_spans  # noqa: E402
from rag.glossary import Glossary, load_glossary  # noqa: E402
from rag.short_answer import ShortAnswer, pick_span, question_kind  # noqa: E402

CMRC = ROOT / "evals" / "cmrc2018" / "cmrc2018_trial.json"
SEED_QUESTIONS = ROOT / "evals" / "questions.jsonl"
SEED = ROOT / "seeds" / "000_12477834bc4718d4.txt"
CORPUS = ROOT / "evals" / "corpus"
CORPUS_QUESTIONS = ROOT / "evals" / "corpus_questions.jsonl"


@dataclass(frozen=True)
class Case:
    question: str
    sentence: str
    answers: list[list[str]]  # one list of accepted forms per thing asked


@dataclass
class Tally:
    n: int = 0
    answered: int = 0
    exact: int = 0
    contains: int = 0
    f1: float = 0.0
    examples: list[str] = field(default_factory=list)

    def row(self, name: str) -> str:
        answered = max(self.answered, 1)
        return (
            f"{name:<10} {self.n:>5} {self.answered / max(self.n, 1):>9.1%} "
            f"{self.exact / max(self.n, 1):>9.1%} {self.exact / answered:>10.1%} "
            f"{self.contains / answered:>10.1%} {self.f1 / answered:>7.1%}"
        )

    def as_dict(self) -> dict[str, float]:
        answered = max(self.answered, 1)
        return {
            "n": self.n,
            "answered": round(self.answered / max(self.n, 1), 4),
            "exact": round(self.exact / max(self.n, 1), 4),
            "exact_of_answered": round(self.exact / answered, 4),
            "contains_of_answered": round(self.contains / answered, 4),
            "char_f1_of_answered": round(self.f1 / answered, 4),
        }


def _norm(text: str) -> str:
    return "".join(text.split()).strip("，,。；;：:“”\"'")


def char_f1(predicted: str, gold: str) -> float:
    """CMRC's measure: F1 over the characters of the longest common substring."""
    a, b = _norm(predicted), _norm(gold)
    best = 0
    row = [0] * (len(b) + 1)
    for ca in a:
        prev = 0
        for j, cb in enumerate(b, 1):
            cur = row[j]
            row[j] = prev + 1 if ca == cb else 0
            best = max(best, row[j])
            prev = cur
    if best == 0:
        return 0.0
    precision, recall = best / len(a), best / len(b)
    return 2 * precision * recall / (precision + recall)


def judge(span: ShortAnswer, answers: list[list[str]]) -> tuple[bool, bool]:
    """(exact, contains): every thing asked is one part exactly / inside the span."""
    parts = {_norm(p.text) for p in span.parts} | {_norm(span.text)}
    whole = _norm(span.text)
    exact = all(any(_norm(a) in parts for a in forms) for forms in answers)
    contains = all(any(_norm(a) in whole for a in forms) for forms in answers)
    return exact, contains


def cmrc_cases(path: Path = CMRC) -> Iterator[Case]:
    """Each question with the sentence of its paragraph holding the first gold answer."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    for article in data:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            spans = sentence_spans(context, 0, len(context))
            for qa in paragraph["qas"]:
                gold = qa["answers"][0]
                a, b = gold["answer_start"], gold["answer_start"] + len(gold["text"])
                for s, e in spans:
                    if s <= a and b <= e:
                        texts = sorted({x["text"] for x in qa["answers"]})
                        yield Case(qa["question"], context[s:e], [texts])
                        break


def _sentences(text: str) -> list[str]:
    out, pos = [], 0
    for line in text.splitlines(keepends=True):
        out += [text[s:e] for s, e in sentence_spans(text, pos, pos + len(line))]
        pos += len(line)
    return out


def report_cases(path: Path, texts: dict[str, str]) -> Iterator[Case]:
    """Answerable questions of ``path`` with the sentence holding their gold fragment, in
    their report (``texts`` by the question's ``doc``; "" for a set of one report)."""
    sentences = {name: _sentences(text) for name, text in texts.items()}
    for raw in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(raw)
        if row["kind"] == "unanswerable" or not row.get("gold"):
            continue
        holding = [s for s in sentences.get(row.get("doc", ""), []) if row["gold"] in s]
        if holding:
            yield Case(row["question"], holding[0], row["answers"])


def seed_cases(path: Path = SEED_QUESTIONS, seed: Path = SEED) -> Iterator[Case]:
    """The seed questions with the seed sentence holding the gold fragment."""
    return report_cases(path, {"": seed.read_text(encoding="utf-8")})


def corpus_cases() -> tuple[list[Case], str]:
    """The seven reports' questions, and the reports' text (for the glossary)."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))}
    return list(report_cases(CORPUS_QUESTIONS, texts)), "\n".join(texts.values())


def measure(cases: Iterable[Case], glossary: Glossary | None) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for case in cases:
        kind = question_kind(case.question) or "other"
        span = pick_span(case.question, case.sentence, glossary)
        names = [kind, "all"] + ([f"by:{span.how}"] if span is not None else [])
        for name in names:
            tally = tallies[name]
            tally.n += 1
            if span is None:
                continue
            exact, contains = judge(span, case.answers)
            tally.answered += 1
            tally.exact += exact
            tally.contains += contains
            tally.f1 += sum(
                max(char_f1(p.text, a) for p in span.parts for a in forms) for forms in case.answers
            ) / len(case.answers)
            if not exact and len(tally.examples) < 8 and name in (kind,):
                tally.examples.append(f"{case.question} | {span.text} | {case.answers}")
    return dict(tallies)


def report(title: str, tallies: dict[str, Tally], examples: bool) -> None:
    print(f"\n{title}")
    print(
        f"{'kind':<10} {'n':>5} {'answered':>9} {'exact':>9} {'exact|ans':>10} "
        f"{'cont|ans':>10} {'F1|ans':>7}"
    )
    order = ["number", "date", "name", "yes-no", "other", "all"]
    order += [
        f"by:{how}" for how in ("figure", "quote", "list", "person", "name", "echo", "clause")
    ]
    for kind in sorted(tallies, key=lambda k: order.index(k) if k in order else 9):
        print(tallies[kind].row(kind))
        if examples:
            for line in tallies[kind].examples:
                print("     ✗", line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--examples", action="store_true", help="show misses per kind")
    args = parser.parse_args(argv)
    seed_text = SEED.read_text(encoding="utf-8")
    glossary = load_glossary(lambda word: word in seed_text)
    corpus, corpus_text = corpus_cases()
    results = {
        "cmrc2018_trial": measure(cmrc_cases(), None),
        "seed": measure(seed_cases(), glossary),
        "corpus": measure(corpus, load_glossary(lambda word: word in corpus_text)),
    }
    if args.json:
        print(json.dumps({k: {n: t.as_dict() for n, t in v.items()} for k, v in results.items()}))
        return 0
    report("CMRC 2018 trial (gold sentence given)", results["cmrc2018_trial"], args.examples)
    report("Seed questions (gold sentence given)", results["seed"], args.examples)
    report("Seven reports' questions (gold sentence given)", results["corpus"], args.examples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
