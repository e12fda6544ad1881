"""Counts, sizes and times as people read them: "1 blob", "3 blobs", "1.2 GB", "2026-12-01 18:12"."""

from __future__ import annotations

import re

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?Z")


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 blob``, ``2 blobs``; ``many`` for irregular words (``entry``/``entries``)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def human_size(size: int) -> str:
    """Decimal units, as disks and transfer tools count: ``532 bytes``, ``1.2 MB``, ``3.4 GB``."""
    if size < 1000:
        return plural(size, "byte")
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 999.95 or unit == "PB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def short_time(stamp: str) -> str:
    """An RFC 3339 UTC timestamp to the minute, ``2026-12-01 18:12`` (anything else unchanged)."""
    match = _RFC3339.fullmatch(stamp)
    return f"{match.group(1)} {match.group(2)}" if match else stamp
