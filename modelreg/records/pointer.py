"""A project's pointer to its registry: ``[tool.modelreg] registry = "DIR"`` in ``pyproject.toml``.

Commands run anywhere in a project whose registry is a folder of it (``./registry`` beside the
Makefile) find the registry through it, as they find one they are run inside. The pointer comes
with the project (a clone, a pull request), so it can only name a folder inside the project: a
relative path without ``..`` that does not lead out of the project through a symlink. A pointer
that breaks this is refused, never followed and never skipped in silence.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from modelreg.base.fs import read_limited
from modelreg.errors import NotFoundError, UsageError

PROJECT_FILE = "pyproject.toml"
CONFIG_NAME = "modelreg.toml"
_LIMIT = 1 << 20


def pointed_registry(project: Path) -> Path | None:
    """The registry ``project``'s pyproject.toml points to (resolved); None when it has no pointer."""
    path = project / PROJECT_FILE
    try:
        raw = read_limited(path, _LIMIT)
    except FileNotFoundError:
        return None
    except OverflowError:
        raise UsageError(f"{path}: larger than 1 MiB", code="invalid_pointer") from None
    except OSError:
        return None  # a directory or an unreadable file of that name is no pointer
    if b"modelreg" not in raw:
        return None  # most projects: no TOML parsed on the way up
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: malformed TOML: {exc}", code="invalid_pointer") from None
    tool = data.get("tool")
    table = tool.get("modelreg") if isinstance(tool, dict) else None
    if table is None:
        return None
    value = table.get("registry") if isinstance(table, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise UsageError(
            f'{path}: [tool.modelreg] registry must be a folder of the project, e.g. "registry"',
            code="invalid_pointer",
        )
    return _inside(project, path, value)


def _inside(project: Path, path: Path, value: str) -> Path:
    relative = PurePosixPath(value)
    if relative.is_absolute() or ".." in relative.parts or "\\" in value or "\0" in value or value.startswith("~"):
        raise UsageError(
            f"{path}: [tool.modelreg] registry = {value!r} must be a relative path inside the project, without '..'",
            code="invalid_pointer",
        )
    home = os.path.realpath(project)
    target = os.path.realpath(project / relative)
    if target != home and not target.startswith(home.rstrip(os.sep) + os.sep):
        raise UsageError(
            f"{path}: [tool.modelreg] registry = {value!r} leads outside the project (through a symlink)",
            code="invalid_pointer",
        )
    if not os.path.isfile(os.path.join(target, CONFIG_NAME)):
        raise NotFoundError(
            f"{path} points to {value!r}, which holds no registry; create it with: modelreg init {project / relative}",
            code="no_registry",
        )
    return Path(target)


def pointer_text(project: Path, registry: Path) -> str | None:
    """The lines to add to ``project``'s pyproject.toml so that commands run in it find ``registry``."""
    try:
        relative = registry.resolve().relative_to(project.resolve())
    except ValueError:
        return None
    return f'[tool.modelreg]\nregistry = "{relative.as_posix()}"'
