"""Is a local file what its name says? Hashing only what changed since modelreg last looked.

A whole blob, or a pack, is trusted while it is unchanged since it was last found sound: same
device, inode, size, mtime and ctime as the fingerprint kept in ``.modelreg/cache/verified-blobs/``
(``verified-packs/`` for packs). Writing to a file changes its ctime and nobody can set a ctime
back, so an edited, truncated or replaced file is hashed again. A corrupt blob is moved to
``blobs/quarantine/``; a pack with corrupt chunks is rewritten without them (the old one kept in
quarantine), so that a pull fetches good copies of exactly those chunks.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from modelreg.base.fs import atomic_write, open_regular, read_limited
from modelreg.errors import IntegrityError, StorageError
from modelreg.records.manifest import FileEntry
from modelreg.repo import Repo
from modelreg.stores.hashing import sha256_fd

ABSENT, SOUND, CORRUPT = "absent", "sound", "corrupt"
_STAMP_LIMIT = 512


def local_file_usable(reg: Repo, entry: FileEntry) -> bool:
    """For pull: a sound local file is kept; a corrupt one is set aside (and fetched again)."""
    if not reg.blobs.is_whole(entry.digest) and reg.blobs.chunks.has_recipe(entry.digest):
        return _chunked_usable(reg, entry)
    found = local_blob_state(reg, entry.digest)
    if found == CORRUPT:
        moved = reg.blobs.quarantine(entry.digest)
        if moved is not None:
            reg.warnings.append(
                f"the local blob of {entry.path!r} ({entry.digest}) did not match its digest: "
                f"moved to {moved}, a good copy is fetched from the remote"
            )
    return found == SOUND


def _chunked_usable(reg: Repo, entry: FileEntry) -> bool:
    from modelreg.stores.chunks.assemble import check_pack, plan_runs

    store = reg.blobs.chunks
    try:
        recipe = store.recipe(entry.digest, entry.size)
    except IntegrityError as exc:
        place = store.quarantine_recipe(entry.digest)
        reg.warnings.append(f"{exc.message}: moved to {place}, the remote's copy is fetched")
        return False
    index = store.index()
    runs, missing = plan_runs(index, recipe)
    if missing:
        return False
    bad: set[bytes] = set()
    for name in sorted({run.pack for run in runs}):
        path = index.pack_path(name)
        try:
            st = os.lstat(path)
        except OSError:
            return False
        stamp = _stamp_path(reg, "verified-packs", name)
        if _read_stamp(stamp) == _fingerprint(name, st):
            continue
        found = check_pack(path, index.packs[name].offsets())
        bad.update(found)
        if not found:
            _write_stamp(stamp, _fingerprint(name, st))
    if bad:
        moved = store.drop_chunks(bad)
        reg.warnings.append(
            f"{len(bad)} chunks of {entry.path!r} in the local store did not match their ids: their packs were "
            f"rewritten without them (the old ones kept as {', '.join(moved)}); good copies are fetched"
        )
        return False
    return True


def local_blob_state(reg: Repo, digest: str) -> str:
    """ABSENT, SOUND (its bytes hash to ``digest``) or CORRUPT; hashes only a blob that changed
    since it was last found sound, or that was never checked here."""
    path = reg.blobs.path(digest)
    try:
        fd = open_regular(path)  # never through a symlink, never blocking on a FIFO
    except (FileNotFoundError, NotADirectoryError):
        return ABSENT
    except IntegrityError:
        return CORRUPT  # a symlink, a FIFO, a directory... where a blob file should be
    try:
        before = os.fstat(fd)
        stamp = _stamp_path(reg, "verified-blobs", digest.partition(":")[2])
        if _read_stamp(stamp) == _fingerprint(digest, before):
            return SOUND
        actual, _ = sha256_fd(fd)
        if actual != digest:
            return CORRUPT
        if _fingerprint(digest, os.fstat(fd)) == _fingerprint(digest, before):
            _write_stamp(stamp, _fingerprint(digest, before))
        return SOUND
    finally:
        os.close(fd)


def remember_sound(reg: Repo, digest: str) -> None:
    """The blob was just verified (a fetch): remember its fingerprint."""
    try:
        st = os.lstat(reg.blobs.path(digest))
    except OSError:
        return
    if stat.S_ISREG(st.st_mode):
        _write_stamp(_stamp_path(reg, "verified-blobs", digest.partition(":")[2]), _fingerprint(digest, st))


def _fingerprint(name: str, st: os.stat_result) -> str:
    return f"{name} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}\n"


def _stamp_path(reg: Repo, kind: str, name: str) -> Path:
    return reg.tree.inside(reg.state_dir / "cache" / kind / name)


def _read_stamp(path: Path) -> str | None:
    try:
        return read_limited(path, _STAMP_LIMIT).decode("ascii", "replace")
    except (OSError, OverflowError, IntegrityError):
        return None


def _write_stamp(path: Path, text: str) -> None:
    with contextlib.suppress(OSError, StorageError):  # a cache: the file is hashed again next time
        atomic_write(path, text.encode("ascii"), durable=False)
