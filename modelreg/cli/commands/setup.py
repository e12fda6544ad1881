"""init and completion: setting up a registry and a shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..group import command
from ..options import (
    JsonOpt,
    QuietOpt,
)
from ..output import Output, guard


@command()
def init(
    path: Annotated[Path, typer.Argument(help="Directory to create the registry in.")] = Path("."),
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create a registry (running it again on a registry changes nothing)."""
    out = Output(json, quiet)
    with guard(out):
        from ...registry import Registry

        registry, created = Registry.init(path)
        root = str(registry.root.resolve())
        out.result(
            {"path": root, "created": created, "changed": created},
            lambda o: o.line(f"{'Created' if created else 'Already a'} registry at {root}"),
        )


SHELLS = ("bash", "zsh", "fish")


@command()
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the shell completion script (the same as the files in completions/)."""
    out = Output()
    with guard(out):
        from typer._completion_shared import get_completion_script

        if shell not in SHELLS:
            from ...errors import UsageError

            raise UsageError(f"unknown shell {shell!r}; choose one of: {', '.join(SHELLS)}")
        script = get_completion_script(prog_name="modelreg", complete_var="_MODELREG_COMPLETE", shell=shell)
        out.line(script.rstrip("\n"))
