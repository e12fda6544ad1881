"""The Typer application: which commands exist, and building only the one that runs.

Each command lives in a module of ``modelreg.cli.commands``; ``COMMANDS`` names it, in --help
order, so a run imports just its command's module. Heavy modules (the registry, rich, YAML) are
imported inside the commands, so ``--help`` and a ``get-production --json`` pay only for what
they use.

The global options (``--json``, ``-q``, ``-R``) work before and after the command name for
every command: the root takes them, and ``build_app`` gives each command the ones it does not
declare itself, so a new command gets them for free (see ``_with_globals``).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import Annotated, Any, TypeVar

import typer

# Typer 0.28 vendors click (pinned in pyproject): its usage errors are caught to format them.
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup
from typer.exceptions import Abort

from .options import GLOBAL_OPTIONS, JsonOpt, QuietOpt, RegistryOpt

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
    "report": "report",
    "export": "serving",
    "diff": "versions",
    "rollback": "stages",
    "alias": "stages",
    "check": "governance",
    "request": "governance",
    "requests": "governance",
    "approve": "governance",
    "reject": "governance",
    "remove": "governance",
    "sign": "proof",
    "trust": "governance",
    "gc": "storage",
    "push": "storage",
    "pull": "storage",
    "stats": "store",
    "upgrade": "store",
    "sync": "teams",
    "remote": "teams",
    "import": "importing",
    "deploy": "deployments",
    "undeploy": "deployments",
    "deployed": "deployments",
    "which": "deployments",
    "deploy-check": "deployments",
    "observe": "deployments",
    "completion": "setup",
}
_DECLARED: dict[str, Callable[..., None]] = {}
# The library call(s) doing each command's work, as dotted names under ``modelreg`` (``Registry.verify``,
# ``completion_script``): kept as text so that declaring them imports nothing.
LIBRARY: dict[str, tuple[str, ...]] = {}
F = TypeVar("F", bound=Callable[..., None])


def command(name: str | None = None, *, library: str | tuple[str, ...] = ()) -> Callable[[F], F]:
    """Declare a command and the library call(s) it renders; build_app turns the declarations
    into a Typer app, and the Python reference lists each command's call."""

    def declare(func: F) -> F:
        key = name or func.__name__.removesuffix("_").replace("_", "-")
        _DECLARED[key] = func
        LIBRARY[key] = (library,) if isinstance(library, str) else tuple(library)
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
        from .output import OPTIONS

        OPTIONS.reset()  # one process (or one CliRunner call) runs one command line
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
            app.command(name)(_with_globals(_DECLARED[name]))
    return app


def command_in(argv: Sequence[str]) -> str | None:
    """The command a command line runs: its first word that is not a global option or its value."""
    takes_value = {"-R", "--registry"}
    words = iter(argv)
    for word in words:
        if word == "--":
            break
        if word in takes_value:
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _with_globals(func: Callable[..., None]) -> Callable[..., None]:
    """``func`` as a command that takes every global option: the ones it declares get the value
    given before or after the command name (the later wins for -R), the others are recorded in
    ``output.OPTIONS``, where ``Output`` and ``open_registry`` read them."""
    signature = inspect.signature(func, eval_str=True)
    declared = set(signature.parameters)
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in GLOBAL_OPTIONS.items()
        if name not in declared
    ]

    @functools.wraps(func)
    def run(**kwargs: Any) -> None:
        from .output import OPTIONS

        OPTIONS.json = OPTIONS.json or bool(kwargs.get("json"))
        OPTIONS.quiet = OPTIONS.quiet or bool(kwargs.get("quiet"))
        if kwargs.get("registry") is not None:
            OPTIONS.registry = kwargs["registry"]
        merged = {"json": OPTIONS.json, "quiet": OPTIONS.quiet, "registry": OPTIONS.registry}
        for name in GLOBAL_OPTIONS:
            if name in declared:
                kwargs[name] = merged[name]
            else:
                kwargs.pop(name, None)
        func(**kwargs)

    params = [*signature.parameters.values(), *added]
    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        sys.stdout.write(f"modelreg {__version__}\n")
        raise typer.Exit()


def _root(
    quiet: QuietOpt = False,
    json: JsonOpt = False,
    registry: RegistryOpt = None,
    version: Annotated[
        bool,
        typer.Option("--version", "-V", is_eager=True, callback=_show_version, help="Print the version and exit."),
    ] = False,
) -> None:
    from .output import OPTIONS

    OPTIONS.quiet, OPTIONS.json, OPTIONS.registry = quiet, json, registry
