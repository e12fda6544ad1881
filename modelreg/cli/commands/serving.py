"""get, get-production and export: handing out a version's verified files."""

from __future__ import annotations

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
    from ...records.manifest import Version
    from ...registry import Registry


PathOpt = Annotated[bool, typer.Option("--path", help="Print only the local directory holding its verified files.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write its verified files into DIR.")]


@command()
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
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """Any version, as get-production gives the production one (exit 3 when REF names nothing,
    4 when it was removed: `show` still displays a removed version)."""
    out = Output(json)
    with guard(out):
        reg = open_registry(registry, out)
        _hand_out(out, reg, reg.servable(reg.resolve(ref)), path, output)


@command("get-production")
def get_production(
    name: ModelArg,
    path: PathOpt = False,
    output: OutputOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """The version in production (exit 3 when there is none)."""
    out = Output(json)
    with guard(out):
        reg = open_registry(registry, out)
        _hand_out(out, reg, reg.get_production(name), path, output)


def _hand_out(out: Output, reg: Registry, v: Version, path: bool, output: Path | None) -> None:
    """The version as JSON or a panel; its files written to ``output`` and/or located (``path``)."""
    from ..progress import progress_bar

    data = v.to_json()
    total = sum(f.size for f in v.files)
    if output is not None:
        with progress_bar(out, total, f"write {v.name}@{v.version}") as progress:
            reg.export(v, output, progress=progress)
        data["output"] = str(output.resolve())
    if path:
        with progress_bar(out, total, f"assemble {v.name}@{v.version}") as progress:
            data["path"] = str(reg.materialize(v, progress=progress))
    elif out.json_mode:
        # --json reports where the verified files are; a clone without the blobs, a remote
        # that is down or a registry that cannot be written still learn which version it is
        # (path null, a warning).
        from ...errors import NotFoundError, RemoteError, StorageError

        try:
            data["path"] = data.get("output") or str(reg.materialize(v))
        except (NotFoundError, RemoteError, StorageError) as exc:
            data["path"] = None
            out.warn(exc.message)
    if path and not out.json_mode:
        out.line(data["path"])
        return

    def human(o: Output) -> None:
        from .. import render

        render.version_detail(o, data, production=reg.config.production)

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
        from ..progress import progress_bar
        from ..units import human_size, plural

        reg = open_registry(registry, out)
        version = reg.resolve(ref)
        total = sum(f.size for f in version.files)
        with progress_bar(out, total, f"export {version.name}@{version.version}") as progress:
            written = reg.export(version, dest, progress=progress)
        data = {**version.to_json(), "output": str(dest.resolve())}
        what = f"{plural(len(written), 'file')} ({human_size(total)})"
        text = f"Exported {version.name}@{version.version}: {what} to {dest}"
        out.result(data, lambda o: o.line(text))
