"""A metric across versions as inline SVG: no script, no library, nothing fetched to draw it.

Colours come from the stylesheet (classes, ``currentColor``), so the chart follows dark mode. A
long history is thinned to the lowest and highest value of each stretch of versions, which keeps
the shape (spikes included) at a fixed size however many versions there are. Coordinates are
rounded so that the same values always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

WIDTH, HEIGHT = 360, 150
LEFT, RIGHT, TOP, BOTTOM = 54, 10, 12, 26
MAX_POINTS = 400  # points drawn at most (pairs of lowest/highest per stretch beyond that)
DOTS_UP_TO = 60  # versions drawn as dots with a tooltip each; beyond that only the line


def label(value: float) -> str:
    """A short axis label: 4 significant digits."""
    return f"{value:.4g}"


def thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """At most MAX_POINTS points that keep each stretch's lowest and highest value, in order."""
    if len(points) <= MAX_POINTS:
        return points
    buckets = MAX_POINTS // 2
    kept: list[tuple[int, float]] = []
    for b in range(buckets):
        part = points[b * len(points) // buckets : (b + 1) * len(points) // buckets]
        if not part:
            continue
        low = min(part, key=lambda p: (p[1], p[0]))
        high = max(part, key=lambda p: (p[1], -p[0]))
        kept.extend(sorted({low, high}))
    return kept


def _fmt(x: float) -> str:
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _version_tick(v: int) -> str:
    return f"v{v}"


def metric_chart(
    metric: str,
    points: list[tuple[int, float]],
    chart_id: str,
    *,
    tick: Callable[[int], str] = _version_tick,
    across: str = "versions",
    noun: tuple[str, str] = ("version", "versions"),
) -> str:
    """SVG markup for ``metric`` over ``points`` (x, value), x ascending: by default x is a
    version number; ``tick`` labels an x (a time, for production readings), ``across`` and
    ``noun`` say what the points are."""
    first, last = points[0], points[-1]
    low = min(points, key=lambda p: (p[1], p[0]))
    high = max(points, key=lambda p: (p[1], -p[0]))
    x0, x1 = first[0], last[0]
    y0, y1 = low[1], high[1]
    span_x = (x1 - x0) or 1
    span_y = (y1 - y0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(v: int) -> float:
        return LEFT + (plot_w / 2 if x1 == x0 else (v - x0) * plot_w / span_x)

    def y(value: float) -> float:
        return TOP + (plot_h / 2 if y1 == y0 else (y1 - value) * plot_h / span_y)

    name = escape(metric)
    summary = (
        f"{len(points)} {noun[0] if len(points) == 1 else noun[1]} from {tick(x0)} to {tick(x1)}: "
        f"lowest {label(low[1])} at {tick(low[0])}, highest {label(high[1])} at {tick(high[0])}, "
        f"latest {label(last[1])} at {tick(last[0])}"
    )
    drawn = thin(points)
    line = " ".join(f"{_fmt(x(v))},{_fmt(y(val))}" for v, val in drawn)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">',
        f'<title id="{chart_id}-t">{name} across {escape(across)}</title>',
        f'<desc id="{chart_id}-d">{escape(summary)}</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{escape(label(y1))}</text>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">{escape(label(y0))}</text>',
        f'<text class="tick" x="{LEFT}" y="{HEIGHT - 8}" text-anchor="start">{escape(tick(x0))}</text>',
        f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{escape(tick(x1))}</text>',
    ]
    if len(drawn) > 1:
        parts.append(f'<polyline class="series" points="{line}"/>')
    if len(points) <= DOTS_UP_TO:
        for v, val in points:
            parts.append(
                f'<circle class="dot" cx="{_fmt(x(v))}" cy="{_fmt(y(val))}" r="3">'
                f"<title>{escape(tick(v))}: {val:.6g}</title></circle>"
            )
    else:
        parts.append(f'<circle class="dot" cx="{_fmt(x(last[0]))}" cy="{_fmt(y(last[1]))}" r="3"/>')
    parts.append("</svg>")
    return "".join(parts)
