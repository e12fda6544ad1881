"""Handing out a version's files: into a destination (``export``, ``--output``) or the served
copy in the cache (``--path``); safe paths only, every byte verified."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from modelreg.base.fs import fsync_dir, tmp_name
from modelreg.errors import IntegrityError, UsageError
from modelreg.records.filepaths import check_paths, safe_relpath
from modelreg.records.manifest import FileEntry, Version
from modelreg.stores.blobs import LocalBlobStore
from modelreg.stores.hashing import sha256_file

if TYPE_CHECKING:
    from modelreg.repo import Repo


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


def write_files(
    store: LocalBlobStore,
    version: Version,
    dest: Path,
    *,
    ensure_blob: Callable[[FileEntry], None],
    link: bool = False,
) -> list[Path]:
    """Write every file of ``version`` under ``dest``; a file whose bytes do not verify is removed."""
    check_paths(version.files)
    # Fetch (and so verify) every blob before creating anything at the destination.
    for entry in version.files:
        ensure_blob(entry)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"destination {dest} exists and is not a directory", code="invalid_destination")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(
            f"cannot create destination {dest}: a parent is not a directory", code="invalid_destination"
        ) from None
    if os.path.islink(dest):
        raise UsageError(f"refusing to write through symlink {dest}", code="unsafe_path")
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
            if link:
                _link_verified(store, entry, tmp)
            else:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                try:
                    store.copy_out(entry.digest, entry.size, fd)
                    os.fsync(fd)
                finally:
                    os.close(fd)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    for parent in {final.parent for _, final in staged}:
        fsync_dir(parent)
    return [final for _, final in staged]


def _link_verified(store: LocalBlobStore, entry: FileEntry, tmp: Path) -> None:
    blob = store.path(entry.digest)
    try:
        os.link(blob, tmp)
    except OSError:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
        try:
            store.copy_out(entry.digest, entry.size, fd)
        finally:
            os.close(fd)
        return
    digest, size = sha256_file(tmp)
    if digest != entry.digest or size != entry.size:
        tmp.unlink(missing_ok=True)
        raise IntegrityError(f"blob {blob} does not match its digest {entry.digest}", code="digest_mismatch")


def cached_copy_ok(version: Version, directory: Path, *, rehash: bool = True) -> bool:
    """True when ``directory`` holds the version's files with the right sizes (and bytes)."""
    for entry in version.files:
        path = directory / entry.path
        if path.is_symlink() or not path.is_file():
            return False
        if rehash:
            if sha256_file(path) != (entry.digest, entry.size):
                return False
        elif path.stat().st_size != entry.size:
            return False
    return True


def export(repo: Repo, version: Version, dest: Path) -> list[Path]:
    return write_files(repo.blobs, version, dest, ensure_blob=repo.ensure_blob)


def materialize(repo: Repo, version: Version, *, rehash: bool = True) -> Path:
    """A directory of the version's files inside the git-ignored cache, verified when written.

    With ``rehash`` (the default, for anything that hands the bytes out) an existing copy is
    hashed again; without it, an existing copy whose file sizes match is taken as it is.
    """
    check_paths(version.files)
    final = repo.state_dir / "cache" / "versions" / version.digest.partition(":")[2]
    if final.is_dir() and cached_copy_ok(version, final, rehash=rehash):
        return final
    tmp_dir = tmp_name(final)
    tmp_dir.mkdir(parents=True)
    try:
        write_files(repo.blobs, version, tmp_dir, ensure_blob=repo.ensure_blob, link=True)
        try:
            os.rename(tmp_dir, final)
        except OSError:
            # Another process got there first: keep its copy if good, so a reader of the
            # path never sees it vanish; replace it only if it is damaged.
            if not cached_copy_ok(version, final):
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp_dir, final)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return final
