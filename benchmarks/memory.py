"""Resident memory of a process (this one, a worker or the served app), from /proc.

Peak RSS (``VmHWM``) is the figure the target is set on: the kernel keeps it, so one
read after the work shows its worst moment without sampling.
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchmarks.common import TARGETS

log = logging.getLogger(__name__)


def memory_mb(pid: int | str = "self") -> dict[str, float | None]:
    """Current and peak resident memory of a process, in MiB, from /proc (Linux).

    ``file_mb`` is the part that maps files (the index's vector files): page cache
    the kernel can drop and reread, unlike the rest. A value that cannot be read
    is ``None``.
    """
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssFile"):
                out[key] = round(int(value.split()[0]) / 1024, 1)  # the kernel reports kB
    except (OSError, ValueError, IndexError):
        log.warning("Cannot read /proc/%s/status; memory not reported", pid)
    names = {"rss_mb": "VmRSS", "peak_rss_mb": "VmHWM", "file_mb": "RssFile"}
    return {name: out.get(key) for name, key in names.items()}


def memory_section(bench: dict, app: dict | None = None) -> dict:
    """The report's memory section: this process (``bench``) and the app, when served."""
    section = {"bench_peak_rss_mb": bench["peak_rss_mb"], "bench_rss_mb": bench["rss_mb"]}
    if app is not None:
        section |= {"app_peak_rss_mb": app["peak_rss_mb"], "app_rss_mb": app["rss_mb"]}
    return section | {"target_mb": TARGETS["peak_rss_mb"]}
