"""The options and arguments commands share, and the completions they offer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ..registry import Registry
    from .output import Output


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


def open_registry(registry: Path | None, out: Output) -> Registry:
    """The registry the command works on (-R before or after the command name, else found);
    what the library reports while the command runs reaches stderr when it ends (``guard``)."""
    from ..registry import Registry
    from .output import OPTIONS

    reg = Registry.open(registry if registry is not None else OPTIONS.registry)
    out.attach(reg.root)
    return reg


def pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """``--metric/--param/--tag KEY=VALUE`` options: a key given twice, or spaces around ``=``
    (``acc= 0.5``), are refused rather than silently resolved."""
    from ..errors import UsageError
    from ..records.names import split_pair

    found: dict[str, str] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        spaced = key != key.strip() or value[:1].isspace() or (what == "metric" and value != value.strip())
        if sep and spaced:
            raise UsageError(
                f"--{what} {text!r}: no spaces around '=' (write {key.strip()}={value.strip()})", code="invalid_pair"
            )
        if sep and not value and what == "metric":
            raise UsageError(
                f"--metric {text!r} has no value: write {key}=NUMBER, with no space after '='", code="invalid_metric"
            )
        key, value = split_pair(text, what)
        if key in found:
            raise UsageError(
                f"--{what} {key} is given twice ({key}={found[key]} and {key}={value}); give it once",
                code="duplicate_key",
            )
        found[key] = value
    return found


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
