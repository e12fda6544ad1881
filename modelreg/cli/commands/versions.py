"""register, list, show, annotate and diff: recording versions and reading them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import reads, writes
from ..group import command
from ..options import (
    JsonOpt,
    ModelArg,
    QuietOpt,
    ReasonOpt,
    RegistryOpt,
    complete_model,
    complete_ref,
    complete_second_ref,
    complete_stage,
    open_registry,
    pairs,
)
from ..output import Output, guard


@command(library="Registry.register")
def register(
    name: ModelArg,
    paths: Annotated[list[Path], typer.Argument(help="Files or directories holding the model.", show_default=False)],
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="Metric KEY=NUMBER (repeatable, each key once).")
    ] = None,
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
        typer.Option(
            "--author", help="Who registers (default: $MODELREG_AUTHOR, the CI's actor, git user.name, login name)."
        ),
    ] = None,
    link: Annotated[
        bool,
        typer.Option(
            "--link",
            help="Store a copy-on-write clone where the filesystem can (btrfs, XFS, ZFS), else a copy; never a link.",
        ),
    ] = False,
    python: Annotated[
        Path | None,
        typer.Option(
            "--python",
            help="The training interpreter, whose Python and packages are recorded "
            "(default: the active virtual or conda environment).",
        ),
    ] = None,
    env_file: Annotated[
        list[Path] | None,
        typer.Option("--env-file", help="An environment file kept with the version under environment/ (repeatable)."),
    ] = None,
    reason: ReasonOpt = None,
    sign: Annotated[
        Path | None,
        typer.Option("--sign", help="Sign the new version with this EC private key (OpenSSF Model Signing)."),
    ] = None,
    push: Annotated[bool, typer.Option("--push", help="Upload the new blobs to the remote store.")] = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Record a new version of NAME from files or directories.

    A file is stored under its base name, a directory's files under their /-separated relative paths; a registry
    directory inside an input directory is skipped. A metric is a JSON number (0.85, -1e3; not nan, 0x10 or integers
    beyond 2**53). A key given twice (-m acc=0.9 -m acc=0.8, or in the file and by --metric) and spaces around '='
    (acc= 0.5) are refused (exit 2). The training environment is recorded in lineage.environment (--python,
    --env-file).
    """
    writes.register(
        name,
        paths,
        metric=metric,
        param=param,
        tag=tag,
        metrics_file=metrics_file,
        description=description,
        dataset=dataset,
        stage=stage,
        author=author,
        link=link,
        python=python,
        env_file=env_file,
        reason=reason,
        sign=sign,
        push=push,
        registry=registry,
        json=json,
        quiet=quiet,
    )


@command("list", library="Registry.listing")
def list_(
    name: Annotated[
        str | None, typer.Argument(help="List this model's versions.", autocompletion=complete_model)
    ] = None,
    stage: Annotated[
        str | None, typer.Option("--stage", help="Only what is in this stage.", autocompletion=complete_stage)
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only what carries tag KEY=VALUE.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="With NAME: only versions where KEY OP VALUE holds, e.g. metrics.auc>=0.9, params.C=0.1, "
            "tags.owner=ada, observed.accuracy<0.8, stage=staging, alias=champion (repeatable; all must hold).",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option("--sort", help="With NAME: sort by KEY (metrics.auc, version, created_at; -KEY descending)."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="With NAME: at most N versions.")] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """Every model with its latest version and stages, or one model's versions.

    --stage keeps the models with a version in that stage (the versions in it, with NAME); --tag filters model tags
    for list, version tags for list NAME.
    """
    reads.list_(name, stage=stage, tag=tag, where=where, sort=sort, limit=limit, registry=registry, json=json)


@command(library="Registry.show")
def show(
    ref: Annotated[
        str, typer.Argument(help="NAME (the model) or NAME@REF (one version).", autocompletion=complete_ref)
    ],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """One model with its versions, or one version in full with its stage history."""
    reads.show(ref, registry=registry, json=json)


@command(library="Registry.annotate")
def annotate(
    target: Annotated[
        str, typer.Argument(help="NAME (the model) or NAME@REF (one version).", autocompletion=complete_ref)
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
            from ...errors import UsageError

            raise UsageError("nothing to change: give --description, --tag or --untag")
        set_tags = pairs(tag, "tag")
        for key in sorted(set(untag or [])):
            if key in set_tags or (untag or []).count(key) > 1:
                from ...errors import UsageError

                why = "both set by --tag and removed by --untag" if key in set_tags else "given twice to --untag"
                raise UsageError(f"tag {key!r} is {why}; give it once", code="duplicate_key")
        reg = open_registry(registry, out)
        result = reg.annotate(target, description=description, set_tags=set_tags, unset_tags=untag)
        for key in result.missing_tags:
            out.warn(f"tag {key!r} was not set")
        data = result.to_json()
        label = result.name if result.version is None else f"{result.name}@{result.version}"
        out.result(data, lambda o: o.line(f"Annotated {label}" if result.changed else f"{label}: nothing changed"))


@command(library="Registry.diff")
def diff(
    a: Annotated[str, typer.Argument(help="First version, NAME@REF.", autocompletion=complete_ref)],
    b: Annotated[
        str,
        typer.Argument(
            help="Second version: NAME@REF, or a bare REF (number, latest, stage, digest) of A's model.",
            autocompletion=complete_second_ref,
        ),
    ],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """What changed between two versions: files, metrics, params and tags.

    Shows files added, removed and changed, metric deltas, param and tag changes. A bare B that is a version number,
    latest, a stage or a digest names a version of A's model (diff m@1 2); anything else is NAME[@REF].
    """
    out = Output(json)
    with guard(out):
        from .. import render

        compared = open_registry(registry, out).diff(a, b)
        va, vb, result = compared.a, compared.b, compared.changes

        def human(o: Output) -> None:
            o.line(
                f"{va.name}@{va.version} -> {vb.name}@{vb.version}"
                + (" (same content)" if result["same_content"] else "")
            )
            files = result["files"]
            rows = [["+", f["path"], f["size"]] for f in files["added"]]
            rows += [["-", f["path"], f["size"]] for f in files["removed"]]
            rows += [["~", f["path"], f"{f['a']['size']} -> {f['b']['size']}"] for f in files["changed"]]
            if rows:
                render.table(o, ["", "file", "size"], rows, title="files")
            mrows = [[k, m["a"], m["b"], m["delta"]] for k, m in result["metrics"].items()]
            if mrows:
                render.table(o, ["metric", "a", "b", "delta"], mrows, title="metrics")
            for section in ("params", "tags"):
                crow = [[k, c["a"], c["b"]] for k, c in result[section].items()]
                if crow:
                    render.table(o, [section[:-1], "a", "b"], crow, title=section)
            env = result.get("environment")
            if env:
                packages = env["packages"]
                erows = [["python", env["python"]["a"], env["python"]["b"]]] if env["python"] else []
                erows += [[k, c["a"], c["b"]] for k, c in packages["changed"].items()]
                erows += [[k, "-", ver] for k, ver in packages["added"].items()]
                erows += [[k, ver, "-"] for k, ver in packages["removed"].items()]
                render.table(o, ["package", "a", "b"], erows, title="environment")

        out.result(compared.to_json(), human)
