"""Turning register's file and directory arguments into (stored path, source file) pairs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from modelreg.errors import UsageError
from modelreg.records.filepaths import check_storable

MAX_FILES = 100_000


def collect(paths: list[Path], *, registry: Path | None = None) -> list[tuple[str, Path]]:
    """A file is stored under its base name, a directory's files under their relative paths.

    A registry directory met inside an input directory is skipped: its blobs, locks and caches
    are never part of a model.
    """
    skip = registry.resolve() if registry is not None else None
    if not paths:
        raise UsageError("give at least one file or directory to register", code="invalid_input")
    found: dict[str, Path] = {}

    def add(rel: str, src: Path) -> None:
        check_storable(rel)
        if rel in found:
            raise UsageError(
                f"two inputs give the same path {rel!r} ({str(found[rel])!r} and {str(src)!r}); rename one",
                code="duplicate_path",
            )
        if len(found) >= MAX_FILES:
            raise UsageError(f"more than {MAX_FILES} files given", code="invalid_input")
        found[rel] = src

    for path in paths:
        if not path.exists():
            raise UsageError(f"input path {str(path)!r} does not exist", code="missing_input")
        if path.is_dir():
            if skip is not None and path.resolve() == skip:
                raise UsageError(f"input path {str(path)!r} is the registry itself", code="invalid_input")
            _walk(path, add, skip)
        elif path.is_file():
            add(path.name, path)
        else:
            raise UsageError(f"input path {str(path)!r} is not a regular file or directory", code="invalid_input")
    if not found:
        raise UsageError("the given directories hold no files", code="invalid_input")
    return sorted(found.items())


def _unreadable(exc: OSError) -> None:
    raise UsageError(f"cannot read {str(exc.filename)!r}: {exc.strerror}", code="invalid_input")


def _walk(top: Path, add: Callable[[str, Path], None], skip: Path | None) -> None:
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True, onerror=_unreadable):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in visited:
            dirnames.clear()  # a symlink loop: this directory was walked already
            continue
        visited.add((st.st_dev, st.st_ino))
        if skip is not None:
            dirnames[:] = [d for d in dirnames if (Path(dirpath) / d).resolve() != skip]
        dirnames.sort()
        base = Path(dirpath)
        for fname in sorted(filenames):
            src = base / fname
            if not src.is_file():
                raise UsageError(f"{str(src)!r} is a broken symlink or not a regular file", code="invalid_input")
            add(src.relative_to(top).as_posix(), src)
