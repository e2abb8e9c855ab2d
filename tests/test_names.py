"""Upload names: hostile names are normalised or refused with a clear message; shown as text.

The examples are the red-team's names; the properties (``hypothesis``) hold for
any string at all.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rag.loaders import SUPPORTED_SUFFIXES
from rag.names import MAX_NAME_BYTES, BadNameError, plain_markdown, safe_upload_name
from rag.ui import ChatHandlers

INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("report.txt", "report.txt"),
        ("2023年政府工作报告.docx", "2023年政府工作报告.docx"),
        ("evil\u202etxt.pdf", "eviltxt.pdf"),  # right-to-left override: shown reversed before
        ("\u2066报告\u2069.md", "报告.md"),  # bidi isolates
        ("re\u200bport\ufeff.txt", "report.txt"),  # zero-width space, BOM
        ("[clickme](javascript:alert(7)).txt", "[clickme](javascript_alert(7)).txt"),
        (".hidden.txt", "hidden.txt"),
        ("../x.txt", "x.txt"),
        ("..\\..\\windows\\x.txt", "x.txt"),
        ("/etc/passwd.txt", "passwd.txt"),
        ("bell\x07\x00and\x1bnul.txt", "bellandnul.txt"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("Ｒｅｐｏｒｔ　２０２３．ｔｘｔ", "Report 2023.txt"),  # full-width, ideographic space
        ("  many   spaces  .pdf ", "many spaces.pdf"),
        ("trailing dot.", "trailing dot"),
        ('a<b>c:"d"|e?f*.html', "a_b_c__d__e_f_.html"),
    ],
)
def test_hostile_names_are_normalised(raw: str, safe: str) -> None:
    assert safe_upload_name(raw) == safe


@pytest.mark.parametrize("raw", ["", ".txt", "..", "...", " . ", "\u202e\u200b.pdf", "../.md"])
def test_names_with_nothing_left_are_refused_clearly(raw: str) -> None:
    with pytest.raises(BadNameError, match="no name left before its suffix.*rename the file"):
        safe_upload_name(raw)


def test_a_long_name_keeps_its_suffix() -> None:
    name = safe_upload_name("报" * 300 + ".docx")
    assert name.endswith("报.docx") and len(name.encode()) <= MAX_NAME_BYTES
    with pytest.raises(BadNameError, match="too long"):
        safe_upload_name("a." + "x" * 300)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
@example("\u202e.txt")
@example("e\u200d\u0301.txt")  # removing the joiner makes a new NFKC pair
def test_any_name_is_safe_or_refused(raw: str) -> None:
    try:
        name = safe_upload_name(raw)
    except BadNameError as exc:
        assert "rename the file" in str(exc) and "\n" not in str(exc)
        return
    assert name and name == name.strip()
    assert not name.startswith(".") and not name.endswith(".")
    assert "/" not in name and "\\" not in name
    assert not {unicodedata.category(ch) for ch in name} & INVISIBLE
    assert unicodedata.normalize("NFKC", name) == name
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert safe_upload_name(name) == name  # idempotent: a stored name stays as it is
    assert Path(name).name == name  # one path component


_STEM_CHARS = st.characters(
    blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"),
    blacklist_characters='/\\.<>:"|?*',
)


@settings(max_examples=300, deadline=None)
@given(st.text(_STEM_CHARS, min_size=1, max_size=60), st.sampled_from(SUPPORTED_SUFFIXES))
def test_the_suffix_is_kept(stem: str, suffix: str) -> None:
    name = safe_upload_name(stem + suffix)
    assert name.endswith(suffix) and len(name) > len(suffix)


@given(st.text(max_size=200))
def test_plain_markdown_leaves_no_markup(text: str) -> None:
    shown = plain_markdown(text)
    assert "<" not in shown and ">" not in shown and "\n" not in shown
    unescaped = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    # Every ASCII punctuation mark is escaped, so nothing can open a link, emphasis or code.
    for i, ch in enumerate(unescaped):
        if ch in "[]()*_`!#~|" and (i == 0 or unescaped[i - 1] != "\\"):
            pytest.fail(f"unescaped {ch!r} in {shown!r}")


def test_the_upload_message_shows_a_hostile_name_as_text(tmp_path: Path) -> None:
    handlers = ChatHandlers(lambda: pytest.fail("the pipeline is not needed to refuse a file"))
    link = tmp_path / "[clickme](javascript:alert(7)).txt"
    link.write_bytes(b"\xff\xfe\x00binary")
    message = handlers.add_document(str(link))
    assert "cannot be indexed" in message
    assert r"\[clickme\]\(javascript\_alert\(7\)\)\.txt" in message
    hidden = tmp_path / ".txt"
    hidden.write_text("x", encoding="utf-8")
    message = handlers.add_document(str(hidden))
    assert message.startswith("文件名无效。") and "rename the file" in message
