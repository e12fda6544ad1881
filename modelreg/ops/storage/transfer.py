"""``push`` and ``pull``: moving files between the local store and the remote store.

Whole blobs are named by digest, so an upload is idempotent and two pushes of the same blob race
harmlessly; chunked files move as packs of the chunks the other side lacks (stores/chunks/sync.py).
``--jobs`` transfers run at once; a transfer killed half way and run again moves only the rest.

Neither side is trusted by a name alone. ``push`` uploads again an object whose size on the
remote is not the recorded one (the backend quarantines the bad object first), and never sends
a chunk whose bytes do not match its id. ``pull`` trusts a local blob or pack only while it is
unchanged since modelreg last hashed it (``transfer_state.py``); a corrupt one is set aside in
``blobs/quarantine/`` and fetched again. A fetch whose bytes do not match moves the remote
object to the remote's quarantine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from modelreg.base.effects import Accumulated
from modelreg.base.progress import Progress
from modelreg.errors import ConflictError, IntegrityError, NotFoundError, UsageError
from modelreg.ops.queries.resolve import resolve
from modelreg.ops.storage.verified_fingerprints import (
    ABSENT,
    CORRUPT,
    local_blob_state,
    local_file_usable,
    remember_sound,
)
from modelreg.records.manifest import FileEntry, Version
from modelreg.records.refs import parse_ref
from modelreg.repo import Repo

if TYPE_CHECKING:
    from modelreg.stores.remotes import RemoteStore

DEFAULT_JOBS = 8
UPGRADE_HINT = "run 'modelreg upgrade' to store large files as chunks (only changed chunks are stored and moved)"


@dataclass
class TransferReport(Accumulated):
    direction: str
    remote: str
    transferred: int = 0
    bytes: int = 0
    already_present: int = 0
    packs: int = 0
    published: str | None = None  # the publication a push made (repo/published.py)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, moved: int, nbytes: int, present: int = 0, packs: int = 0) -> None:
        with self._lock:
            self.transferred += moved
            self.bytes += nbytes
            self.already_present += present
            self.packs += packs

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "remote": self.remote,
            "transferred": self.transferred,
            "bytes": self.bytes,
            "already_present": self.already_present,
            "published": self.published,
        }


@dataclass
class Plan:
    whole: list[FileEntry]  # files moved as whole blobs
    chunked: list[FileEntry]  # files moved as chunks (only the chunks the other side lacks)
    present: int  # files the other side already has

    @property
    def total(self) -> int:
        """At most this many bytes move (chunks the other side has are not sent)."""
        return sum(f.size for f in self.whole) + sum(f.size for f in self.chunked)


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


def plan_transfer(reg: Repo, direction: str, versions: list[Version]) -> Plan:
    """What a push (the remote lacks) or a pull (this registry lacks) has to move."""
    files = unique_files(versions)
    remote = _require_remote(reg)
    if direction == "push":
        chunked = [f for f in files if not reg.blobs.is_whole(f.digest) and reg.blobs.chunks.has_recipe(f.digest)]
        whole = [f for f in files if f not in chunked]
        # Absent, or present with another size (corrupt): both are uploaded.
        lacking = remote.missing([f.digest for f in whole], {f.digest: f.size for f in whole})
        todo = [f for f in whole if f.digest in lacking]
        return Plan(todo, chunked, len(whole) - len(todo))
    todo = [f for f in files if not local_file_usable(reg, f)]
    chunked = [f for f in todo if reg.blobs.chunked(f.size)]
    return Plan([f for f in todo if f not in chunked], chunked, len(files) - len(todo))


def transfer(
    reg: Repo,
    direction: str,
    versions: list[Version],
    progress: Progress | None = None,
    plan: Plan | None = None,
    *,
    jobs: int = DEFAULT_JOBS,
    replan: Callable[[int], None] | None = None,
) -> TransferReport:
    """Push or pull the files of ``versions``; ``plan`` is plan_transfer's answer if already known.

    ``plan.total`` counts chunked files at their full size; once the chunks the other side
    lacks are known (before any byte moves), ``replan`` hears by how much the bytes that will
    really move differ, so a progress total is what moves, not what the files weigh."""
    from modelreg.stores.chunks.sync import run_jobs

    if jobs < 1:
        raise UsageError("--jobs must be at least 1", code="usage")
    reg.require_writable()
    remote = _require_remote(reg)
    plan = plan if plan is not None else plan_transfer(reg, direction, versions)
    report = TransferReport(direction, remote.url, already_present=plan.present)
    if reg.config.format_version < 2 and any(f.size >= reg.config.storage.chunk_min_size for f in plan.whole):
        reg.warnings.append(f"this registry is in format 1: {UPGRADE_HINT}")
    # Pushes read packs and pulls write them: gc waits (see ops/gc.py).
    with reg.blob_lock():
        if direction == "push":
            if plan.chunked:
                _push_chunked(reg, remote, plan.chunked, jobs, progress, report, replan)
            run_jobs([partial(_push_one, reg, remote, entry, progress, report) for entry in plan.whole], jobs)
            report.published = _publish(reg, remote)
        else:
            whole = list(plan.whole)
            if plan.chunked:
                whole += _pull_chunked(reg, remote, plan.chunked, jobs, progress, report, replan)
            run_jobs([partial(_pull_one, reg, remote, entry, progress, report) for entry in whole], jobs)
    return report


def _publish(reg: Repo, remote: RemoteStore) -> str | None:
    """The records go up once the bytes are there, so every version they name can be served."""
    from modelreg.stores.remotes.blob_remote import BlobRemote

    from .publish import publish

    if not isinstance(remote, BlobRemote):
        return None
    return publish(reg, remote.backend).publication


def _planned(files: list[FileEntry], replan: Callable[[int], None] | None) -> Callable[[int], None] | None:
    """What hears the bytes the chunked part will move, told as a change to its full size."""
    if replan is None:
        return None
    full = sum(f.size for f in files)
    return lambda moving: replan(moving - full)


def _push_chunked(
    reg: Repo,
    remote: RemoteStore,
    files: list[FileEntry],
    jobs: int,
    progress: Progress | None,
    report: TransferReport,
    replan: Callable[[int], None] | None = None,
) -> None:
    from modelreg.stores.chunks.sync import push_files

    rindex = reg.remote_index()
    refs = [(f.digest, f.size) for f in files]
    moved = push_files(reg.blobs.chunks, rindex.objects, rindex, refs, jobs, progress, _planned(files, replan))
    report.count(len(moved.files), moved.bytes, len(moved.present), moved.packs)


def _pull_chunked(
    reg: Repo,
    remote: RemoteStore,
    files: list[FileEntry],
    jobs: int,
    progress: Progress | None,
    report: TransferReport,
    replan: Callable[[int], None] | None = None,
) -> list[FileEntry]:
    """Pull what the remote keeps as chunks; returns the files it keeps as whole blobs."""
    from modelreg.repo.fetching import pull_chunked

    refs = [(f.digest, f.size) for f in files]
    moved = pull_chunked(remote, reg.blobs, reg.remote_index(), refs, jobs, progress, _planned(files, replan))
    report.count(len(moved.files), moved.bytes, 0, moved.packs)
    return [f for f in files if f.digest in set(moved.absent)]


def _push_one(
    reg: Repo, remote: RemoteStore, entry: FileEntry, progress: Progress | None, report: TransferReport
) -> None:
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
    sent = remote.upload(entry.digest, reg.blobs.path(entry.digest), entry.size, progress)
    report.count(1 if sent else 0, entry.size if sent else 0, 0 if sent else 1)


def _pull_one(
    reg: Repo, remote: RemoteStore, entry: FileEntry, progress: Progress | None, report: TransferReport
) -> None:
    from modelreg.repo.fetching import fetch_file

    moved = fetch_file(remote, reg.blobs, reg.remote_index(), entry.digest, entry.size, progress)
    if reg.blobs.is_whole(entry.digest):
        remember_sound(reg, entry.digest)
    report.count(1, moved)
