"""sync and remote check: this clone against the claim engine its team shares."""

from __future__ import annotations

from typing import Annotated

import typer

from ..group import command
from ..options import JsonOpt, QuietOpt, RegistryOpt, complete_model, open_registry
from ..output import Output, guard


@command(library="Registry.sync")
def sync(
    name: Annotated[str | None, typer.Argument(help="Only this model.", autocompletion=complete_model)] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Compare this clone with the claim engine: numbers claimed elsewhere, holders and aliases moved elsewhere.

    Publishes a model's stage holders and aliases to the engine when it holds none yet. Never commits, pulls
    or pushes the registry's git branch: a model shown as behind needs 'git pull' (which brings the change).
    """
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        result = reg.sync(name)

        def human(o: Output) -> None:
            for m in result.models:
                line = f"{m.name}: pointers {m.state}"
                if m.state == "behind" and m.pointers is not None:
                    line += f" (last {m.pointers.describe()}): run 'git pull' to bring the change here"
                if m.state == "restored":
                    line += " (the engine held a change of this clone's that was never recorded: put back)"
                if m.unpulled:
                    line += f"; {m.unpulled} numbers claimed without a version here (up to {m.claimed})"
                o.line(line)
            if not result.models:
                o.line("no models")

        out.result(result.to_json(), human)


@command(library="Registry.remote_check")
def remote(
    action: Annotated[str, typer.Argument(help="check: probe the claim engine's conditional writes.")],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Probe the claim engine: a create twice, a stale compare-and-swap, bursts of simultaneous writers.

    Exits 4 when two writers both won: such a store cannot hold claims. The verdict is remembered on this
    machine per engine url; the first claim on an engine runs the check by itself.
    """
    out = Output(json, quiet)
    with guard(out):
        from ...errors import UsageError

        if action != "check":
            raise UsageError(f"unknown remote action {action!r}; use: modelreg remote check")
        reg = open_registry(registry, out)
        report = reg.remote_check()

        def human(o: Output) -> None:
            for check, passed, detail in report.checks:
                o.line(f"{'ok ' if passed else 'FAILED'} {check}: {detail}")
            o.line(f"{report.url}: {'conditional writes honoured' if report.ok else 'REFUSED'}")

        if not report.ok:
            if not json:
                human(out)
            raise report.refusal()
        out.result(report.to_json(), human)
