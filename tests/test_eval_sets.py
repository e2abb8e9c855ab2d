"""The eval sets are scorable: real spans, real counts, paraphrased questions, CMRC golds.

Fast and model-free: it reads ``evals/corpus_questions.jsonl`` with the harness's own loader
and checks every question against the report it names, so a typo in a gold span or a
question that copies its answer sentence fails here rather than skewing an eval run.
"""

from __future__ import annotations

from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT
from rag.eval_metrics import normalize_for_match
from rag.eval_sets import gold_sentence, load_cmrc, locate_answer
from rag.evaluation import EvalQuestion, QuestionFileError, load_questions

QUESTIONS = PROJECT_ROOT / "evals" / "corpus_questions.jsonl"
CORPUS = PROJECT_ROOT / "evals" / "corpus"
SHARED_CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"
TIME_SCOPES = {"review", "plan", "multi-year"}
KINDS = {"number", "name", "list", "two-part", "yes-no", "date", "time", "unanswerable"}
MAX_SHARED_RUN = 6  # characters a question may share verbatim with its gold sentence


@pytest.fixture(scope="module")
def questions() -> list[EvalQuestion]:
    return load_questions(QUESTIONS)


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    """Each report exactly as stored (``\\r`` kept: gold spans are character-exact)."""
    return {p.name: p.read_bytes().decode("utf-8") for p in sorted(CORPUS.glob("*.txt"))}


def longest_shared_run(a: str, b: str) -> int:
    """Length of the longest run of characters that ``a`` and ``b`` share."""
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return match.size


def test_shared_run_measures_copying() -> None:
    assert longest_shared_run("全年开展了多少轮核酸检测？", "全年开展73轮全员核酸检测") == 4
    assert longest_shared_run("How many rounds?", "全年开展73轮") == 0


def test_corpus_is_the_seven_reports(texts: dict[str, str]) -> None:
    assert len(texts) == 7
    if SHARED_CORPUS.is_dir():  # the copy must stay byte-identical to the shared originals
        for name in texts:
            original = SHARED_CORPUS / name
            assert (CORPUS / name).read_bytes() == original.read_bytes(), name


def test_every_question_names_a_report_and_a_known_kind(
    questions: list[EvalQuestion], texts: dict[str, str]
) -> None:
    for q in questions:
        assert q.doc in texts, f"{q.id}: unknown doc {q.doc!r}"
        assert q.kind in KINDS, f"{q.id}: unknown kind {q.kind!r}"
        assert q.lang in {"zh", "en"}, q.id
        assert q.id.startswith(q.doc.split("_")[0] + "-"), f"{q.id}: id does not name its doc"
        if q.kind == "time":
            assert q.time in TIME_SCOPES, f"{q.id}: time must be one of {sorted(TIME_SCOPES)}"
        if q.kind == "unanswerable":
            assert not q.answers and q.gold is None, q.id
        else:
            assert q.answers and q.gold, f"{q.id}: an answerable kind needs answers and gold"


def test_golds_are_exact_single_line_spans(
    questions: list[EvalQuestion], texts: dict[str, str]
) -> None:
    for q in questions:
        for span in filter(None, [q.gold, *q.gold_extra]):
            assert span in texts[q.doc], f"{q.id}: {span!r} is not in {q.doc}"
            assert "\n" not in span and "\r" not in span, f"{q.id}: gold spans a line break"
            assert len(span) <= 130, f"{q.id}: gold longer than a clause or sentence"


def test_every_answer_spelling_is_in_the_gold(questions: list[EvalQuestion]) -> None:
    """Else a perfect citation could never score as a correct answer."""
    for q in questions:
        pool = normalize_for_match("".join(filter(None, [q.gold, *q.gold_extra])))
        for fact in q.answers:
            for spelling in fact:
                assert normalize_for_match(spelling) in pool, f"{q.id}: {spelling!r} not in gold"


def test_per_report_counts(questions: list[EvalQuestion], texts: dict[str, str]) -> None:
    assert len(questions) >= 175
    for doc in texts:
        mine = [q for q in questions if q.doc == doc]
        kinds = Counter(q.kind for q in mine)
        assert len(mine) >= 25, doc
        assert kinds["unanswerable"] >= 4, doc
        assert kinds["time"] >= 3, doc
        assert {q.time for q in mine if q.kind == "time"} >= {"review", "plan"}, doc


def test_language_mix(questions: list[EvalQuestion]) -> None:
    share = sum(q.lang == "zh" for q in questions) / len(questions)
    assert 0.5 <= share <= 0.7, f"{share:.0%} Chinese"


def test_questions_paraphrase_their_gold(questions: list[EvalQuestion]) -> None:
    runs = [longest_shared_run(q.question, q.gold) for q in questions if q.gold]
    copied = sum(run > MAX_SHARED_RUN for run in runs)
    assert copied < len(runs) / 2, f"{copied} of {len(runs)} questions copy their gold"


# --- CMRC 2018 trial (out of domain) -------------------------------------------------------


def test_cmrc_paragraphs_become_documents_with_sentence_golds(tmp_path: Path) -> None:
    cmrc = load_cmrc(tmp_path / "cmrc")
    docs = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "cmrc").glob("*.txt")}
    assert len(docs) == 256 and len(cmrc.questions) == 1002 and cmrc.skipped == 0
    assert len({q.id for q in cmrc.questions}) == len(cmrc.questions)
    for q in cmrc.questions:
        assert q.gold in docs[q.doc], q.id
        assert all(normalize_for_match(a) in normalize_for_match(q.gold) for a in q.answers[0])
    # the gold is a sentence, not the paragraph: most paragraphs hold several sentences
    assert sum(len(q.gold) < len(docs[q.doc]) / 2 for q in cmrc.questions) > 900


def test_cmrc_gold_follows_the_question_when_the_answer_text_repeats() -> None:
    context = "甲队得分最多。乙队得分最少。比赛结束时得分最多的是甲队。"
    at = locate_answer(context, "甲队", 0, "比赛结束时谁得分最多？")
    assert gold_sentence(context, at, at + 2) == "比赛结束时得分最多的是甲队。"


def test_cmrc_generation_is_idempotent(tmp_path: Path) -> None:
    assert load_cmrc(tmp_path).written == 256
    assert load_cmrc(tmp_path).written == 0


def test_cmrc_bad_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "cmrc.json"
    bad.write_text('{"version": "v1"}', encoding="utf-8")
    with pytest.raises(QuestionFileError, match="cmrc.json"):
        load_cmrc(tmp_path / "docs", bad)
