"""The file paths a manifest lists: relative, without ``..``, unique, safe on every destination."""

from __future__ import annotations

from collections.abc import Iterable
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
    """Refuse (exit 5) a manifest no destination can hold: an unsafe path, a path listed twice, or
    a file that is also the folder of another (``a`` and ``a/b``). Checked before anything is written."""
    seen: set[str] = set()
    for entry in files:
        safe_relpath(entry.path)
        if entry.path in seen:
            raise IntegrityError(f"manifest lists {entry.path!r} twice", code="corrupt_manifest")
        seen.add(entry.path)
    clash = folder_clash(seen)
    if clash is not None:
        raise IntegrityError(
            f"manifest lists {clash[0]!r} as a file and {clash[1]!r} inside it: no directory can hold both "
            "(the manifest was edited)",
            code="corrupt_manifest",
        )


def folder_clash(paths: Iterable[str]) -> tuple[str, str] | None:
    """The first (in sorted order) path that is also the folder of another one, with that other path."""
    given = set(paths)
    for path in sorted(given):
        for i in range(1, path.count("/") + 1):
            folder = path.rsplit("/", i)[0]
            if folder in given:
                return folder, path
    return None


MAX_NAME_BYTES = 255  # one path component, as Linux and macOS hold it
MAX_PATH_BYTES = 1024


def check_storable(path: str) -> str:
    """Refuse (exit 2) a path a version could never hand out again: the rules of ``safe_relpath``
    (no backslash, no ``..``) and the length a filesystem holds."""
    try:
        safe_relpath(path)
    except UsageError:
        raise UsageError(
            f"cannot register a file as {path!r}: a stored path is relative, '/'-separated, without '..' "
            "and without backslashes (rename the file)",
            code="unsafe_path",
        ) from None
    encoded = path.encode("utf-8", "surrogateescape")
    longest = max(len(part.encode("utf-8", "surrogateescape")) for part in path.split("/"))
    if longest > MAX_NAME_BYTES or len(encoded) > MAX_PATH_BYTES:
        raise UsageError(
            f"cannot register {path[:60]!r}…: names are at most {MAX_NAME_BYTES} bytes and paths "
            f"{MAX_PATH_BYTES} bytes",
            code="name_too_long",
        )
    return path


def folders_of(paths: Iterable[str]) -> set[str]:
    """Every folder that holds one of these ``/``-separated paths: ``a/b/c`` gives ``a`` and ``a/b``."""
    return {p.rsplit("/", i)[0] for p in paths for i in range(1, p.count("/") + 1)}
