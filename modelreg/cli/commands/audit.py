"""log and verify: the audit trail and the integrity check."""

from __future__ import annotations

from typing import Annotated

import typer

from ..group import command
from ..layout import Col
from ..options import (
    JsonOpt,
    RegistryOpt,
    complete_model,
    complete_ref,
    open_registry,
)
from ..output import Output, guard
from ..units import plural


@command()
def log(
    target: Annotated[
        str | None, typer.Argument(help="NAME or NAME@REF to show the history of.", autocompletion=complete_ref)
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only entries since 7d, 12h, 30m or a date.")] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            help="Only this action (repeatable): init, register, promote, archive, annotate, alias, request, approve, "
            "reject, remove, deploy, undeploy, observe.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most N entries (the newest).")] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """The audit trail: who changed what, when, from which stage to which."""
    out = Output(json)
    with guard(out):
        from ...ops.history import query
        from .. import render

        reg = open_registry(registry, out)
        entries = query(reg, target, since=since, actions=action)
        if limit is not None:
            entries = entries[-limit:]
        # A person at a terminal wants the newest first; files and scripts get log order.
        shown = list(reversed(entries)) if out.people else entries
        out.result({"entries": entries}, lambda o: render.log_table(o, shown, production=reg.config.production))


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
        from ...ops.verify import verify as run_verify
        from .. import render

        report = run_verify(open_registry(registry, out), name, quick=quick)

        def human(o: Output) -> None:
            for model in report.recovered:
                o.note(f"finished an interrupted change of {model}")
            if report.findings:
                render.table(
                    o,
                    [Col("severity"), Col("kind"), Col("path", fold=True), Col("problem", "text")],
                    [[f.severity, f.kind, f.path, f.message] for f in report.findings],
                )
            status = "OK" if report.ok else "FAILED"
            o.line(
                f"{status}: {plural(report.models, 'model')}, {plural(report.versions, 'version')}, "
                f"{plural(report.blobs_checked, 'blob')}{' (quick)' if quick else ''}, "
                f"{plural(report.audit_entries, 'audit entry', 'audit entries')}"
            )

        out.result(report.to_json(), human)
        if not report.ok:
            from ...errors import IntegrityError

            errors = sum(1 for f in report.findings if f.severity == "error")
            raise IntegrityError(
                f"verify found {plural(errors, 'integrity problem')}; see the findings above", code="verify_failed"
            )
