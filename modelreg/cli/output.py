"""Where results and errors go: one JSON document or human text on stdout, messages on stderr.

This module owns the exit-code policy: every command runs inside ``guard``, which turns the
library's exception types into one line on stderr (plus a JSON error object with ``--json``)
and the exit code the exception carries.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..base.effects import Effects, collecting
from ..errors import Interrupted, ModelregError, StorageError, UsageError, caused_by_interrupt

if TYPE_CHECKING:
    from ..registry import Registry

# The environment's refusals (a full disk, a read-only filesystem), not bugs: exit 4.
REFUSALS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
USER_PATH_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


@dataclass
class GlobalOptions:
    """--json, -q and -R as given anywhere on the command line (before or after the command)."""

    json: bool = False
    quiet: bool = False
    registry: Path | None = None

    def reset(self) -> None:
        self.json, self.quiet, self.registry = False, False, None


OPTIONS = GlobalOptions()


def open_registry(registry: Path | None, out: Output) -> Registry:
    """The registry the command works on (-R before or after the command name, else found);
    what the library reports while the command runs reaches stderr when it ends (``guard``)."""
    from ..registry import Registry

    reg = Registry.open(registry if registry is not None else OPTIONS.registry)
    out.attach(reg.root)
    return reg


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def wants_color(stream: Any) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        self.json_mode = self.json_mode or OPTIONS.json
        self.quiet = self.quiet or OPTIONS.quiet
        self.effects: Effects | None = None  # what the library reported during the command (guard)
        self.registry_root: Path | None = None

    def attach(self, root: Path) -> None:
        """The registry the command opened: a refused write under ``root`` is the environment's refusal."""
        self.registry_root = root

    def flush_warnings(self) -> None:
        """Print what the library said a person should know (each warning once)."""
        if self.effects is None:
            return
        for text in self.effects.warnings:
            self.warn(text)
        self.effects.warnings.clear()

    @property
    def people(self) -> bool:
        """stdout is a terminal: lay the output out for a person at its width (else plain, stable text)."""
        return not self.json_mode and is_terminal(sys.stdout)

    @property
    def color(self) -> bool:
        return self.people and wants_color(sys.stdout)

    # The name older commands use for "a person reads this".
    rich = people

    @property
    def width(self) -> int:
        import shutil

        return max(shutil.get_terminal_size((80, 24)).columns, 20)

    @property
    def shows_progress(self) -> bool:
        """A progress bar belongs on stderr when a person watches it: never under --json or -q."""
        return not self.json_mode and not self.quiet and is_terminal(sys.stderr) and os.environ.get("TERM") != "dumb"

    def result(self, data: Any, human: Callable[[Output], None]) -> None:
        """The command's result: ``data`` as JSON, or ``human`` renders it."""
        if self.json_mode:
            sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        else:
            human(self)

    def result_stream(self, key: str, items: Iterable[Any], human: Callable[[Output, Iterable[Any]], None]) -> None:
        """A result that is one long list: under --json the same document as ``result({key: [...]})``,
        written item by item as they come; else ``human`` renders from the iterator."""
        if not self.json_mode:
            human(self, items)
            return
        opened = False
        for item in items:
            body = json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n    ")
            sys.stdout.write(("{\n  " + json.dumps(key) + ": [\n    " if not opened else ",\n    ") + body)
            opened = True
        sys.stdout.write(("\n  ]\n}" if opened else json.dumps({key: []}, indent=2)) + "\n")

    def line(self, text: str = "") -> None:
        from .layout import printable_line

        sys.stdout.write(printable_line(text, self.color) + "\n")

    def note(self, text: str) -> None:
        """A message for people (stderr), silenced by -q and --json."""
        if not self.quiet and not self.json_mode:
            sys.stderr.write(_printable(text) + "\n")

    def warn(self, text: str) -> None:
        """A warning on stderr, even under --json (stdout stays one document); -q silences it."""
        if not self.quiet:
            sys.stderr.write(f"warning: {_printable(text)}\n")

    def console(self) -> Any:
        from rich.console import Console

        return Console(soft_wrap=True)


def _printable(text: str) -> str:
    from .layout import printable

    return printable(text)


def _os_error(out: Output, exc: OSError) -> ModelregError:
    name = f": {exc.filename!r}" if exc.filename else ""
    message = f"{exc.strerror or exc}{name}"
    if exc.errno in REFUSALS:
        return StorageError(message)
    inside = out.registry_root is not None and exc.filename and _is_under(str(exc.filename), out.registry_root)
    if isinstance(exc, PermissionError) and inside:
        return StorageError(f"{message} (the registry cannot be written here)")
    # A path the user named that is missing, unwritable, too long or of the wrong kind is bad input.
    if isinstance(exc, USER_PATH_ERRORS) or exc.errno == errno.ENAMETOOLONG:
        return UsageError(message, code="invalid_path")
    return ModelregError(message, code="os_error")


def _is_under(path: str, root: Path) -> bool:
    return os.path.abspath(path).startswith(str(root) + os.sep)


def fail(out: Output, exc: ModelregError) -> NoReturn:
    out.flush_warnings()
    sys.stderr.write(f"error: {_printable(exc.message)}\n")
    if out.json_mode:
        error = {"code": exc.code, "message": exc.message, **(exc.details or {})}
        sys.stderr.write(json.dumps({"error": error}) + "\n")
    sys.stdout.flush()
    raise SystemExit(exc.exit_code)


@contextmanager
def guard(out: Output) -> Iterator[None]:
    with collecting() as effects:
        out.effects = effects
        with _mapped(out):
            yield
            out.flush_warnings()


@contextmanager
def _mapped(out: Output) -> Iterator[None]:
    """Every exception as its exit code and one line on stderr (exit 1 only for a bug)."""
    try:
        yield
    except ModelregError as exc:
        fail(out, exc)
    except KeyboardInterrupt:
        fail(out, Interrupted("interrupted; the registry is unchanged or the change is complete"))
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
    except OSError as exc:
        fail(out, _os_error(out, exc))
    except (SystemExit, GeneratorExit):
        raise
    except Exception as exc:
        if caused_by_interrupt(exc):  # e.g. Ctrl-C while a class body ran: wrapped in RuntimeError
            fail(out, Interrupted("interrupted; the registry is unchanged or the change is complete"))
        if os.environ.get("MODELREG_DEBUG"):
            raise
        fail(
            out,
            ModelregError(
                f"internal error ({type(exc).__name__}: {exc}); this is a bug, please report it "
                "(set MODELREG_DEBUG=1 for a traceback)",
                code="internal",
            ),
        )
