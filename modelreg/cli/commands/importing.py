"""import: bringing models from another registry (MLflow) into this one."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from ..group import command
from ..options import JsonOpt, QuietOpt, RegistryOpt, open_registry
from ..output import Output, guard

if TYPE_CHECKING:
    from ...ops.importers.report import ImportReport

SOURCES = ("mlflow",)


@command("import", library="Registry.import_mlflow")
def import_(
    source: Annotated[str, typer.Argument(help="Where the models come from: mlflow.", show_default=False)],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="The MLflow store: sqlite:///mlflow.db, a file store (file:///.../mlruns) or a tracking server "
            "(http://host:5000). Default: $MLFLOW_TRACKING_URI.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Only this MLflow model (repeatable; default: every one).")
    ] = None,
    rename: Annotated[
        list[str] | None,
        typer.Option("--rename", help="MLFLOW_NAME=NAME: the model name here for an MLflow model (repeatable)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be imported and updated; change nothing.")
    ] = False,
    author: Annotated[
        str | None,
        typer.Option("--author", help="Who imports (default: $MODELREG_AUTHOR, git user.name, login name)."),
    ] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Copy registered models from MLflow; run it again to bring over what is new.

    Reads a sqlite store, a file store or a tracking server: versions, files, metrics, params, stages and aliases
    (docs/guide/import-mlflow.md).
    """
    out = Output(json, quiet)
    with guard(out):
        from ...errors import UsageError

        if source not in SOURCES:
            raise UsageError(f"unknown source {source!r}; modelreg imports from: {', '.join(SOURCES)}")
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise UsageError("give the MLflow store: --tracking-uri URI (or set MLFLOW_TRACKING_URI)")
        renames: dict[str, str] = {}
        for pair in rename or []:
            old, sep, new = pair.rpartition("=")  # an MLflow name may hold '=', a model name here not
            if not sep or not old:
                raise UsageError(f"--rename expects MLFLOW_NAME=NAME, got {pair!r}")
            renames[old] = new
        reg = open_registry(registry, out)
        from ..progress import step_bar

        with step_bar(out, "reading MLflow") as progress:
            report = reg.import_mlflow(
                uri, models=model, renames=renames, dry_run=dry_run, actor=author, progress=progress
            )
        out.result(report.to_json(), lambda o: _render(o, report))


def _render(out: Output, report: ImportReport) -> None:
    from .. import render

    would = "would be " if report.dry_run else ""
    if report.imported:
        rows = [
            [
                f"{i.model}@{i.version}" if i.version else i.model,
                f"{i.mlflow_name} {i.mlflow_version}",
                i.stage,
                "-" if report.dry_run else i.files,
                "-" if report.dry_run else i.size,
            ]
            for i in report.imported
        ]
        title = f"{'Would import' if report.dry_run else 'Imported'} from {report.source}"
        render.table(out, ["version", "mlflow", "stage", "files", "bytes"], rows, title=title)
    if report.updated:
        rows = [
            [f"{u.model}@{u.version}" if u.version else u.model, u.field, _text(u.old), _text(u.new)]
            for u in report.updated
        ]
        title = "Would update" if report.dry_run else "Updated"
        render.table(out, ["target", "field", "was", "now"], rows, title=title)
    if report.skipped:
        rows = [
            [s.model or "-", f"{s.mlflow_name} {s.mlflow_version or ''}".strip(), s.what, s.item or "-", s.reason]
            for s in report.skipped
        ]
        render.table(out, ["model", "mlflow", "what", "item", "reason"], rows, title="Not brought over")
    if report.renamed:
        rows = [[r.model, r.what, r.original, r.name] for r in report.renamed]
        render.table(out, ["model", "what", "mlflow name", "name here"], rows, title="Renamed")
    verb = "would import" if report.dry_run else "imported"
    out.line(
        f"{_count(len(report.models), 'model')}: {verb} {_count(len(report.imported), 'version')}, "
        f"{would}updated {len(report.updated)}, not brought over {len(report.skipped)}, "
        f"{_count(report.unchanged, 'version')} already up to date"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _text(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={'-' if v is None else v}" for k, v in value.items()) or "-"
    return "-" if value is None or value == "" else str(value)
