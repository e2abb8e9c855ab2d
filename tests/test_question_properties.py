"""Any question at all through the real pipeline: never an exception, always a usable answer.

``hypothesis`` writes the questions (and earlier questions): arbitrary Unicode with
control characters, lone surrogates, private-use and unassigned code points, mixed
scripts, real questions buried in noise, and strings of up to a few megabytes. For
each, :meth:`rag.pipeline.Pipeline.query` must return a non-empty text that leaks no
traceback or server path and can be sent as UTF-8; an answer that does not abstain
cites at least one passage, quoted exactly from its source. The hand-picked hostile
inputs are in ``test_reliability.py``; these properties cover the space between them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rag.config import PROJECT_ROOT
from rag.pipeline import Pipeline

MAX_EXAMPLES = 50  # every example runs the real model and index (~20 ms to ~1 s each)

# Anything Python can hold in a str, lone surrogates (Cs) included.
ANY_CHAR = st.characters(exclude_categories=[])
CONTROL = st.characters(categories=["Cc", "Cf", "Cs", "Co", "Zl", "Zp", "Zs"])
# Real questions of the seed report, to be buried in noise: the noise must not break them.
REAL = st.sampled_from([
    "全年开展了多少轮全员核酸检测？",
    "新增数字经济企业多少家？",
    "How many rounds of COVID testing were carried out?",
    "What was the COVID vaccination coverage rate?",
    "那疫苗接种呢？",
])
SCRIPTS = st.sampled_from(["Сколько", "كم عدد", "全員PCR検査", "몇 번", "कितने", "ΠΌΣΑ", "🎉", "73"])

QUESTIONS = st.one_of(
    st.text(ANY_CHAR, max_size=80),
    st.text(CONTROL, min_size=1, max_size=40),
    st.builds(lambda a, q, b: a + q + b, st.text(ANY_CHAR, max_size=12), REAL,
              st.text(ANY_CHAR, max_size=12)),
    st.lists(st.one_of(SCRIPTS, REAL, st.text(ANY_CHAR, max_size=6)), min_size=1, max_size=6)
    .map(" ".join),
    st.builds(lambda piece, n: piece * n, st.text(ANY_CHAR, min_size=1, max_size=8),
              st.integers(min_value=60, max_value=400_000)),  # up to ~3 M characters
)
HISTORIES = st.lists(st.one_of(REAL, st.text(ANY_CHAR, max_size=60)), max_size=3)

# Signs of an internal error or of the server's file system (unless the input had them).
LEAK_MARKS = ("Traceback", 'File "', str(PROJECT_ROOT), "site-packages", "/tmp/", "/home/",
              "/root/", "/usr/", "Error:", "Exception")


@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(question=QUESTIONS, history=HISTORIES)
@example(question="", history=[])
@example(question="\udcff\ud800", history=["\x00"])
@example(question="全年开展了多少轮全员核酸检测\udcff？", history=[])
@example(question="\u202e" + "How many rounds of COVID testing were carried out?", history=[])
@example(question="全年开展了多少轮全员核酸检测？" * 70_000, history=[])
@example(question="那疫苗接种呢？", history=["全年开展了多少轮全员核酸检测？" * 70_000])
def test_any_question_gets_a_usable_answer(
    pipeline: Pipeline, question: str, history: list[str]
) -> None:
    answer = pipeline.query(question, history=history)  # must not raise, whatever the input

    event("abstained" if answer.abstained else "answered")  # --hypothesis-show-statistics
    assert isinstance(answer.text, str) and answer.text.strip()
    answer.text.encode("utf-8")  # no lone surrogate survives into the reply (JSON, HTML)
    given_text = question + "".join(history)
    leaks = [m for m in LEAK_MARKS if m in answer.text and m not in given_text]
    assert not leaks, (leaks, answer.text[:200])
    if not answer.abstained:
        assert answer.citations, f"an answer without a citation: {answer.text[:120]!r}"
    for c in answer.citations:
        c.quote.encode("utf-8")
        assert pipeline.store.texts[c.source][c.start:c.end] == c.quote
