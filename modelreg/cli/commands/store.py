"""upgrade and stats: the storage format and what it saves."""

from __future__ import annotations

from typing import Annotated

import typer

from ..group import command
from ..options import JsonOpt, QuietOpt, RegistryOpt, complete_model, open_registry
from ..output import Output, guard
from ..units import human_size


@command(library="Registry.upgrade")
def upgrade(
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Convert the registry to format 2 in place: large files become chunks (safe to interrupt and rerun).

    Converts a format-1 registry to format 2 (docs/storage-format.md).
    """
    out = Output(json, quiet)
    with guard(out):
        from ..progress import planned_bar

        reg = open_registry(registry, out)
        with planned_bar(out, "") as (progress, planned):
            report = reg.upgrade(progress=progress, planned=planned)

        def human(o: Output) -> None:
            changed = f"format {report.from_format} -> {report.to_format}"
            if report.from_format == report.to_format:
                changed = f"already format {report.to_format}"
            o.line(
                f"Upgraded ({changed}): {len(report.converted)} large files now stored as chunks "
                f"({human_size(report.bytes_converted)} as {human_size(report.stored_after)} of new packs)"
            )
            if report.from_format < report.to_format:
                o.note("commit modelreg.toml: every clone of this registry needs a modelreg that reads format 2")

        out.result(report.to_json(), human)


@command(library="Registry.stats")
def stats(
    name: Annotated[str | None, typer.Argument(help="Only this model.", autocompletion=complete_model)] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Logical bytes, stored bytes and the saving, per model and in total.

    Logical bytes are what the versions hold; stored bytes count each blob and chunk once.
    """
    out = Output(json, quiet)
    with guard(out):
        from .. import render

        result = open_registry(registry, out).stats(name)

        def human(o: Output) -> None:
            rows = [
                [u.name, u.versions, u.files, human_size(u.logical), human_size(u.stored), f"{u.saving:.1%}"]
                for u in [*result.models, result.total]
            ]
            render.table(o, ["model", "versions", "files", "logical", "stored", "saving"], rows)
            o.line(f"format {result.format_version}; the store holds {human_size(result.on_disk)} on disk")

        out.result(result.to_json(), human)
