"""The served copy (``get --path``): a version's files in the git-ignored cache, built once.

The files are copies, never links into the blob store, so a process that writes into them
cannot damage a version. Each copy is verified while it is written, and then stamped: the
stamp records every file's inode, size, mtime and ctime (as git's index does) and carries this
machine's MAC. A later call whose files still match the stamp is answered without reading a
byte; a changed, unstamped or planted copy is rebuilt from the store.

A registry that cannot be written (a read-only mount in a serving container) gets its served
copies in the user's cache directory instead, keyed by the version's digest.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.base.fs import REFUSED, atomic_write, read_own, tmp_name
from modelreg.base.machine import cache_dir, own_dir, seal, unseal
from modelreg.errors import StorageError
from modelreg.ops.serving.destination import write_files
from modelreg.records.filepaths import check_paths, folders_of
from modelreg.records.manifest import Version
from modelreg.stores.hashing import sha256_file

if TYPE_CHECKING:
    from modelreg.repo import Repo

_PURPOSE = b"modelreg served copy v1"
STAMP_LIMIT = 64 << 20  # a stamp lists every file of a version: far below this


def materialize(
    repo: Repo, version: Version, *, rehash: bool = False, progress: Callable[[int], None] | None = None
) -> Path:
    """The directory holding the version's verified files (built if missing or changed).

    ``rehash`` also re-reads an unchanged copy's bytes (the stamp makes that unnecessary unless
    someone suspects the disk itself). ``progress`` hears the bytes copied while it is built.
    """
    check_paths(version.files)
    name = version.digest.partition(":")[2]
    try:
        return _served(repo, version, repo.tree.inside(repo.state_dir / "cache" / "versions" / name), rehash, progress)
    except StorageError:
        if not _cannot_write(repo.state_dir):
            raise
    return _served(repo, version, own_dir(cache_dir(), "cache") / "versions" / name, rehash, progress)


def _cannot_write(path: Path) -> bool:
    probe = path if path.exists() else path.parent
    return not os.access(probe, os.W_OK) or _read_only_fs(probe)


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _served(
    repo: Repo, version: Version, final: Path, rehash: bool, progress: Callable[[int], None] | None = None
) -> Path:
    if _stamp_matches(version, final) and (not rehash or _bytes_match(version, final)):
        return final
    import shutil  # only when a copy is built: a warm read answers from the stamp above

    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = tmp_name(final)
        tmp_dir.mkdir()
    except OSError as exc:
        if exc.errno in REFUSED:
            raise StorageError(f"cannot write the served copy in {final.parent}: {exc.strerror}") from None
        raise
    try:
        write_files(repo.blobs, version, tmp_dir, ensure_blob=repo.ensure_blob, progress=progress)
        for entry in version.files:
            os.chmod(tmp_dir / entry.path, 0o444)  # a reminder that these bytes are not to be edited
        try:
            os.rename(tmp_dir, final)
        except OSError:
            # Another process got there first: keep its copy if good, so a reader of the path
            # never sees it vanish; replace it only if it is damaged.
            if not (_bytes_match(version, final) and _only_these(final, {e.path for e in version.files})):
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp_dir, final)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
    _write_stamp(version, final)
    return final


def _file_stat(path: Path) -> list[int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _stamp_path(final: Path) -> Path:
    return final.with_name(final.name + ".stamp")


def _only_these(final: Path, paths: set[str]) -> bool:
    """True when the copy holds the version's files and nothing else (no file planted beside them)."""
    dirs = folders_of(paths)
    for top, subdirs, names in os.walk(final):
        rel = os.path.relpath(top, final).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        if any(prefix + n not in paths for n in names) or any(prefix + d not in dirs for d in subdirs):
            return False
    return True


def _stamp_body(version: Version, final: Path) -> dict[str, Any] | None:
    if not _only_these(final, {entry.path for entry in version.files}):
        return None
    files = {}
    for entry in version.files:
        found = _file_stat(final / entry.path)
        if found is None or found[1] != entry.size:
            return None
        files[entry.path] = found
    return {"digest": version.digest, "dir": str(final), "files": files}


def _write_stamp(version: Version, final: Path) -> None:
    body = _stamp_body(version, final)
    sealed = seal(json.dumps(body, sort_keys=True).encode(), _PURPOSE) if body else None
    if sealed is None:
        return  # no key here: the copy is verified again next time
    with suppress(StorageError):  # a copy without a stamp is verified again next time
        atomic_write(_stamp_path(final), sealed, durable=False)


def _stamp_matches(version: Version, final: Path) -> bool:
    raw = read_own(_stamp_path(final), STAMP_LIMIT)
    data = None if raw is None else unseal(raw, _PURPOSE)
    if data is None:
        return False
    try:
        stamped = json.loads(data)
    except ValueError:
        return False
    current = _stamp_body(version, final)
    return current is not None and stamped == json.loads(json.dumps(current, sort_keys=True))


def _bytes_match(version: Version, final: Path) -> bool:
    for entry in version.files:
        path = final / entry.path
        if path.is_symlink() or not path.is_file():
            return False
        try:
            if sha256_file(path, entry.size + 1) != (entry.digest, entry.size):
                return False
        except OSError:
            return False
    return True


def stamped_digest(final: Path) -> str | None:
    """The version digest the stamp of the copy ``final`` names, when this machine wrote the
    stamp for that very directory; whether the files still match it is ``stamp_matches``'s to say."""
    raw = read_own(_stamp_path(final), STAMP_LIMIT)
    data = None if raw is None else unseal(raw, _PURPOSE)
    if data is None:
        return None
    try:
        stamped = json.loads(data)
    except ValueError:
        return None
    if not isinstance(stamped, dict) or stamped.get("dir") != str(final) or not isinstance(stamped.get("digest"), str):
        return None
    return str(stamped["digest"])


def stamp_matches(version: Version, final: Path) -> bool:
    """The copy ``final`` holds exactly ``version``'s files, unchanged since they were verified
    (inode, size, mtime and ctime of each, nothing beside them), without reading a byte."""
    return _stamp_matches(version, final)
