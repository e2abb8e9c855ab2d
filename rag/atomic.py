"""Writing a file so that readers see the old content or the new one, never half of either."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomically(target: Path, data: bytes | str) -> None:
    """Write through a hidden temporary file beside ``target`` (never indexed: its name
    starts with a dot), then rename it over ``target``."""
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}{target.suffix}")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
