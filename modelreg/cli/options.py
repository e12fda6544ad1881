"""The options and arguments commands share, and the completions they offer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..registry import Registry
    from .output import Output


JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]
RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        "-R",
        help="Registry directory (default: $MODELREG_REGISTRY, then walk up from here).",
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No messages on stderr, only the result.")]


def open_registry(registry: Path | None, out: Output) -> Registry:
    """The registry the command works on; its warnings reach stderr when the command ends."""
    from ..registry import Registry

    reg = Registry.open(registry)
    out.attach(reg.root, reg.warnings)
    return reg


def pairs(values: list[str] | None, what: str) -> dict[str, str]:
    from ..records.names import split_pair

    return dict(split_pair(v, what) for v in values or [])


def _completion_registry(ctx: typer.Context) -> Registry:
    from ..registry import Registry

    given = ctx.params.get("registry")
    return Registry.open(Path(given) if given else None)


def complete_model(ctx: typer.Context, incomplete: str) -> list[str]:
    """Model names from the registry (-R if already typed, else found from here)."""
    try:
        names = _completion_registry(ctx).model_names()
    except Exception:  # completion must never fail loudly
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_stage(ctx: typer.Context, incomplete: str) -> list[str]:
    try:
        stages: tuple[str, ...] = _completion_registry(ctx).config.stages
    except Exception:
        from ..records.config import DEFAULT_STAGES

        stages = DEFAULT_STAGES
    return [s for s in stages if s.startswith(incomplete)]


def complete_ref(ctx: typer.Context, incomplete: str) -> list[str]:
    name, sep, _ = incomplete.partition("@")
    if sep:
        return [f"{name}@{s}" for s in ["latest", *complete_stage(ctx, "")]]
    return complete_model(ctx, incomplete)


ModelArg = Annotated[str, typer.Argument(help="Model name.", autocompletion=complete_model)]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why, recorded in the audit log.")]
