"""Human output: laid out for a person at the terminal's width, or plain aligned text when piped.

On a terminal (see ``cli/layout.py``) a value is never split across lines, timestamps are
shortened to the minute (UTC, said in the header), sizes are human, and the production stage
stands out. Piped, the text is plain and stable: full timestamps, byte counts, no colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .layout import Col, Word
from .output import Output
from .units import human_size, plural, short_time

PRODUCTION_STYLE = "bold green"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        if value and isinstance(value[0], Word):
            return " ".join(w.text for w in value)
        return ",".join(str(v) for v in value) if value else "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _for_people(value: Any, col: Col) -> list[Word]:
    if isinstance(value, list) and value and isinstance(value[0], Word):
        return value
    text = _fmt(value)
    if col.shows == "time":
        text = short_time(text)
    elif col.shows == "size" and isinstance(value, int):
        text = human_size(value)
    elif col.shows == "digest" and text.startswith("sha256:"):
        text = text[: len("sha256:") + 12]
    if col.kind == "words":
        return [Word(part) for part in text.split(" ") if part] or [Word("-")]
    return [Word(text)]


def _header(col: Col) -> str:
    return f"{col.header} (UTC)" if col.shows == "time" else col.header


def table(
    out: Output,
    headers: Sequence[str | Col],
    rows: Sequence[Sequence[Any]],
    title: str | None = None,
    *,
    row_style: Sequence[str] = (),
    header: bool = True,
) -> None:
    """``header=False`` continues a table in plain output (its rows only); for people it is shown again."""
    cols = [h if isinstance(h, Col) else Col(h) for h in headers]
    if out.people:
        from . import layout

        people_cols = [Col(_header(c), c.kind, c.drop, c.right, c.fold, c.shows) for c in cols]
        cells = [[_for_people(v, c) for v, c in zip(row, cols, strict=True)] for row in rows]
        if title:
            out.line(layout.paint(title, "bold", out.color))
        lines, hidden = layout.table(people_cols, cells, out.width, color=out.color, row_style=row_style)
        for line in lines:
            out.line(line)
        if hidden:
            note = f"({', '.join(hidden)} not shown at {out.width} columns; --json shows everything)"
            for words in layout.wrap([Word(note)], out.width, "text"):
                out.line(layout.paint(" ".join(w.text for w in words), "dim", out.color))
        return
    from .layout import printable

    cells_plain = [[printable(_fmt(c)) for c in row] for row in rows]
    widths = [max([len(c.header)] + [len(r[i]) for r in cells_plain]) for i, c in enumerate(cols)]
    if title:
        out.line(title)
    if header:
        out.line("  ".join(c.header.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for row in cells_plain:
        out.line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def mapping(out: Output, title: str | list[Word], items: Sequence[tuple[str, Any]]) -> None:
    """A block of ``key  value`` lines under a title."""
    if out.people:
        from . import layout

        heading = title if isinstance(title, list) else [Word(title, "bold")]
        out.line(" ".join(layout.paint(w.text, w.style, out.color) for w in heading))
        cells = []
        for key, value in items:
            if isinstance(value, list) and value and isinstance(value[0], Word):
                cells.append((key, value))
            else:
                cells.append((key, [Word(part) for part in _fmt(value).split()] or [Word("-")]))
        for line in layout.pairs(cells, out.width, color=out.color):
            out.line(line)
        return
    out.line(title if isinstance(title, str) else _fmt(title))
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        out.line(f"  {key.ljust(width)}  {_fmt(value)}")


def version_list(numbers: list[int]) -> str:
    """``3-5,7,9-11``: runs of three or more as a range; a count when there are many runs."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    if len(runs) > 4:
        return f"{len(numbers)} versions"
    parts = []
    for run in runs:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) >= 3 else ",".join(map(str, run)))
    return ",".join(parts)


def stage_words(stages: dict[str, Any], production: str | None = None) -> list[Word]:
    """One word per stage that holds something, e.g. ``production=3 development=1-2,4``."""
    words = []
    for stage, held in stages.items():
        if held in (None, []):
            continue
        shown = version_list(held) if isinstance(held, list) else _fmt(held)
        words.append(Word(f"{stage}={shown}", PRODUCTION_STYLE if stage == production else ""))
    return words or [Word("-")]


def stage_summary(stages: dict[str, Any]) -> str:
    return " ".join(w.text for w in stage_words(stages))


def stage_word(stage: str, production: str | None) -> list[Word]:
    return [Word(stage, PRODUCTION_STYLE if stage == production else "")]


