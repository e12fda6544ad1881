"""Rendering pages with Jinja2 (autoescaped: every registry value is text, never markup).

Jinja2 is imported here only, on first use: no other command pays for it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

STAGE_CLASSES = frozenset({"development", "staging", "production", "archived"})
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(?:Z|\+00:00)")


def when(moment: str) -> str:
    """An RFC 3339 UTC time to the second (``2026-11-25 12:42:13 UTC``); anything else as it is."""
    match = _RFC3339.fullmatch(moment)
    return f"{match.group(1)} {match.group(2)} UTC" if match else moment


def short_digest(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits: enough to tell versions apart on a page."""
    return digest[:19] + "…" if digest.startswith("sha256:") and len(digest) > 19 else digest


def stage_class(stage: str) -> str:
    return f"stage stage-{stage}" if stage in STAGE_CLASSES else "stage"


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("modelreg.ops.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(short=short_digest, stage_class=stage_class, size=size_text, when=when)
    return env


def render(template: str, **context: Any) -> str:
    return str(environment().get_template(template).render(**context))


def markup(svg: str) -> Any:
    """Chart markup that charts.py built and escaped itself."""
    from markupsafe import Markup

    return Markup(svg)  # charts.py escaped every text it put in
