"""Handing out a version's files into a destination the user names (``export``, ``--output``):
safe paths only, every byte verified, all or nothing, and never a mix of two versions.

The registry remembers what it wrote into each destination (``.modelreg/outputs/``: each file's
inode, size, mtime and ctime, under this machine's MAC), and nothing is added to the
destination itself. Writing another version there replaces the files it wrote that are still as
it left them; any other file (the user's own, or one edited since) is never overwritten or left
beside the new version's files: the command refuses (exit 4) and the destination stays as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from modelreg.base.fs import atomic_write, fsync_dir, read_own, tmp_name
from modelreg.base.machine import seal, unseal
from modelreg.errors import ConflictError, StorageError, UsageError
from modelreg.records.filepaths import check_paths, safe_relpath
from modelreg.records.manifest import FileEntry, Version
from modelreg.stores.hashing import sha256_file

if TYPE_CHECKING:
    from modelreg.repo import Repo
    from modelreg.stores.blobs import LocalBlobStore

_PURPOSE = b"modelreg output record v1"
RECORD_LIMIT = 64 << 20  # the files written into one destination


def export(
    repo: Repo,
    version: Version,
    dest: Path,
    *,
    progress: Callable[[int], None] | None = None,
    extra: dict[str, bytes] | None = None,
) -> list[Path]:
    records = repo.tree.inside(repo.state_dir / "outputs" / "x").parent
    return write_files(
        repo.blobs, version, dest, ensure_blob=repo.ensure_blob, records=records, progress=progress, extra=extra
    )


def _ensure_dir(dest: Path, rel_dir: PurePosixPath) -> Path:
    """Create rel_dir under dest, refusing to pass through a symlink."""
    current = dest
    for part in rel_dir.parts:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            current.mkdir()
            continue
        if stat.S_ISLNK(st.st_mode):
            raise UsageError(f"refusing to write through symlink {current}", code="unsafe_path")
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{current} exists and is not a directory", code="unsafe_path")
    return current


def _record_path(records: Path, dest: Path) -> Path:
    key = hashlib.blake2b(str(dest.resolve()).encode(), digest_size=16).hexdigest()
    return records / f"{key}.json"


def _file_stat(path: Path) -> list[int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns] if stat.S_ISREG(st.st_mode) else None


def _written_before(records: Path | None, dest: Path) -> dict[str, list[int]]:
    """The files an earlier write left in ``dest``, as they were then (only this machine's record)."""
    if records is None:
        return {}
    try:
        raw = read_own(_record_path(records, dest), RECORD_LIMIT)
        data = None if raw is None else unseal(raw, _PURPOSE)
        files = json.loads(data)["files"] if data is not None else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return files if isinstance(files, dict) else {}


def output_digest(repo: Repo, dest: Path, *, unchanged: bool = True) -> str | None:
    """The digest of the version this machine last wrote into ``dest``; with ``unchanged``, only
    while ``dest`` holds exactly the files written then, each as it was (inode, size, mtime,
    ctime), so that it is known without reading a byte."""
    records = repo.tree.inside(repo.state_dir / "outputs" / "x").parent
    try:
        raw = read_own(_record_path(records, dest), RECORD_LIMIT)
        data = None if raw is None else unseal(raw, _PURPOSE)
        body = json.loads(data) if data is not None else None
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("dest") != str(dest.resolve()) or not isinstance(body.get("digest"), str):
        return None
    if unchanged:
        files = body.get("files")
        if not isinstance(files, dict) or not files or _existing_files(dest) != set(files):
            return None
        if any(stamp is None or _file_stat(dest / path) != stamp for path, stamp in files.items()):
            return None
    return str(body["digest"])


def _remember(records: Path | None, dest: Path, files: list[Path], digest: str) -> None:
    if records is None:
        return
    body = {
        "dest": str(dest.resolve()),
        "digest": digest,  # the version written, for identifying the destination later
        "files": {f.relative_to(dest).as_posix(): _file_stat(f) for f in files},
    }
    sealed = seal(json.dumps(body, sort_keys=True).encode(), _PURPOSE)
    if sealed is not None:
        with suppress(StorageError):  # a read-only registry: the next write compares bytes instead
            atomic_write(_record_path(records, dest), sealed, durable=False)


def _refuse_links(dest: Path, rel: PurePosixPath) -> None:
    """A destination's symlink where a version's file or directory goes is never written through."""
    current = dest
    for part in rel.parts:
        current = current / part
        if os.path.islink(current):
            raise UsageError(f"refusing to write through symlink {current}", code="unsafe_path")
        if not current.is_dir():
            return


def _existing_files(dest: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(dest):
        base = Path(dirpath).relative_to(dest)
        for name in [*filenames, *(d for d in dirnames if os.path.islink(Path(dirpath) / d))]:
            found.add((base / name).as_posix())
    return found


def _plan(version: Version, dest: Path, records: Path | None, extra: dict[str, bytes]) -> set[str]:
    """The files of an earlier write to remove; refuse when a file is not ours to replace."""
    ours = {
        path
        for path, stamp in _written_before(records, dest).items()
        if stamp is not None and _file_stat(dest / path) == stamp
    }
    wanted = {entry.path: entry for entry in version.files}
    for path in wanted:
        _refuse_links(dest, PurePosixPath(path))
    for name in extra:
        _refuse_links(dest, PurePosixPath(name))
    foreign = [
        p
        for p in sorted(_existing_files(dest))
        if p not in ours and not _already(dest / p, wanted.get(p)) and not _same_bytes(dest / p, extra.get(p))
    ]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ConflictError(
            f"{dest} holds files that modelreg did not write there or that changed since ({shown}); they "
            "would be overwritten or mixed with this version's files: choose an empty directory or remove them",
            code="destination_not_empty",
        )
    return ours - set(wanted) - set(extra)


def _same_bytes(path: Path, data: bytes | None) -> bool:
    if data is None or os.path.islink(path) or not path.is_file():
        return False
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _already(path: Path, entry: FileEntry | None) -> bool:
    """Whether ``path`` already holds exactly ``entry``'s bytes."""
    if entry is None or os.path.islink(path) or not path.is_file():
        return False
    return sha256_file(path, entry.size + 1) == (entry.digest, entry.size)


def write_files(
    store: LocalBlobStore,
    version: Version,
    dest: Path,
    *,
    ensure_blob: Callable[[FileEntry], None],
    records: Path | None = None,
    progress: Callable[[int], None] | None = None,
    extra: dict[str, bytes] | None = None,
) -> list[Path]:
    """Write every file of ``version`` under ``dest``; a file whose bytes do not verify is removed.
    What was written is remembered in ``records`` (a directory) for the next write into ``dest``.
    ``progress`` hears the bytes written; ``extra`` (top-level name -> bytes, a signature) is
    written beside the files, in the same all-or-nothing step."""
    check_paths(version.files)
    extra = extra or {}
    clash = sorted(set(extra) & {e.path for e in version.files})
    if clash:
        raise UsageError(
            f"{version.name}@{version.version} holds a file named {clash[0]!r}, where its signature would go",
            code="invalid_destination",
        )
    # Fetch (and so verify) every blob before creating anything at the destination.
    for entry in version.files:
        ensure_blob(entry)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"destination {dest} exists and is not a directory", code="invalid_destination")
    if os.path.islink(dest):
        raise UsageError(f"refusing to write through symlink {dest}", code="unsafe_path")
    stale = _plan(version, dest, records, extra) if dest.is_dir() else set()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(
            f"cannot create destination {dest}: a parent is not a directory", code="invalid_destination"
        ) from None
    # All or nothing: every file is written under a temporary name (verified while written), and
    # only then are they renamed into place.
    staged: list[tuple[Path, Path]] = []
    try:
        for entry in version.files:
            rel = safe_relpath(entry.path)
            parent = _ensure_dir(dest, rel.parent)
            final = parent / rel.name
            if os.path.islink(final):
                raise UsageError(f"refusing to write through symlink {final}", code="unsafe_path")
            tmp = tmp_name(final)
            staged.append((tmp, final))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                store.copy_out(entry.digest, entry.size, fd, progress)
                os.fsync(fd)
            finally:
                os.close(fd)
        for name, data in sorted(extra.items()):
            final = dest / safe_relpath(name)
            if os.path.islink(final):
                raise UsageError(f"refusing to write through symlink {final}", code="unsafe_path")
            tmp = tmp_name(final)
            staged.append((tmp, final))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    for path in sorted(stale):
        _remove_stale(dest, path)
    for parent in {final.parent for _, final in staged}:
        fsync_dir(parent)
    written = [final for _, final in staged]
    _remember(records, dest, written, version.digest)
    return written


def _remove_stale(dest: Path, rel: str) -> None:
    """Remove a file an earlier version left, and the directories that held only it."""
    target = dest / rel
    if os.path.islink(target) or not target.is_file():
        return
    target.unlink()
    parent = target.parent
    while parent != dest:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
