"""init, register, promote, list, show, get-production and annotate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .app import (
    JsonOpt,
    ModelArg,
    QuietOpt,
    ReasonOpt,
    RegistryOpt,
    _open,
    _pairs,
    _ref_completion,
    command,
    complete_model,
    complete_stage,
)
from .output import Output, guard

if TYPE_CHECKING:
    from ..registry import PromoteResult, Registry


@command()
def init(
    path: Annotated[Path, typer.Argument(help="Directory to create the registry in.")] = Path("."),
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create a registry (running it again on a registry changes nothing)."""
    out = Output(json, quiet)
    with guard(out):
        from ..registry import Registry

        registry, created = Registry.init(path)
        root = str(registry.root.resolve())
        out.result(
            {"path": root, "created": created, "changed": created},
            lambda o: o.line(f"{'Created' if created else 'Already a'} registry at {root}"),
        )


@command()
def register(
    name: ModelArg,
    paths: Annotated[list[Path], typer.Argument(help="Files or directories holding the model.", show_default=False)],
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="Metric KEY=NUMBER (repeatable).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Parameter KEY=VALUE (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag KEY=VALUE (repeatable).")] = None,
    metrics_file: Annotated[
        Path | None, typer.Option("--metrics-file", help="JSON or YAML mapping of metric names to numbers.")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="What this version is.")] = "",
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Dataset used (path, URL or id; repeatable).")
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage", help="Initial stage (default: the registry's default stage).", autocompletion=complete_stage
        ),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--author", help="Who registers (default: $MODELREG_AUTHOR, git user.name, login name)."),
    ] = None,
    link: Annotated[
        bool,
        typer.Option(
            "--link", help="Hard-link the files into the blob store instead of copying (do not modify them afterwards)."
        ),
    ] = False,
    push: Annotated[bool, typer.Option("--push", help="Upload the new blobs to the remote store.")] = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Record a new version of NAME from files or directories."""
    out = Output(json, quiet)
    with guard(out):
        from ..records.names import validate_name

        validate_name(name)
        metrics: dict[str, Any] = {}
        if metrics_file is not None:
            from ..ops.metrics_file import read_metrics_file

            metrics.update(read_metrics_file(metrics_file))
        metrics.update(_pairs(metric, "metric"))
        params, tags = _pairs(param, "param"), _pairs(tag, "tag")
        reg = _open(registry)
        version, archived = reg.register(
            name,
            paths,
            metrics=metrics,
            params=params,
            tags=tags,
            description=description,
            datasets=dataset,
            stage=stage,
            author=author,
            link=link,
        )
        if push or reg.config.remote.push_on_register:
            from ..errors import ModelregError
            from ..ops.transfer import transfer

            try:
                transfer(reg, "push", [version])
            except ModelregError as exc:
                # The version exists: say so, or a retry would register a duplicate.
                exc.message = (
                    f"registered {name}@{version.version}, but pushing its files failed: {exc.message}; "
                    f"run 'modelreg push {name}@{version.version}' to finish"
                )
                raise
        for old in archived:
            out.note(f"{name}@{old} moved to {reg.config.archive_stage}")
        out.result(
            version.to_json(),
            lambda o: o.line(f"Registered {name}@{version.version} ({version.stage}) {version.digest}"),
        )


@command()
def promote(
    ref: Annotated[
        str, typer.Argument(help="NAME@VERSION (or any reference) to move.", autocompletion=_ref_completion)
    ],
    stage: Annotated[str, typer.Argument(help="Target stage.", autocompletion=complete_stage)],
    reason: ReasonOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Move a version to a stage; an exclusive stage's previous holder is archived."""
    out = Output(json, quiet)
    with guard(out):
        reg = _open(registry)
        report_promotion(out, reg, reg.promote(ref, stage, reason=reason))


def report_promotion(out: Output, reg: Registry, result: PromoteResult) -> None:
    """What promote and rollback print: the version, whether it moved, what it displaced."""
    v = result.version
    for old in result.archived:
        out.note(f"{v.name}@{old} moved to {reg.config.archive_stage}")
    data = {
        **v.to_json(),
        "changed": result.changed,
        "from_stage": result.from_stage,
        "archived": list(result.archived),
    }
    if result.changed:
        text = f"Promoted {v.name}@{v.version}: {result.from_stage} -> {v.stage}"
    else:
        text = f"{v.name}@{v.version} is already in {v.stage}; nothing changed"
    out.result(data, lambda o: o.line(text))


