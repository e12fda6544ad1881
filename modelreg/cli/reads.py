"""The read commands ``get``, ``get-production``, ``list`` and ``show``, without Typer.

Their Typer commands (``commands/serving.py``, ``commands/versions.py``) parse the command line
and call these functions; ``fast_path.py`` parses the plain forms of the same command lines
itself and calls the same functions with the same values, so both ways print the same bytes and
exit with the same code. Every parameter is required: a new option of a command must be passed
by both callers (mypy says where). Rendering for people is imported only when it is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .output import Output, guard, open_registry

if TYPE_CHECKING:
    from ..ops.serving.files import Served
    from ..ops.teams.unused import UnusedClaim
    from ..registry import Registry


def get(ref: str, *, path: bool, output: Path | None, signature: bool, registry: Path | None, json: bool) -> None:
    out = Output(json)
    with guard(out):
        reg = open_registry(registry, out)
        _hand_out(out, reg, lambda **how: reg.get(ref, signature=signature, **how), path, output, "get")


def get_production(
    name: str, *, path: bool, output: Path | None, signature: bool, registry: Path | None, json: bool
) -> None:
    out = Output(json)
    with guard(out):
        reg = open_registry(registry, out)
        _hand_out(
            out, reg, lambda **how: reg.get_production_files(name, signature=signature, **how), path, output, "get"
        )


def _hand_out(
    out: Output, reg: Registry, call: Callable[..., Served], path: bool, output: Path | None, label: str
) -> None:
    """The version as JSON or a panel; its files written to ``output`` and/or located (``path``).

    --path insists on the located copy; --json reports where the verified files are, and learns
    which version it is even when they cannot be had (path null, a warning); a person without
    --path is shown the version alone."""
    from .progress import planned_bar

    with planned_bar(out, label) as (progress, planned):
        served = call(output=output, path=path or out.json_mode, strict=path, progress=progress, planned=planned)
    if path and not out.json_mode:
        out.line(str(served.path))
        return
    data = served.to_json()

    def human(o: Output) -> None:
        from . import render

        render.version_detail(o, data, production=reg.config.production)

    out.result(data, human)


def list_(
    name: str | None,
    *,
    stage: str | None,
    tag: list[str] | None,
    where: list[str] | None,
    sort: str | None,
    limit: int | None,
    registry: Path | None,
    json: bool,
) -> None:
    out = Output(json)
    with guard(out):
        from ..ops.views import ModelList
        from .values import pairs

        tags = pairs(tag, "tag")
        reg = open_registry(registry, out)
        production = reg.config.production
        result = reg.listing(name, stage=stage, tags=tags, where=where, sort=sort, limit=limit)
        if isinstance(result, ModelList):
            models = result.models
            if not models and stage is None and not tags:
                out.note("no models yet; add one with: modelreg register NAME PATH...")

            def table(o: Output) -> None:
                from . import render
                from .layout import Col

                render.table(
                    o,
                    [Col("name"), Col("latest", right=True), Col("stages", "words"), Col("description", "text")],
                    [
                        [m.name, m.latest_version, render.stage_words(m.stages, production), m.description]
                        for m in models
                    ],
                )

            out.result(result.to_json(), table)
            return
        versions = result.versions

        def human(o: Output) -> None:
            from . import render
            from .layout import Col

            cols, rows = render.drop_empty(
                [
                    Col("version", right=True),
                    Col("stage"),
                    Col("created", shows="time"),
                    Col("by", drop=1),
                    Col("aliases", "words", drop=3),
                    Col("metrics", "words"),
                    Col("digest", drop=2),
                ],
                [
                    [
                        v.version,
                        render.stage_word(v.stage or "removed", production),
                        v.created_at,
                        v.created_by,
                        render.alias_words(v.aliases),
                        render.metric_words(v.metrics),
                        v.digest[:19] if not o.people else v.digest[:15],
                    ]
                    for v in versions
                ],
                "aliases",
            )
            render.table(o, cols, rows, row_style=["bold" if v.stage == production else "" for v in versions])

        out.result(result.to_json(), human)


def show(ref: str, *, registry: Path | None, json: bool) -> None:
    out = Output(json)
    with guard(out):
        from ..ops.views import VersionView

        reg = open_registry(registry, out)
        production = reg.config.production
        shown = reg.show(ref)
        if isinstance(shown, VersionView):
            v, history, requests = shown.version, list(shown.history), shown.requests
            observed, deployed = shown.observed, shown.deployed

            def detail(o: Output) -> None:
                from . import render
                from .layout import Col

                render.version_detail(o, shown.document, history, production=production)
                if deployed:
                    render.table(
                        o,
                        [Col("env"), Col("since", shows="time"), Col("by")],
                        [[d["env"], d["since"], d["by"]] for d in deployed],
                        title="deployed",
                    )
                if observed:
                    render.table(
                        o,
                        [Col("metric"), Col("value", right=True), Col("measured", shows="time"), Col("env")],
                        [[k, r["value"], r["at"], r["env"]] for k, r in observed.items()],
                        title="observed in production (latest reading)",
                    )
                if v.removed:
                    o.line(f"REMOVED {v.removed['removed_at']} by {v.removed['removed_by']}: {v.removed['reason']}")
                if requests:
                    render.table(
                        o,
                        ["request", "move", "status", "approvals", "requested by", "approved by"],
                        [
                            [
                                r["id"],
                                f"{r['from_stage']}->{r['stage']}",
                                r["status"],
                                f"{r['granted']}/{r['required']}",
                                r["requested_by"],
                                r["approved_by"],
                            ]
                            for r in requests
                        ],
                        title="requests",
                    )

            out.result(shown.to_json(), detail)
            return
        summary, versions, unused = shown.summary, shown.versions, shown.unused

        def human(o: Output) -> None:
            from . import render
            from .layout import Col

            stages = render.stage_words(summary.stages, production)
            render.mapping(
                o,
                summary.name,
                [
                    ("description", summary.description or "-"),
                    ("created", render.when_by(o, summary.created_at, summary.created_by)),
                    ("latest", summary.latest_version),
                    ("stages", stages if o.people else render.stage_summary(summary.stages)),
                    *[(f"tag {k}", val) for k, val in summary.tags.items()],
                    *[(f"claimed {u.version}", _claim_words(u)) for u in unused],
                ],
            )
            cols, rows = render.drop_empty(
                [
                    Col("version", right=True),
                    Col("stage"),
                    Col("created", shows="time"),
                    Col("aliases", "words", drop=1),
                    Col("metrics", "words"),
                    Col("description", "text"),
                ],
                [
                    [
                        v.version,
                        render.stage_word(v.stage or "removed", production),
                        v.created_at,
                        render.alias_words(v.aliases),
                        render.metric_words(v.metrics),
                        v.description,
                    ]
                    for v in versions
                ],
                "aliases",
            )
            render.table(
                o, cols, rows, title="versions", row_style=["bold" if v.stage == production else "" for v in versions]
            )

        out.result(shown.to_json(), human)


def _claim_words(claim: UnusedClaim) -> str:
    if claim.actor is None:
        return "no version here; its claim could not be read"
    return (
        f"by {claim.actor} at {claim.time} on {claim.host}, no version here "
        "(abandoned, or not pulled yet; never reused)"
    )
