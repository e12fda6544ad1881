"""promote and rollback: moving versions between stages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..group import command
from ..options import (
    JsonOpt,
    ModelArg,
    QuietOpt,
    ReasonOpt,
    RegistryOpt,
    complete_ref,
    complete_stage,
    open_registry,
)
from ..output import Output, guard

if TYPE_CHECKING:
    from ...ops.promote import PromoteResult
    from ...registry import Registry


@command()
def promote(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or any reference) to move.", autocompletion=complete_ref)],
    stage: Annotated[str, typer.Argument(help="Target stage.", autocompletion=complete_stage)],
    reason: ReasonOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Pass failing gates where the stage has allow_force (never transitions or approvals)."
        ),
    ] = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Move a version to a stage under the registry's rules; an exclusive stage's previous holder is archived."""
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        report_promotion(out, reg, reg.promote(ref, stage, reason=reason, force=force))


def report_promotion(out: Output, reg: Registry, result: PromoteResult) -> None:
    """What promote and rollback print: the version, whether it moved, what it displaced."""
    v = result.version
    for old in result.archived:
        out.note(f"{v.name}@{old} moved to {reg.config.archive_stage}")
    data = {
        **v.to_json(),
        "changed": result.changed,
        "from_stage": result.from_stage,
        "archived": list(result.archived),
        "forced": list(result.forced),
        "request": result.request,
        "hooks": reg.hook_runs,
    }
    if result.forced:
        out.warn(f"forced past: {'; '.join(result.forced)} (recorded in the audit log)")
    if result.changed:
        text = f"Promoted {v.name}@{v.version}: {result.from_stage} -> {v.stage}"
    else:
        text = f"{v.name}@{v.version} is already in {v.stage}; nothing changed"
    out.result(data, lambda o: o.line(text))


@command()
def rollback(
    name: ModelArg,
    to: Annotated[
        int | None, typer.Option("--to", min=1, help="Version to put back (default: the previous production version).")
    ] = None,
    reason: ReasonOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Put the previous production version back in production."""
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        report_promotion(out, reg, reg.rollback(name, to=to, reason=reason))