@command("list")
def list_(
    name: Annotated[
        str | None, typer.Argument(help="List this model's versions.", autocompletion=complete_model)
    ] = None,
    stage: Annotated[
        str | None, typer.Option("--stage", help="Only what is in this stage.", autocompletion=complete_stage)
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only what carries tag KEY=VALUE.")] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """Every model with its latest version and stages, or one model's versions."""
    out = Output(json)
    with guard(out):
        from . import render

        tags = _pairs(tag, "tag")
        reg = _open(registry)
        if name is None:
            models = reg.list_models(stage=stage, tags=tags)
            if not models and stage is None and not tags:
                out.note("no models yet; add one with: modelreg register NAME PATH...")
            out.result(
                {"models": [m.to_json() for m in models]},
                lambda o: render.table(
                    o,
                    ["name", "latest", "stages", "description"],
                    [[m.name, m.latest_version, render.stage_summary(m.stages), m.description] for m in models],
                ),
            )
            return
        versions = reg.list_versions(name, stage=stage, tags=tags)
        out.result(
            {"versions": [v.to_json() for v in versions]},
            lambda o: render.table(
                o,
                ["version", "stage", "created", "by", "metrics", "digest"],
                [
                    [
                        v.version,
                        v.stage,
                        v.created_at,
                        v.created_by,
                        " ".join(f"{k}={val:g}" for k, val in v.metrics.items()),
                        v.digest[:19],
                    ]
                    for v in versions
                ],
            ),
        )


@command()
def show(
    ref: Annotated[
        str, typer.Argument(help="NAME (the model) or NAME@REF (one version).", autocompletion=_ref_completion)
    ],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """One model with its versions, or one version in full with its stage history."""
    out = Output(json)
    with guard(out):
        from ..records.names import parse_ref
        from . import render

        parsed = parse_ref(ref)
        reg = _open(registry)
        if parsed.explicit:
            v = reg.resolve(parsed)
            history = reg.history(v.name, v.version)
            out.result({**v.to_json(), "history": history}, lambda o: render.version_detail(o, v.to_json(), history))
            return
        summary = reg.summary(parsed.name)
        versions = reg.versions(parsed.name)

        def human(o: Output) -> None:
            render.mapping(
                o,
                summary.name,
                [
                    ("description", summary.description or "-"),
                    ("created", f"{summary.created_at} by {summary.created_by}"),
                    ("latest", summary.latest_version),
                    ("stages", render.stage_summary(summary.stages)),
                    *[(f"tag {k}", val) for k, val in summary.tags.items()],
                ],
            )
            render.table(
                o,
                ["version", "stage", "created", "metrics", "description"],
                [
                    [
                        v.version,
                        v.stage,
                        v.created_at,
                        " ".join(f"{k}={x:g}" for k, x in v.metrics.items()),
                        v.description,
                    ]
                    for v in versions
                ],
                title="versions",
            )

        out.result({**summary.to_json(), "versions": [v.to_json() for v in versions]}, human)


@command("get-production")
def get_production(
    name: ModelArg,
    path: Annotated[
        bool, typer.Option("--path", help="Print only the local directory holding its verified files.")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write its verified files into DIR.")] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """The version in production (exit 3 when there is none)."""
    out = Output(json)
    with guard(out):
        reg = _open(registry)
        v = reg.get_production(name)
        data = v.to_json()
        if output is not None:
            reg.export(v, output)
            data["output"] = str(output.resolve())
        if path:
            data["path"] = str(reg.materialize(v))
        elif json:
            # --json reports where the verified files are; a clone without the blobs, or whose
            # remote is down, still learns which version is in production (path null, a warning).
            from ..errors import NotFoundError, RemoteError

            try:
                # Metadata only: an existing cached copy is not hashed again (--path does that).
                data["path"] = data.get("output") or str(reg.materialize(v, rehash=False))
            except (NotFoundError, RemoteError) as exc:
                data["path"] = None
                out.warn(exc.message)
        if path and not json:
            out.line(data["path"])
            return

        def human(o: Output) -> None:
            from . import render

            render.version_detail(o, data)

        out.result(data, human)


@command()
def annotate(
    target: Annotated[
        str, typer.Argument(help="NAME (the model) or NAME@REF (one version).", autocompletion=_ref_completion)
    ],
    description: Annotated[str | None, typer.Option("--description", "-d", help="New description.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Set tag KEY=VALUE (repeatable).")] = None,
    untag: Annotated[list[str] | None, typer.Option("--untag", help="Remove tag KEY (repeatable).")] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Change the description and tags of a model or a version (the only mutable parts)."""
    out = Output(json, quiet)
    with guard(out):
        if description is None and not tag and not untag:
            from ..errors import UsageError

            raise UsageError("nothing to change: give --description, --tag or --untag")
        reg = _open(registry)
        result = reg.annotate(target, description=description, set_tags=_pairs(tag, "tag"), unset_tags=untag)
        for key in result.missing_tags:
            out.warn(f"tag {key!r} was not set")
        data = {
            "name": result.name,
            "version": result.version,
            "description": result.description,
            "tags": result.tags,
            "changed": result.changed,
        }
        label = result.name if result.version is None else f"{result.name}@{result.version}"
        out.result(data, lambda o: o.line(f"Annotated {label}" if result.changed else f"{label}: nothing changed"))
