"""The file paths a manifest lists: relative, without ``..``, unique, safe on every destination."""

from __future__ import annotations

from pathlib import PurePosixPath

from modelreg.errors import IntegrityError, UsageError
from modelreg.records.manifest import FileEntry


def safe_relpath(path: str) -> PurePosixPath:
    """A manifest path as a relative path that stays inside its destination, or UsageError."""
    pure = PurePosixPath(path)
    if (
        not path
        or "\\" in path
        or "\0" in path
        or pure.is_absolute()
        or any(part in ("..", ".", "") for part in path.split("/"))
    ):
        raise UsageError(
            f"refusing file path {path!r}: paths must be relative, without '..', and stay inside the destination",
            code="unsafe_path",
        )
    return pure


def check_paths(files: tuple[FileEntry, ...]) -> None:
    seen: set[str] = set()
    for entry in files:
        safe_relpath(entry.path)
        if entry.path in seen:
            raise IntegrityError(f"manifest lists {entry.path!r} twice", code="corrupt_manifest")
        seen.add(entry.path)
