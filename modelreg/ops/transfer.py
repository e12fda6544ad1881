"""``push`` and ``pull``: moving blobs between the local store and the remote store.

Objects are named by digest, so an upload is idempotent and two pushes of the same blob race
harmlessly; only what the other side lacks is transferred, and every byte is verified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelreg.errors import NotFoundError, UsageError
from modelreg.records.manifest import FileEntry, Version
from modelreg.records.refs import parse_ref
from modelreg.repo import Repo

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
    if target is None:
        return list(reg.iter_all_versions())
    ref = parse_ref(target)
    return [resolve(reg, ref)] if ref.explicit else reg.versions(ref.name)


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
    if direction == "push":
        lacking = _require_remote(reg).missing([f.digest for f in files])
        todo = [f for f in files if f.digest in lacking]
    else:
        todo = [f for f in files if not reg.blobs.exists(f.digest)]
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
    if not reg.blobs.exists(entry.digest):
        raise NotFoundError(
            f"blob {entry.digest} ({entry.path}) is not in the local store, so it cannot be pushed; "
            "'modelreg pull' on a machine with the remote, or re-register",
            code="blob_missing",
        )
    reg.blobs.verify(entry.digest, entry.size)  # never spread corrupt bytes
    return remote.upload(entry.digest, reg.blobs.path(entry.digest), entry.size, progress)


def _pull_one(reg: Repo, remote: RemoteStore, entry: FileEntry, progress: Progress | None) -> bool:
    reg.blobs.put_download(entry.digest, lambda tmp: remote.download(entry.digest, tmp, progress))
    return True
