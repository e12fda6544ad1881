"""get, get-production and export: handing out a version's verified files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..group import command
from ..options import (
    JsonOpt,
    ModelArg,
    QuietOpt,
    RegistryOpt,
    complete_ref,
    open_registry,
)
from ..output import Output, guard

if TYPE_CHECKING:
    from ...ops.serving.files import Served
    from ...registry import Registry


PathOpt = Annotated[bool, typer.Option("--path", help="Print only the local directory holding its verified files.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write its verified files into DIR.")]
SignatureOpt = Annotated[
    bool,
    typer.Option(
        "--signature",
        help="Also write its newest signature as model.sig (OpenSSF Model Signing), for model_signing verify.",
    ),
]


@command(library="Registry.get")
def get(
    ref: Annotated[
        str,
        typer.Argument(
            help="NAME[@REF]: a version, stage, alias, latest or digest, with ~N and @{TIME}.",
            autocompletion=complete_ref,
        ),
    ],
    path: PathOpt = False,
    output: OutputOpt = None,
    signature: SignatureOpt = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """Any version, as get-production gives the production one (exit 3 when REF names nothing, 4 when
    it was removed: `show` still displays a removed version).

    REF is a version number, stage, alias, latest or digest, with ~N and @{TIME} (docs/reference/references.md).
    --path, --output and --json work as get-production has them.
    """
    out = Output(json)
    with guard(out):
        reg = open_registry(registry, out)
        _hand_out(out, reg, lambda **how: reg.get(ref, signature=signature, **how), path, output, "get")


@command("get-production", library="Registry.get_production_files")
def get_production(
    name: ModelArg,
    path: PathOpt = False,
    output: OutputOpt = None,
    signature: SignatureOpt = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """The version in production (exit 3 when there is none).

    --path prints only its local directory: a copy in the git-ignored cache, verified when built and rebuilt when it
    changed since. --output DIR writes its verified files there (all or nothing). --json adds path, the cached copy.
    """
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
    from ..progress import planned_bar

    with planned_bar(out, label) as (progress, planned):
        served = call(output=output, path=path or out.json_mode, strict=path, progress=progress, planned=planned)
    if path and not out.json_mode:
        out.line(str(served.path))
        return
    data = served.to_json()

    def human(o: Output) -> None:
        from .. import render

        render.version_detail(o, data, production=reg.config.production)

    out.result(data, human)


@command(library="Registry.get")
def export(
    ref: Annotated[str, typer.Argument(help="NAME[@REF] to export (default @latest).", autocompletion=complete_ref)],
    dest: Annotated[Path, typer.Argument(help="Directory to write the files into.")],
    signature: SignatureOpt = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a version's files into DIR, each verified against its digest."""
    out = Output(json, quiet)
    with guard(out):
        from ..progress import planned_bar
        from ..units import human_size, plural

        reg = open_registry(registry, out)
        with planned_bar(out, "export") as (progress, planned):
            served = reg.get(ref, output=dest, path=False, progress=progress, planned=planned, signature=signature)
        v = served.version
        what = f"{plural(len(served.files), 'file')} ({human_size(served.size)})"
        text = f"Exported {v.name}@{v.version}: {what} to {dest}"
        out.result(served.to_json(), lambda o: o.line(text))
