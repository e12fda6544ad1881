"""The options and arguments commands share, and the completions they offer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

# Shared with the Typer-free read path (fast_path.py), so they live in modules without Typer.
from .output import open_registry as open_registry
from .values import pairs as pairs

# The global options: every command takes them, before or after its name (cli/group.py).
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout (errors as JSON on stderr).")
]
RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        "-R",
        help="Registry directory (default: $MODELREG_REGISTRY, then walk up from here).",
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No messages on stderr, only results and errors.")]
GLOBAL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "json": (JsonOpt, False),
    "quiet": (QuietOpt, False),
    "registry": (RegistryOpt, None),
}


# What each completion callback completes to; completion_spec.py records it for complete.py,
# which answers every TAB (Typer's own completion machinery is not used).
COMPLETION_KINDS: dict[object, str] = {}


def _completer(kind: str) -> Callable[[typer.Context, str], list[str]]:
    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        import os

        from .candidates import candidates, find_registry

        given = ctx.params.get("registry")
        root = find_registry(str(given) if given else None, os.environ)
        return candidates(kind, incomplete, root, [])

    COMPLETION_KINDS[complete] = kind
    return complete


complete_model = _completer("model")
complete_ref = _completer("ref")
complete_second_ref = _completer("second_ref")  # diff's B: NAME@REF or a bare reference of A's model
complete_stage = _completer("stage")
complete_shell = _completer("shell")
complete_alias = _completer("alias")  # an alias of the model named by the first argument
complete_env = _completer("env")  # an environment: configured, or deployed to


ModelArg = Annotated[str, typer.Argument(help="Model name.", autocompletion=complete_model)]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why, recorded in the audit log.")]
