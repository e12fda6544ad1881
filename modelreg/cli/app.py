"""The Typer application, the options every command shares, and shell-completion helpers.

Heavy modules (the registry, rich, YAML) are imported inside the commands, so ``--help`` and a
``get-production --json`` pay only for what they use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

# Typer 0.28 vendors click (pinned in pyproject): its usage errors are caught to format them.
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup
from typer.exceptions import Abort

if TYPE_CHECKING:
    from ..registry import Registry

HELP = "A model registry in a directory: numbered immutable versions, stages, lineage and an audit log."
COMMANDS: dict[str, Callable[..., None]] = {}
F = TypeVar("F", bound=Callable[..., None])


def command(name: str | None = None) -> Callable[[F], F]:
    """Declare a command; build_app turns the declarations into a Typer app."""

    def declare(func: F) -> F:
        COMMANDS[name or func.__name__.replace("_", "-")] = func
        return func

    return declare


class _Group(TyperGroup):
    """Usage errors (bad flag, missing argument) as one line, and as JSON too under --json."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except UsageError as exc:
            if isinstance(exc, NoArgsIsHelpError):
                exc.show()
                raise SystemExit(exc.exit_code) from None
            from ..errors import UsageError as InvalidUsage
            from .output import Output, fail

            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            fail(Output(json_mode="--json" in argv), InvalidUsage(exc.format_message() + hint, code="usage"))
        except Abort:
            from ..errors import Interrupted
            from .output import Output, fail

            fail(Output(json_mode="--json" in argv), Interrupted("interrupted"))
        raise SystemExit(code if isinstance(code, int) else 0)


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with just ``only``: Typer inspects each command's
    signature when it runs, so a one-command app starts several milliseconds faster."""
    app = typer.Typer(
        cls=_Group,
        name="modelreg",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    # A callback keeps the app a group even with one command, so usage reads "modelreg CMD".
    app.callback()(_root)
    for name, func in COMMANDS.items():
        if only is None or name == only:
            app.command(name)(func)
    return app


def _root(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No messages on stderr, only results and errors.")
    ] = False,
) -> None:
    from .output import QUIET

    QUIET["all"] = quiet


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


def _open(registry: Path | None) -> Registry:
    from ..registry import Registry

    return Registry.open(registry)


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
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


def _ref_completion(ctx: typer.Context, incomplete: str) -> list[str]:
    name, sep, _ = incomplete.partition("@")
    if sep:
        return [f"{name}@{s}" for s in ["latest", *complete_stage(ctx, "")]]
    return complete_model(ctx, incomplete)


ModelArg = Annotated[str, typer.Argument(help="Model name.", autocompletion=complete_model)]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why, recorded in the audit log.")]
