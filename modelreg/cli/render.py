"""Human output: rich tables and panels on a terminal, plain aligned text otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .output import Output


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table(out: Output, headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    if out.rich:
        from rich.table import Table
        from rich.text import Text

        tbl = Table(title=title, title_justify="left")
        for header in headers:
            tbl.add_column(header, overflow="fold")  # never truncate: scripts and people copy these
        for row in rows:
            tbl.add_row(*(Text(_fmt(c)) for c in row))  # Text: user strings are never markup
        out.console().print(tbl)
        return
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    if title:
        out.line(title)
    out.line("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        out.line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def mapping(out: Output, title: str, items: Sequence[tuple[str, Any]]) -> None:
    if out.rich:
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        for key, value in items:
            grid.add_row(Text(key), Text(_fmt(value)))
        out.console().print(Panel(grid, title=Text(title), title_align="left"))
        return
    out.line(title)
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        out.line(f"  {key.ljust(width)}  {_fmt(value)}")


def stage_summary(stages: dict[str, Any]) -> str:
    parts = []
    for stage, held in stages.items():
        if held in (None, []):
            continue
        shown = f"{held[0]}..{held[-1]} ({len(held)})" if isinstance(held, list) and len(held) > 5 else _fmt(held)
        parts.append(f"{stage}={shown}")
    return " ".join(parts) or "-"


def version_detail(out: Output, v: dict[str, Any], history: list[dict[str, Any]] | None = None) -> None:
    lineage = v.get("lineage") or {}
    git = lineage.get("git") or {}
    ci = lineage.get("ci") or {}
    items: list[tuple[str, Any]] = [
        ("stage", v["stage"]),
        ("aliases", v.get("aliases") or []),
        ("digest", v["digest"]),
        ("size", v.get("size")),
        ("created", f"{v['created_at']} by {v['created_by']}"),
        ("description", v["description"] or "-"),
    ]
    items += [(f"metric {k}", val) for k, val in v["metrics"].items()]
    items += [(f"param {k}", val) for k, val in v["params"].items()]
    items += [(f"tag {k}", val) for k, val in v["tags"].items()]
    if git:
        items.append(
            (
                "git",
                f"{git.get('commit', '')[:12]} on {git.get('branch') or '-'}{' (dirty)' if git.get('dirty') else ''}",
            )
        )
    if ci:
        items.append(("ci", f"{ci.get('provider')} run {ci.get('run_id')} {ci.get('url') or ''}".rstrip()))
    if lineage.get("datasets"):
        items.append(("datasets", lineage["datasets"]))
    env = lineage.get("environment") or {}
    if env:
        items.append(("environment", f"Python {env.get('python') or '?'}, {len(env.get('packages') or {})} packages"))
    if v.get("path"):
        items.append(("path", v["path"]))
    mapping(out, f"{v['name']}@{v['version']}", items)
    table(out, ["path", "size", "digest"], [[f["path"], f["size"], f["digest"]] for f in v["files"]], title="files")
    if history:
        log_table(out, history, title="history")


def log_table(out: Output, entries: list[dict[str, Any]], title: str | None = None) -> None:
    rows = []
    for e in entries:
        target = e.get("model") or "-"
        if e.get("version") is not None:
            target = f"{target}@{e['version']}"
        move = f"{e.get('from_stage') or ''}->{e.get('to_stage')}" if e.get("to_stage") else ""
        rows.append([e.get("time"), e.get("actor"), e.get("action"), target, move, e.get("reason") or ""])
    table(out, ["time", "actor", "action", "target", "stage", "reason"], rows, title=title)
