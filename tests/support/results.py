"""What a finished command must look like: one definition, for CliRunner results and real processes alike."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def exit_code(result: Any) -> int:
    """The exit status of a ``typer.testing.Result`` or a ``subprocess.CompletedProcess``."""
    code = getattr(result, "exit_code", None)
    return int(result.returncode if code is None else code)


def ok(result: Any) -> Any:
    """A command that exited 0 (an in-process exception is raised as itself); returns it."""
    exception = getattr(result, "exception", None)
    if exception is not None and not isinstance(exception, SystemExit):
        raise exception
    code = exit_code(result)
    assert code == 0, f"exit {code}: {result.stdout}{result.stderr}"
    return result


def ok_doc(result: Any) -> Any:
    """A command that exited 0: its stdout parsed as JSON when it is a JSON object, else the text."""
    text = ok(result).stdout
    return json.loads(text) if text.strip().startswith("{") else text


def ok_run(proc: subprocess.CompletedProcess[str]) -> str:
    """A real process that exited 0: its stdout."""
    assert proc.returncode == 0, proc.stderr[-500:]
    return proc.stdout
