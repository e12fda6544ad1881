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
SignatureOpt = Annotated[
    bool,
    typer.Option(
        "--signature",
        help="Also write its newest signature as model.sig (OpenSSF Model Signing), for model_signing verify.",
    ),
]


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
        _hand_out(out, reg, reg.servable(reg.resolve(ref)), path, output, signature)


@command("get-production")
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
        _hand_out(out, reg, reg.get_production(name), path, output, signature)


def _hand_out(out: Output, reg: Registry, v: Version, path: bool, output: Path | None, signature: bool = False) -> None:
    """The version as JSON or a panel; its files written to ``output`` and/or located (``path``)."""
    from ..progress import progress_bar

    if signature and output is None:
        from ...errors import UsageError

        raise UsageError("--signature writes model.sig beside the files: it needs --output DIR")
    data = reg.version_json(v)
    total = sum(f.size for f in v.files)
    if output is not None:
        with progress_bar(out, total, f"write {v.name}@{v.version}") as progress:
            reg.export(v, output, progress=progress, signature=signature)
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
    signature: SignatureOpt = False,
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
            written = reg.export(version, dest, progress=progress, signature=signature)
        data = {**reg.version_json(version), "output": str(dest.resolve())}
        what = f"{plural(len(written), 'file')} ({human_size(total)})"
        text = f"Exported {version.name}@{version.version}: {what} to {dest}"
        out.result(data, lambda o: o.line(text))
