"""The Typer application: which commands exist, and building only the one that runs.

Each command lives in a module of ``modelreg.cli.commands``; ``COMMANDS`` names it, in --help
order, so a run imports just its command's module. Heavy modules (the registry, rich, YAML) are
imported inside the commands, so ``--help`` and a ``get-production --json`` pay only for what
they use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import Annotated, Any, TypeVar

import typer

# Typer 0.28 vendors click (pinned in pyproject): its usage errors are caught to format them.
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup
from typer.exceptions import Abort

HELP = "A model registry in a directory: numbered immutable versions, stages, lineage and an audit log."

# Every command, in --help order, with the module of modelreg.cli.commands that declares it.
COMMANDS: dict[str, str] = {
    "init": "setup",
    "register": "versions",
    "promote": "stages",
    "list": "versions",
    "show": "versions",
    "get": "serving",
    "get-production": "serving",
    "annotate": "versions",
    "log": "audit",
    "verify": "audit",
    "export": "serving",
    "diff": "versions",
    "rollback": "stages",
    "alias": "stages",
    "gc": "storage",
    "push": "storage",
    "pull": "storage",
    "import": "importing",
    "completion": "setup",
}
_DECLARED: dict[str, Callable[..., None]] = {}
F = TypeVar("F", bound=Callable[..., None])


def command(name: str | None = None) -> Callable[[F], F]:
    """Declare a command; build_app turns the declarations into a Typer app."""

    def declare(func: F) -> F:
        _DECLARED[name or func.__name__.removesuffix("_").replace("_", "-")] = func
        return func

    return declare


class _Group(TyperGroup):
    """Usage errors (bad flag, missing argument) as one line, and as JSON too under --json."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
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
    for name, module in COMMANDS.items():
        if only is None or name == only:
            import_module(f"{__package__}.commands.{module}")
            app.command(name)(_DECLARED[name])
    return app


def _root(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No messages on stderr, only results and errors.")
    ] = False,
) -> None:
    from .output import QUIET

    QUIET["all"] = quiet
