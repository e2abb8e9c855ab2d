"""Upload names: made safe to store and to show, whatever the uploader's file was called.

A name is what the documents folder, the Document menu and every citation show,
so it must not hide or reorder text (bidi overrides, zero-width characters),
contain control characters, point elsewhere (path separators), or be hidden
(a leading dot is skipped by the indexer). :func:`safe_upload_name` fixes what
it can and refuses, with a one-line reason, what leaves nothing;
:func:`plain_markdown` shows any name as typed inside a Markdown component.
"""

from __future__ import annotations

import html
import re
import string
import unicodedata

MAX_NAME_BYTES = 255  # the usual file-system limit for one path component
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}  # control, format (bidi, zero-width), …
_SPACES = re.compile(r"\s+")
_RESERVED = re.compile(r'[<>:"|?*]')  # not allowed in Windows file names
# Every ASCII punctuation mark may be backslash-escaped in Markdown; & < > go through html.escape.
_MARKDOWN_PUNCTUATION = re.compile(
    "([" + re.escape("".join(c for c in string.punctuation if c not in "&<>")) + "])"
)


class BadNameError(ValueError):
    """No usable file name is left; the message says why and what to do."""


def safe_upload_name(name: str) -> str:
    """``name`` as a safe file name of the documents folder (raises :class:`BadNameError`).

    NFKC-normalised (full-width letters become ASCII), without control, format
    (bidi overrides, zero-width) or unassigned characters, path components,
    leading dots or spaces, and at most 255 UTF-8 bytes; the suffix is kept.
    """
    cleaned = _clean(_clean(name))  # a removed character can make a new NFKC pair: twice
    base = re.split(r"[\\/]", cleaned)[-1]  # the last component of any path
    stem, dot, suffix = _RESERVED.sub("_", base).rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = stem.strip(" .")  # no hidden file, no trailing dot (Windows drops it)
    suffix = suffix.strip(" ")
    if not stem:
        raise BadNameError(
            f"the file name '{_visible(name)[:80]}' has no name left before its suffix (after "
            "removing leading dots, control and invisible characters); rename the file"
        )
    tail = f".{suffix}" if suffix else ""
    while stem and len((stem + tail).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1].rstrip(" .")
    if not stem:
        raise BadNameError(
            f"the file name '{_visible(name)[:80]}…' is too long; rename the file with a "
            "shorter name"
        )
    return stem + tail


def _visible(name: str) -> str:
    """``name`` with its unprintable characters written as escapes, for a message."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in name)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    return _SPACES.sub(" ", kept).strip()


def plain_markdown(text: str) -> str:
    """``text`` for a Markdown component, shown exactly as typed: no link (not even an
    autolinked ``www.`` or e-mail address), no emphasis, no tag."""
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(text))
    return html.escape(escaped, quote=False).replace("\n", " ")
