"""get-production and export: handing out a version's verified files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
        reg = open_registry(registry, out)
        v = reg.get_production(name)
        data = v.to_json()
        if output is not None:
            reg.export(v, output)
            data["output"] = str(output.resolve())
        if path:
            data["path"] = str(reg.materialize(v))
        elif json:
            # --json reports where the verified files are; a clone without the blobs, a remote
            # that is down or a registry that cannot be written still learn which version it is
            # (path null, a warning).
            from ...errors import NotFoundError, RemoteError, StorageError

            try:
                data["path"] = data.get("output") or str(reg.materialize(v))
            except (NotFoundError, RemoteError, StorageError) as exc:
                data["path"] = None
                out.warn(exc.message)
        if path and not json:
            out.line(data["path"])
            return

        def human(o: Output) -> None:
            from .. import render

            render.version_detail(o, data)

        out.result(data, human)


@command()
def export(
    ref: Annotated[str, typer.Argument(help="NAME[@REF] to export (default @latest).", autocompletion=complete_ref)],
    dest: Annotated[Path, typer.Argument(help="Directory to write the files into.")],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a version's files into DIR, each verified against its digest."""
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        version = reg.resolve(ref)
        written = reg.export(version, dest)
        data = {**version.to_json(), "output": str(dest.resolve())}
        out.result(data, lambda o: o.line(f"Exported {version.name}@{version.version}: {len(written)} files to {dest}"))
