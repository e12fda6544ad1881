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
    complete_alias,
    complete_ref,
    complete_stage,
    open_registry,
)
from ..output import Output, guard

if TYPE_CHECKING:
    from ...ops.lifecycle.promote import PromoteResult
    from ...registry import Registry


@command(library="Registry.promote")
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
    """Move a version to a stage under the registry's rules; an exclusive stage's previous holder is archived.

    An exclusive stage (production) holds one version: its previous holder moves to archived as its own audit entry.
    Promoting to the stage a version is in changes nothing. The registry's transitions, gates and approvals apply
    (docs/guide/governance.md).
    """
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        report_promotion(out, reg, reg.promote(ref, stage, reason=reason, force=force))


def report_promotion(out: Output, reg: Registry, result: PromoteResult) -> None:
    """What promote and rollback print: the version, whether it moved, what it displaced."""
    v = result.version
    for old in result.archived:
        out.note(f"{v.name}@{old} moved to {reg.config.archive_stage}")
    data = result.to_json()
    if result.forced:
        out.warn(f"forced past: {'; '.join(result.forced)} (recorded in the audit log)")
    if result.changed:
        text = f"Promoted {v.name}@{v.version}: {result.from_stage} -> {v.stage}"
    else:
        text = f"{v.name}@{v.version} is already in {v.stage}; nothing changed"
    out.result(data, lambda o: o.line(text))


@command(library="Registry.rollback")
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
    """Put the previous production version back in production.

    Puts back the version that held production just before the current one (a second rollback undoes the first; --to
    N picks another), recorded as a promotion with reason rollback and rollback: true. A former holder is exempt
    from transitions, gates and approvals; --to a version that never held production is an ordinary promotion; a
    removed version never comes back.
    """
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        report_promotion(out, reg, reg.rollback(name, to=to, reason=reason))


@command(library=("Registry.alias", "Registry.delete_alias", "Registry.list_aliases"))
def alias(
    target: Annotated[
        str,
        typer.Argument(
            help="NAME@REF to point the alias at (NAME alone lists its aliases).", autocompletion=complete_ref
        ),
    ],
    name: Annotated[
        str | None,
        typer.Argument(help="The alias (champion, challenger, eu-canary...).", autocompletion=complete_alias),
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
    reason: ReasonOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Set, move, delete or list a model's aliases: names that point at one version each.

    alias NAME@REF ALIAS points ALIAS at a version, moving it if it pointed elsewhere; alias NAME ALIAS --delete
    removes it; alias NAME lists them. Every change is an audit entry.
    """
    out = Output(json, quiet)
    with guard(out):
        from ...errors import UsageError
        from ...records.refs import parse_ref
        from .. import render

        ref = parse_ref(target)
        reg = open_registry(registry, out)
        if name is None:
            if delete or ref.explicit:
                raise UsageError("give the alias: modelreg alias NAME@REF ALIAS, or NAME ALIAS --delete")
            listed = reg.list_aliases(ref.name)
            found = listed.aliases
            out.result(
                listed.to_json(),
                lambda o: render.table(o, ["alias", "version"], list(found.items())) if found else o.line("no aliases"),
            )
            return
        if delete:
            if ref.explicit:
                raise UsageError(f"to delete an alias give the model alone: modelreg alias {ref.name} {name} --delete")
            result = reg.delete_alias(ref.name, name, reason=reason)
            text = f"Deleted alias {name} of {ref.name} (it named version {result.previous})"
        else:
            result = reg.alias(ref, name, reason=reason)
            moved = f" (moved from version {result.previous})" if result.previous else ""
            text = (
                f"{ref.name}@{name} -> version {result.version}{moved}"
                if result.changed
                else (f"{ref.name}@{name} already names version {result.version}; nothing changed")
            )
        out.result(result.to_json(), lambda o: o.line(text))
