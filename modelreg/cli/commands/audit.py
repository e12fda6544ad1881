"""log and verify: the audit trail and the integrity check."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

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

_LOG_BATCH = 1000  # rows laid out together (plain output keeps one header, its columns per batch)


@command(library="Registry.log")
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
    """The audit trail: who changed what, when, from which stage to which.

    Filter with --since 7d (or a date), --action promote, --limit N; newest first on a terminal.
    """
    out = Output(json)
    with guard(out):
        from itertools import islice

        from .. import render

        reg = open_registry(registry, out)
        result = reg.log(target, since=since, actions=action, limit=limit)
        # A person at a terminal wants the newest first; files and scripts get log order. The
        # entries stream out as the log is read; the newest N are read from the end of the log.
        entries = result.newest_first if out.people else result.entries
        production = reg.config.production

        def human(o: Output, shown: Iterable[dict[str, Any]]) -> None:
            it = iter(shown)
            first = True
            while True:
                batch = list(islice(it, _LOG_BATCH))
                if batch or first:
                    render.log_table(o, batch, production=production, header=first)
                if len(batch) < _LOG_BATCH:
                    return
                first = False

        out.result_stream("entries", entries, human)


@command(library="Registry.verify")
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
    """Check blobs, manifests, stage files and the audit chain (exit 5 on any integrity failure).

    Re-hashes every blob (--quick: sizes only) and checks manifests, stage files and the audit chain.
    """
    out = Output(json)
    with guard(out):
        from .. import render

        report = open_registry(registry, out).verify(name, quick=quick)

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
        failure = report.failure()
        if failure is not None:
            raise failure
