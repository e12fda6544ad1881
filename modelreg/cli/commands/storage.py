"""gc, push and pull: the blob store and the remote."""

from __future__ import annotations

from typing import Annotated

import typer

from ..group import command
from ..options import (
    JsonOpt,
    QuietOpt,
    RegistryOpt,
    complete_ref,
    open_registry,
)
from ..output import Output, guard
from ..units import human_size, plural


@command(library="Registry.gc")
def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Only report what would be removed.")] = False,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            help="Keep unreferenced blobs younger than this many seconds (a register may be about to use them).",
        ),
    ] = 3600.0,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """Remove unreferenced blobs, stale caches and leftovers of interrupted writes.

    Removes unreferenced blobs, recipes and chunk packs older than --grace seconds (a pack at least half
    unreferenced is rewritten with its live chunks), stale cached copies and leftovers of interrupted writes.
    """
    out = Output(json)
    with guard(out):
        report = open_registry(registry, out).gc(dry_run=dry_run, grace=grace)
        verb = "Would remove" if dry_run else "Removed"
        out.result(
            report.to_json(),
            lambda o: o.line(
                f"{verb} {plural(len(report.blobs_removed), 'blob')} ({human_size(report.bytes_freed)}), "
                f"{plural(len(report.leftovers_removed), 'leftover')}, "
                f"{plural(len(report.cache_removed), 'cached copy', 'cached copies')}"
            ),
        )


JobsOpt = Annotated[
    int, typer.Option("--jobs", "-j", min=1, max=64, help="Transfers in flight at once (packs or blobs).")
]


def _transfer(direction: str, target: str | None, registry: RegistryOpt, out: Output, jobs: int) -> None:
    from ...base.allocator import fewer_arenas
    from ..progress import planned_bar

    fewer_arenas()  # this process is the command's own: its transfer threads share two arenas
    reg = open_registry(registry, out)
    move = reg.push if direction == "push" else reg.pull
    with planned_bar(out, direction, planning=True) as (progress, planned):
        report = move(target, jobs=jobs, progress=progress, planned=planned)
    out.result(
        report.to_json(),
        lambda o: o.line(
            f"{direction.capitalize()}ed {plural(report.transferred, 'blob')} ({human_size(report.bytes)}) "
            f"{'to' if direction == 'push' else 'from'} {report.remote}; {report.already_present} already there"
        ),
    )


@command(library="Registry.push")
def push(
    target: Annotated[
        str | None, typer.Argument(help="NAME or NAME@REF (default: every version).", autocompletion=complete_ref)
    ] = None,
    jobs: JobsOpt = 8,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Upload the blobs and chunks the remote store lacks.

    Sends what the remote lacks: whole blobs, and for large files only the missing chunks, in packs of up to 64 MiB.
    A transfer killed half way and run again moves only what is still missing.
    """
    out = Output(json, quiet)
    with guard(out):
        _transfer("push", target, registry, out, jobs)


@command(library="Registry.pull")
def pull(
    target: Annotated[
        str | None, typer.Argument(help="NAME or NAME@REF (default: every version).", autocompletion=complete_ref)
    ] = None,
    jobs: JobsOpt = 8,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Download the blobs and chunks this registry lacks from the remote store, verified.

    Fetches what this registry lacks: whole blobs, and for large files only the missing chunks, in packs of up to 64
    MiB. A transfer killed half way and run again moves only what is still missing.
    """
    out = Output(json, quiet)
    with guard(out):
        _transfer("pull", target, registry, out, jobs)
