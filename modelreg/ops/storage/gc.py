"""``gc``: remove what nothing refers to — unreferenced blobs, recipes and chunk packs, stale
caches, interrupted writes.

A register stores its blobs before it records the version, so a blob may be unreferenced for a
moment. Every change that may reference blobs holds the registry's blob lock shared from before
it stores or reuses a blob until its version is recorded; gc holds it alone while it decides
and removes. So gc never removes what a version references or what a change in progress is
about to reference, whatever ``--grace`` says; the grace only keeps young unreferenced blobs
(a register that failed and will be retried).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.effects import Accumulated
from modelreg.base.fs import TMP_SUFFIX
from modelreg.repo import Repo

DEFAULT_GRACE = 3600.0


@dataclass
class GcReport(Accumulated):
    dry_run: bool
    blobs_removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    leftovers_removed: list[str] = field(default_factory=list)
    cache_removed: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    recipes_removed: list[str] = field(default_factory=list)
    packs_removed: list[str] = field(default_factory=list)
    packs_rewritten: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "blobs_removed": self.blobs_removed,
            "recipes_removed": self.recipes_removed,
            "packs_removed": self.packs_removed,
            "packs_rewritten": self.packs_rewritten,
            "bytes_freed": self.bytes_freed,
            "leftovers_removed": self.leftovers_removed,
            "cache_removed": self.cache_removed,
            "recovered": self.recovered,
        }


def _sweep_chunks(reg: Repo, report: GcReport, referenced: dict[str, int], dry_run: bool, grace: float) -> None:
    from modelreg.stores.chunks.sweep import sweep

    swept = sweep(reg.blobs.chunks, referenced, grace=grace, dry_run=dry_run)
    report.recipes_removed = swept.recipes_removed
    report.packs_removed = swept.packs_removed
    report.packs_rewritten = swept.packs_rewritten
    report.bytes_freed += swept.bytes_freed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def collect_garbage(reg: Repo, *, dry_run: bool = False, grace: float = DEFAULT_GRACE) -> GcReport:
    reg.require_writable()
    if dry_run:
        return _collect(reg, dry_run, grace)  # decides nothing, so it waits for nobody
    with reg.blob_lock(exclusive=True):
        return _collect(reg, dry_run, grace)


def _collect(reg: Repo, dry_run: bool, grace: float) -> GcReport:
    report = GcReport(dry_run)
    if not dry_run:
        report.recovered = reg.recover_all()
    referenced: dict[str, int] = {}
    version_digests: set[str] = set()
    for version in reg.iter_all_versions():
        if version.removed:
            continue  # a removed version's bytes are garbage, unless a live version shares them
        referenced.update((f.digest, f.size) for f in version.files)
        version_digests.add(version.digest.partition(":")[2])
    now = time.time()
    for digest, path in reg.blobs.iter_digests():
        if digest in referenced:
            continue
        st = path.stat()
        if now - st.st_mtime < grace:
            continue
        report.blobs_removed.append(digest)
        report.bytes_freed += st.st_size
        if not dry_run:
            path.unlink(missing_ok=True)
    _sweep_chunks(reg, report, referenced, dry_run, grace)
    for path in reg.leftovers():
        report.leftovers_removed.append(str(path.relative_to(reg.root)))
        if not dry_run:
            _remove(path)
    if not dry_run:
        shutil.rmtree(reg.parse_cache, ignore_errors=True)  # rebuilt on demand
    cache = reg.state_dir / "cache" / "versions"
    if cache.is_dir():
        for entry in cache.iterdir():
            if entry.name.removesuffix(".stamp") not in version_digests and not entry.name.endswith(TMP_SUFFIX):
                report.cache_removed.append(str(entry.relative_to(reg.root)))
                if not dry_run:
                    _remove(entry)
    return report
