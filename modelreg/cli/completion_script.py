"""The shell completion script as a result: the library's answer to ``modelreg completion SHELL``.

It lives with the command line because the script is the command line's (Typer writes it and
the shell calls back into ``modelreg``); ``modelreg.completion_script`` reaches it lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base.effects import Reported
from ..errors import UsageError

SHELLS = ("bash", "zsh", "fish")


@dataclass(frozen=True)
class CompletionScript(Reported):
    """The script to install for ``shell``; it asks ``modelreg`` for candidates at each TAB."""

    shell: str
    script: str

    def to_json(self) -> dict[str, Any]:
        return {"shell": self.shell, "script": self.script}


def completion_script(shell: str) -> CompletionScript:
    """``completion``: the completion script for bash, zsh or fish (the same as the files in
    completions/). Also fills this user's cache of the command line's shape, so that the first
    TAB after installing it answers fast too.

    Raises: UsageError (another shell)."""
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}; choose one of: {', '.join(SHELLS)}")
    if shell == "bash":
        from .complete import BASH_SCRIPT as script
    else:
        from typer._completion_shared import get_completion_script

        script = get_completion_script(prog_name="modelreg", complete_var="_MODELREG_COMPLETE", shell=shell)
    _warm_completion_cache()
    return CompletionScript(shell, script)


def _warm_completion_cache() -> None:
    try:
        from .complete import save_spec
        from .completion_spec import build_spec

        save_spec(build_spec())
    except Exception:  # never worth failing for: the first TAB builds it instead
        pass
