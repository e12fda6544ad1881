"""report: the registry as a static site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..group import command
from ..options import JsonOpt, QuietOpt, RegistryOpt, open_registry
from ..output import Output, guard


@command(library="Registry.report")
def report(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Directory to write the site into: new, empty, or an earlier report (replaced whole).",
        ),
    ] = Path("modelreg-report"),
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a static HTML report of every model (opens from disk, needs no server or network).

    Every model, a page per model with metric charts, stage timeline, lineage links and audit entries, and the
    verify --quick verdict (docs/guide/report.md).
    """
    out = Output(json, quiet)
    with guard(out):
        result = open_registry(registry, out).report(output)
        verdict = {True: "verify --quick passed", False: "verify --quick FAILED", None: "verify --quick did not run"}
        out.result(
            result.to_json(),
            lambda o: o.line(
                f"Wrote {result.path / 'index.html'}: {result.models} models, {result.versions} versions; "
                f"{verdict[result.verify_ok]}"
            ),
        )
