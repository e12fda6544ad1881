"""The two ways a command line can run: the Typer-free fast path (``modelreg.cli.fast_path``)
and the full Typer application, for the tests that compare them."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

# The full CLI as a process, as modelreg.cli.main runs it when the fast path declines.
VIA_TYPER = (
    "import sys; from modelreg.cli.group import build_app, command_in; "
    "build_app(command_in(sys.argv[1:]))(prog_name='modelreg')"
)


def fast_answer(argv: list[str]) -> tuple[object, str, str]:
    """The fast path run in-process on ``argv``: its exit code, stdout and stderr."""
    from modelreg.cli import fast_path

    out, err = io.StringIO(), io.StringIO()
    code: object = None
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = fast_path.answer(argv, {})
        except SystemExit as exc:
            code = exc.code if exc.code is not None else 0
    return code, out.getvalue(), err.getvalue()
