"""Turning register's file and directory arguments into (stored path, source file) pairs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .errors import UsageError

MAX_FILES = 100_000


def collect(paths: list[Path]) -> list[tuple[str, Path]]:
    """A file is stored under its base name, a directory's files under their relative paths."""
    if not paths:
        raise UsageError("give at least one file or directory to register", code="invalid_input")
    found: dict[str, Path] = {}

    def add(rel: str, src: Path) -> None:
        if rel in found:
            raise UsageError(
                f"two inputs give the same path {rel!r} ({found[rel]} and {src}); rename one",
                code="duplicate_path",
            )
        if len(found) >= MAX_FILES:
            raise UsageError(f"more than {MAX_FILES} files given", code="invalid_input")
        found[rel] = src

    for path in paths:
        if not path.exists():
            raise UsageError(f"input path {path} does not exist", code="missing_input")
        if path.is_dir():
            _walk(path, add)
        elif path.is_file():
            add(path.name, path)
        else:
            raise UsageError(f"input path {path} is not a regular file or directory", code="invalid_input")
    if not found:
        raise UsageError("the given directories hold no files", code="invalid_input")
    return sorted(found.items())


def _walk(top: Path, add: Callable[[str, Path], None]) -> None:
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in visited:
            dirnames.clear()  # a symlink loop: this directory was walked already
            continue
        visited.add((st.st_dev, st.st_ino))
        dirnames.sort()
        base = Path(dirpath)
        for fname in sorted(filenames):
            src = base / fname
            if not src.is_file():
                raise UsageError(f"{src} is a broken symlink or not a regular file", code="invalid_input")
            add(src.relative_to(top).as_posix(), src)
