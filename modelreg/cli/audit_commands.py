"""log, verify, export and diff."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import JsonOpt, QuietOpt, RegistryOpt, _open, _ref_completion, command, complete_model
from .output import Output, guard


@command()
def log(
    target: Annotated[
        str | None, typer.Argument(help="NAME or NAME@REF to show the history of.", autocompletion=_ref_completion)
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only entries since 7d, 12h, 30m or a date.")] = None,
    action: Annotated[
        list[str] | None,
        typer.Option("--action", help="Only this action (repeatable): init, register, promote, archive, annotate."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most N entries (the newest).")] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """The audit trail: who changed what, when, from which stage to which."""
    out = Output(json)
    with guard(out):
        from ..ops.history import query
        from . import render

        entries = query(_open(registry), target, since=since, actions=action)
        if limit is not None:
            entries = entries[-limit:]
        # A person at a terminal wants the newest first; files and scripts get log order.
        shown = list(reversed(entries)) if out.rich else entries
        out.result({"entries": entries}, lambda o: render.log_table(o, shown))


@command()
def verify(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Check only this model (the audit chain is always checked).", autocompletion=complete_model
        ),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Check blob sizes and existence, not their bytes.")] = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check blobs, manifests, stage files and the audit chain (exit 5 on any integrity failure)."""
    out = Output(json)
    with guard(out):
        from ..ops.verify import verify as run_verify
        from . import render

        report = run_verify(_open(registry), name, quick=quick)

        def human(o: Output) -> None:
            for model in report.recovered:
                o.note(f"finished an interrupted change of {model}")
            if report.findings:
                render.table(
                    o,
                    ["severity", "kind", "path", "problem"],
                    [[f.severity, f.kind, f.path, f.message] for f in report.findings],
                )
            status = "OK" if report.ok else "FAILED"
            o.line(
                f"{status}: {report.models} models, {report.versions} versions, "
                f"{report.blobs_checked} blobs{' (quick)' if quick else ''}, {report.audit_entries} audit entries"
            )

        out.result(report.to_json(), human)
        if not report.ok:
            from ..errors import IntegrityError

            errors = sum(1 for f in report.findings if f.severity == "error")
            raise IntegrityError(
                f"verify found {errors} integrity problem(s); see the findings above", code="verify_failed"
            )


@command()
def export(
    ref: Annotated[str, typer.Argument(help="NAME[@REF] to export (default @latest).", autocompletion=_ref_completion)],
    dest: Annotated[Path, typer.Argument(help="Directory to write the files into.")],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a version's files into DIR, each verified against its digest."""
    out = Output(json, quiet)
    with guard(out):
        reg = _open(registry)
        version = reg.resolve(ref)
        written = reg.export(version, dest)
        data = {**version.to_json(), "output": str(dest.resolve())}
        out.result(data, lambda o: o.line(f"Exported {version.name}@{version.version}: {len(written)} files to {dest}"))


@command()
def diff(
    a: Annotated[str, typer.Argument(help="First version, NAME@REF.", autocompletion=_ref_completion)],
    b: Annotated[
        str,
        typer.Argument(help="Second version: NAME@REF, or a bare REF (number, latest, stage, digest) of A's model."),
    ],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """What changed between two versions: files, metrics, params and tags."""
    out = Output(json)
    with guard(out):
        from ..ops.diff import diff_versions
        from ..records.names import parse_ref, parse_ref_of
        from . import render

        reg = _open(registry)
        first = parse_ref(a)
        va, vb = reg.resolve(first), reg.resolve(parse_ref_of(b, first.name, reg.config.stages))
        result = diff_versions(va, vb)

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

        out.result(result, human)
