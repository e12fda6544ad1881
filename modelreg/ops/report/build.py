"""``report``: the whole site, model by model, then the overview.

Each model is read, rendered and written before the next, so memory follows the largest model,
not the registry. ``verify --quick`` runs beside the rendering in a second process when the
registry is big enough for that to pay (both read every manifest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import ModelregError
from modelreg.repo import Repo

from . import gather
from .assets import ASSETS
from .charts import metric_chart
from .gather import PAGE_SIZE, AuditDigest, Entry, VersionRow
from .links import registry_remote
from .render import markup, render
from .site import Staging, check_destination, resolve_destination
from .verdict import Pending, Verdict, start_verify

MAX_CHARTS = 50
PAGE_WINDOW = 2  # page links shown either side of the current page


@dataclass(frozen=True)
class ReportResult(Reported):
    path: Path
    models: int
    versions: int
    verify_ok: bool | None

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "models": self.models, "versions": self.versions}


@dataclass
class ModelLine:
    """A model as the overview shows it."""

    name: str
    description: str
    latest: int | None
    versions: int
    stages: list[tuple[str, list[tuple[int, str]], int]]  # stage, shown holders (number, href), how many
    aliases: list[tuple[str, int, str]]
    last: Entry | None
    error: str = ""


@dataclass
class Holder:
    stage: str
    exclusive: bool
    versions: list[VersionRow] = field(default_factory=list)


def build_report(reg: Repo, output: Path, *, parallel: bool | None = None) -> ReportResult:
    dest = resolve_destination(Path(output), reg.root)
    check_destination(dest)
    reg.recover_all()  # as verify does first: a half-applied change is finished, not shown
    staging = Staging(dest)
    verdict: Pending | None = None
    try:
        verdict = start_verify(reg, parallel)
        for rel, data in ASSETS.items():
            staging.write(rel, data)
        remote = registry_remote(reg.root)
        audit = gather.read_audit(reg)
        site = {"as_of": audit.newest_time, "stages": reg.config.stages}
        lines, total = [], 0
        for name in reg.model_names():
            line = _model(reg, staging, name, audit, remote, site)
            lines.append(line)
            total += line.versions
        result = verdict.result()
        staging.write(
            "index.html",
            render(
                "index.html",
                root="",
                site=site,
                models=lines,
                versions=total,
                recent=gather.newest_first(audit.recent),
                audit_total=audit.total,
                verdict=result,
                environments=gather.environments(reg),
            ),
        )
        staging.finish()
    except BaseException:
        if verdict is not None:
            verdict.cancel()
        staging.discard()
        raise
    if result.ok is False:
        reg.warnings.append(f"verify --quick found {result.errors} problem(s); the report lists them")
    return ReportResult(dest, len(lines), total, result.ok)


def _model(
    reg: Repo, staging: Staging, name: str, audit: AuditDigest, remote: str | None, site: dict[str, Any]
) -> ModelLine:
    from modelreg.ops.lifecycle.alias import aliases as read_aliases
    from modelreg.ops.queries.listing import summary

    log = audit.models.get(name, gather.ModelLog())
    last = gather.entry(log.last) if log.last is not None else None
    try:
        info = summary(reg, name).to_json()
        alias_map = read_aliases(reg, name)
        rows = gather.read_versions(reg, name, remote)
    except ModelregError as exc:
        message = exc.message.replace(f"{reg.root}/", "")
        staging.write(
            f"models/{name}/index.html", render("broken.html", root="../../", site=site, name=name, error=message)
        )
        return ModelLine(name, "", None, 0, [], [], last, message)
    by_number = {r.number: r for r in rows}
    holders = _holders(reg, info.get("stages"), by_number)
    alias_list = sorted(
        (gather.text(alias, 200), number, _href(by_number, number)) for alias, number in alias_map.items()
    )
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    charts = _charts(rows)
    observed = _observed_charts(gather.observed_series(reg, name))
    metric_names = sorted({k for r in rows for k in r.metrics})
    columns = metric_names if len(metric_names) <= gather.METRIC_COLUMNS else metric_names[: gather.METRIC_COLUMNS]
    common = {
        "root": "../../",
        "site": site,
        "name": name,
        "columns": columns,
        "more_metrics": len(metric_names) > len(columns),
        "pages": pages,
        "total": len(rows),
    }
    for page in range(1, pages + 1):
        shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        context = {**common, "page": page, "rows": shown, "nav": _page_nav(page, pages)}
        if page == 1:
            staging.write(
                f"models/{name}/index.html",
                render(
                    "model.html",
                    **context,
                    info=info,
                    description=gather.text(info.get("description")),
                    tags=gather.pairs(info.get("tags")),
                    holders=holders,
                    aliases=alias_list,
                    charts=charts,
                    metric_count=len(metric_names),
                    timeline=gather.newest_first(log.changes),
                    timeline_total=log.changes_total,
                    deploys=gather.newest_first(log.deploys),
                    deploys_total=log.deploys_total,
                    observed=observed,
                    recent=gather.newest_first(log.recent),
                    log_total=log.total,
                    last=last,
                    href=lambda r: _href(by_number, r.number),
                    latest_href=_href(by_number, info["latest_version"]) if info.get("latest_version") else "",
                ),
            )
        else:
            staging.write(f"models/{name}/versions-{page}.html", render("versions.html", **context))
    overview_stages = []
    for h in holders:
        shown_rows = sorted(h.versions, key=lambda r: -r.number)[: gather.HOLDERS_SHOWN]
        overview_stages.append(
            (h.stage, [(r.number, f"models/{name}/{_href(by_number, r.number)}") for r in shown_rows], len(h.versions))
        )
    return ModelLine(
        name=name,
        description=gather.text(info.get("description"), 300),
        latest=info.get("latest_version") if isinstance(info.get("latest_version"), int) else None,
        versions=len(rows),
        stages=overview_stages,
        aliases=[(a, n, f"models/{name}/{href}") for a, n, href in alias_list],
        last=last,
    )


def _href(by_number: dict[int, VersionRow], number: int) -> str:
    """The page of the model (relative to its directory) that lists ``number``, with its anchor."""
    row = by_number.get(number)
    page = row.page if row is not None else 1
    return f"{'index.html' if page == 1 else f'versions-{page}.html'}#v{number}"


def _holders(reg: Repo, stages: Any, by_number: dict[int, VersionRow]) -> list[Holder]:
    result = []
    stage_map = stages if isinstance(stages, dict) else {}
    for stage in reg.config.stages:
        held = stage_map.get(stage)
        numbers = [held] if isinstance(held, int) else [n for n in held or [] if isinstance(n, int)]
        rows = [by_number[n] for n in sorted(numbers) if n in by_number]
        result.append(Holder(stage, stage in reg.config.exclusive, rows))
    return result


def _charts(rows: list[VersionRow]) -> list[tuple[str, str, Any]]:
    """(metric, latest value, svg) for each metric (the first MAX_CHARTS by name)."""
    series: dict[str, list[tuple[int, float]]] = {}
    latest: dict[str, str] = {}
    for row in reversed(rows):  # oldest first
        for key, value in row.values.items():
            series.setdefault(key, []).append((row.number, value))
            latest[key] = row.metrics[key]
    charts = []
    for i, key in enumerate(sorted(series)[:MAX_CHARTS]):
        charts.append((key, latest[key], markup(metric_chart(key, series[key], f"chart-{i}"))))
    return charts


def _observed_charts(series: dict[str, list[tuple[str, int, float, str]]]) -> list[tuple[str, str, Any]]:
    """(metric, latest reading, svg) for each metric observed in production, over time."""
    from datetime import UTC, datetime

    charts = []
    for i, (key, readings) in enumerate(list(series.items())[:MAX_CHARTS]):
        points = []
        for at, _version, value, _env in readings:
            try:
                moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                continue  # a reading whose time cannot be placed is listed by log, not charted
            points.append((int(moment.timestamp()), value))
        if not points:
            continue
        last = readings[-1]
        latest = f"{gather.number(last[2])} (v{last[1]}{', ' + last[3] if last[3] else ''})"

        def tick(seconds: int) -> str:
            return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")

        svg = metric_chart(
            key, points, f"observed-{i}", tick=tick, across="time in production", noun=("reading", "readings")
        )
        charts.append((key, latest, markup(svg)))
    return charts


def _page_nav(page: int, pages: int) -> list[tuple[int, str]]:
    """The page links around ``page``: first, a window either side, last (gaps are 0)."""
    if pages == 1:
        return []
    wanted = {1, pages, *range(max(1, page - PAGE_WINDOW), min(pages, page + PAGE_WINDOW) + 1)}
    nav: list[tuple[int, str]] = []
    previous = 0
    for n in sorted(wanted):
        if n - previous > 1:
            nav.append((0, ""))
        nav.append((n, "index.html" if n == 1 else f"versions-{n}.html"))
        previous = n
    return nav


__all__ = ["ReportResult", "Verdict", "build_report"]