def metric_words(metrics: dict[str, Any]) -> list[Word]:
    return [Word(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}") for k, v in metrics.items()] or [Word("-")]


def when_by(out: Output, at: str, by: str) -> Any:
    if out.people:
        return [Word(f"{short_time(at)} UTC"), Word("by"), Word(by)]
    return f"{at} by {by}"


def version_detail(
    out: Output, v: dict[str, Any], history: list[dict[str, Any]] | None = None, production: str | None = None
) -> None:
    lineage = v.get("lineage") or {}
    git = lineage.get("git") or {}
    ci = lineage.get("ci") or {}
    people = out.people
    size = v.get("size")
    items: list[tuple[str, Any]] = [
        ("stage", stage_word(v["stage"], production) if people else v["stage"]),
        ("aliases", v.get("aliases") or []),
        ("digest", v["digest"]),
        ("size", human_size(size) if people and isinstance(size, int) else size),
        ("created", when_by(out, v["created_at"], v["created_by"])),
        ("description", v["description"] or "-"),
    ]
    items += [(f"metric {k}", val) for k, val in v["metrics"].items()]
    items += [(f"param {k}", val) for k, val in v["params"].items()]
    items += [(f"tag {k}", val) for k, val in v["tags"].items()]
    if git:
        state = " (dirty)" if git.get("dirty") else ""
        if git.get("untracked"):
            state = " (dirty: untracked files)"
        items.append(("git", f"{(git.get('commit') or '')[:12]} on {git.get('branch') or '-'}{state}"))
    if ci:
        items.append(("ci", f"{ci.get('provider')} run {ci.get('run_id')} {ci.get('url') or ''}".rstrip()))
    imported = lineage.get("imported")
    if isinstance(imported, dict):
        items.append(("imported", imported_from(imported)))
    if lineage.get("datasets"):
        items.append(("datasets", lineage["datasets"]))
    env = lineage.get("environment") or {}
    if env:
        packages = plural(len(env.get("packages") or {}), "package")
        items.append(("environment", f"Python {env.get('python') or '?'}, {packages}"))
    if v.get("path"):
        items.append(("path", v["path"]))
    title: Any = f"{v['name']}@{v['version']}"
    if people:
        title = [Word(title, "bold"), *stage_word(v["stage"], production)]
    mapping(out, title, items)
    file_cols = [Col("path"), Col("size", right=True, shows="size"), Col("digest", shows="digest")]
    rows = [[f["path"], f["size"], f["digest"]] for f in v["files"]]
    if any("safety" in f for f in v["files"]):
        file_cols += [Col("format", drop=1), Col("safety", kind="words")]
        for row, f in zip(rows, v["files"], strict=True):
            unsafe = f.get("unsafe_imports")
            row += [f.get("format") or "?", f"{f['safety']}: {', '.join(unsafe)}" if unsafe else f["safety"]]
    table(out, file_cols, rows, title="files")
    if history:
        log_table(out, history, title="history", production=production)


def log_table(
    out: Output,
    entries: list[dict[str, Any]],
    title: str | None = None,
    production: str | None = None,
    *,
    header: bool = True,
) -> None:
    rows = []
    for e in entries:
        target = e.get("model") or "-"
        if e.get("version") is not None:
            target = f"{target}@{e['version']}"
        change = _change(out, e, production)
        rows.append([e.get("time"), e.get("actor"), e.get("action"), target, change, e.get("reason") or ""])
    cols = [
        Col("time", shows="time"),
        Col("actor", fold=True),
        Col("action"),
        Col("target"),
        Col("change", kind="words"),
        Col("reason", kind="text"),
    ]
    table(out, cols, rows, title=title, header=header)


def _arrow(out: Output, before: list[Word], after: list[Word]) -> Any:
    if out.people:
        return [*before, *([Word("→")] if before else []), *after]
    return f"{' '.join(w.text for w in before)}->{' '.join(w.text for w in after)}"


def _change(out: Output, e: dict[str, Any], production: str | None) -> Any:
    """What an entry did, in a few words: a stage move, an alias set or deleted, a removal."""
    action = e.get("action")
    came = [Word(str(e["from_stage"]))] if e.get("from_stage") else []
    if action == "alias" and isinstance(e.get("alias"), str):
        alias = e["alias"]
        previous = e.get("previous")
        before = [Word(f"{alias}@{previous}")] if previous is not None else []
        if e.get("version") is None:
            return _arrow(out, before or [Word(alias)], [Word("deleted", "red")])
        named = [Word(alias), Word("="), Word(f"@{e['version']}")]
        if previous is None:
            return named if out.people else f"{alias}={e['version']}"
        return _arrow(out, before, [Word(f"{alias}@{e['version']}")])
    if action == "remove":
        change = _arrow(out, came, [Word("removed", "red")])
        dropped = [a for a in e.get("aliases") or [] if isinstance(a, str)]
        if dropped:
            gone = f"aliases deleted: {', '.join(dropped)}"
            change = [*change, Word(f"({gone})")] if out.people else f"{change} ({gone})"
        return change
    if e.get("to_stage"):
        return _arrow(out, came, stage_word(str(e["to_stage"]), production))
    if action in ("deploy", "undeploy") and isinstance(e.get("env"), str):
        return f"{'->' if action == 'deploy' else 'out of '}{e['env']}"  # where it runs
    if action == "observe" and isinstance(e.get("metrics"), dict):
        return " ".join(f"{k}={v}" for k, v in e["metrics"].items())
    return ""


def imported_from(imported: dict[str, Any]) -> str:
    """Where an imported version came from, as a person would say it."""
    source = {"mlflow": "MLflow"}.get(str(imported.get("from")), str(imported.get("from") or "?"))
    where = f" at {imported['tracking_uri']}" if imported.get("tracking_uri") else ""
    what = f"{imported.get('name') or '?'} version {imported.get('version') or '?'}"
    run = f", run {imported['run_id']}" if imported.get("run_id") else ""
    return f"{source}{where}: {what}{run}"


def alias_words(aliases: Sequence[str]) -> list[Word]:
    return [Word(a) for a in aliases]


def drop_empty(cols: list[Col], rows: list[list[Any]], header: str) -> tuple[list[Col], list[list[Any]]]:
    """Without the column ``header`` when no row has anything in it (a model without aliases
    keeps the table it always had)."""
    at = next(i for i, c in enumerate(cols) if c.header == header)
    if any(row[at] for row in rows):
        return cols, rows
    return cols[:at] + cols[at + 1 :], [row[:at] + row[at + 1 :] for row in rows]
