"""get, get-production and export: handing out a version's verified files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import reads
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
    reads.get(ref, path=path, output=output, signature=signature, registry=registry, json=json)


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
    reads.get_production(name, path=path, output=output, signature=signature, registry=registry, json=json)


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
