"""``push`` and ``pull``: moving blobs between the local store and the remote store.

Objects are named by digest, so an upload is idempotent and two pushes of the same blob race
harmlessly; only what the other side lacks is transferred, and every byte is verified.

Neither side is trusted by a name alone. ``push`` uploads again an object whose size on the
remote is not the recorded one (the backend quarantines the bad object first). ``pull`` trusts a
local blob only while it is unchanged since modelreg last hashed it: same device, inode, size,
mtime and ctime as the fingerprint kept in ``.modelreg/cache/verified-blobs/<hex>``. Writing to a
file changes its ctime and nobody can set a ctime back, so an edited, truncated or replaced
blob is hashed again; if its bytes do not match, it is moved to ``blobs/quarantine/`` and fetched
again. A fetch whose bytes do not match moves the remote object to the remote's quarantine.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.base.fs import atomic_write, open_regular, read_limited
from modelreg.errors import ConflictError, IntegrityError, NotFoundError, StorageError, UsageError
from modelreg.records.manifest import FileEntry, Version
from modelreg.records.refs import parse_ref
from modelreg.repo import Repo
from modelreg.stores.hashing import sha256_fd

from .resolve import resolve

if TYPE_CHECKING:
    from modelreg.stores.remotes import RemoteStore

Progress = Callable[[int], None]


@dataclass
class TransferReport:
    direction: str
    remote: str
    transferred: int = 0
    bytes: int = 0
    already_present: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "remote": self.remote,
            "transferred": self.transferred,
            "bytes": self.bytes,
            "already_present": self.already_present,
        }


def select_versions(reg: Repo, target: str | None) -> list[Version]:
    """Everything when ``target`` is None, all of a model's versions for NAME, one for NAME@REF."""
    # issue 13: a removed version's bytes are garbage; push and pull leave them alone.
    if target is None:
        return [v for v in reg.iter_all_versions() if not v.removed]
    ref = parse_ref(target)
    if ref.explicit:
        version = resolve(reg, ref)
        if version.removed:
            raise ConflictError(
                f"{version.name}@{version.version} was removed; its files are not transferred", code="removed"
            )
        return [version]
    return [v for v in reg.versions(ref.name) if not v.removed]


def unique_files(versions: Iterable[Version]) -> list[FileEntry]:
    seen: dict[str, FileEntry] = {}
    for version in versions:
        for entry in version.files:
            seen.setdefault(entry.digest, entry)
    return list(seen.values())


def _require_remote(reg: Repo) -> RemoteStore:
    remote = reg.remote()
    if remote is None:
        raise UsageError(
            "no remote blob store is configured: set [remote] url in modelreg.toml or MODELREG_REMOTE",
            code="no_remote",
        )
    return remote


Plan = tuple[list[FileEntry], int]  # the files to move, and how many the other side already has


def plan_transfer(reg: Repo, direction: str, versions: list[Version]) -> Plan:
    """What a push (the remote lacks) or a pull (this registry lacks) has to move."""
    files = unique_files(versions)
    remote = _require_remote(reg)
    if direction == "push":
        # Absent, or present with another size (corrupt): both are uploaded.
        lacking = remote.missing([f.digest for f in files], {f.digest: f.size for f in files})
        todo = [f for f in files if f.digest in lacking]
    else:
        todo = [f for f in files if not _local_blob_usable(reg, f)]
    return todo, len(files) - len(todo)


def transfer(
    reg: Repo, direction: str, versions: list[Version], progress: Progress | None = None, plan: Plan | None = None
) -> TransferReport:
    """Push or pull the blobs of ``versions``; ``plan`` is plan_transfer's answer if already known."""
    remote = _require_remote(reg)
    files, present = plan if plan is not None else plan_transfer(reg, direction, versions)
    move = _push_one if direction == "push" else _pull_one
    report = TransferReport(direction, remote.url, already_present=present)
    for entry in files:
        if move(reg, remote, entry, progress):
            report.transferred += 1
            report.bytes += entry.size
        else:
            report.already_present += 1
    return report


def _push_one(reg: Repo, remote: RemoteStore, entry: FileEntry, progress: Progress | None) -> bool:
    found = local_blob_state(reg, entry.digest)
    if found == ABSENT:
        raise NotFoundError(
            f"blob {entry.digest} ({entry.path}) is not in the local store, so it cannot be pushed; "
            "'modelreg pull' on a machine with the remote, or re-register",
            code="blob_missing",
        )
    if found == CORRUPT:  # never spread corrupt bytes
        raise IntegrityError(
            f"local blob {reg.blobs.path(entry.digest)} does not match its digest {entry.digest}, so it is not "
            "pushed: 'modelreg pull' replaces it with the remote's copy, or register the file again",
            code="digest_mismatch",
        )
    return remote.upload(entry.digest, reg.blobs.path(entry.digest), entry.size, progress)


def _pull_one(reg: Repo, remote: RemoteStore, entry: FileEntry, progress: Progress | None) -> bool:
    from modelreg.stores.remotes.fetch import fetch_blob

    fetch_blob(remote, reg.blobs, entry.digest, entry.size, progress)
    _remember_sound(reg, entry.digest)
    return True


# -- is a local blob what its name says? ---------------------------------------------------------

ABSENT, SOUND, CORRUPT = "absent", "sound", "corrupt"
_STAMP_LIMIT = 512


def _local_blob_usable(reg: Repo, entry: FileEntry) -> bool:
    """For pull: a sound local blob is kept; a corrupt one is quarantined (and fetched again)."""
    found = local_blob_state(reg, entry.digest)
    if found == CORRUPT:
        moved = reg.blobs.quarantine(entry.digest)
        if moved is not None:
            reg.warnings.append(
                f"the local blob of {entry.path!r} ({entry.digest}) did not match its digest: "
                f"moved to {moved}, a good copy is fetched from the remote"
            )
    return found == SOUND


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
        stamp = _stamp_path(reg, digest)
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


def _remember_sound(reg: Repo, digest: str) -> None:
    """The blob was just verified (a fetch): remember its fingerprint."""
    try:
        st = os.lstat(reg.blobs.path(digest))
    except OSError:
        return
    if stat.S_ISREG(st.st_mode):
        _write_stamp(_stamp_path(reg, digest), _fingerprint(digest, st))


def _fingerprint(digest: str, st: os.stat_result) -> str:
    return f"{digest} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}\n"


def _stamp_path(reg: Repo, digest: str) -> Path:
    return reg.tree.inside(reg.state_dir / "cache" / "verified-blobs" / digest.partition(":")[2])


def _read_stamp(path: Path) -> str | None:
    try:
        return read_limited(path, _STAMP_LIMIT).decode("ascii", "replace")
    except (OSError, OverflowError, IntegrityError):
        return None


def _write_stamp(path: Path, text: str) -> None:
    with contextlib.suppress(OSError, StorageError):  # a cache: the blob is hashed again next time
        atomic_write(path, text.encode("ascii"), durable=False)
