"""``upgrade``: bring a registry to format version 2 in place; killed at any point, a rerun finishes.

1. ``modelreg.toml`` says ``format_version = 2`` (one line rewritten, atomically; the rest of the
   file, comments included, stays as it was). From then on large files are stored as chunks; a
   format-2 registry may still hold a large file as a whole blob, and reads it as it is.
2. Every whole blob of at least ``[storage] chunk_min_size`` becomes chunks: its bytes are chunked
   into packs and hashed again on the way (they must still match the digest), the recipe is
   written, and only then is the whole blob removed. A blob whose recipe is already complete (a
   run killed after writing it) is checked by assembling its digest before its blob goes.

Another clone of the registry gets step 1 through git; its ``upgrade`` does step 2 for its store.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from modelreg.base.effects import Accumulated
from modelreg.base.fs import atomic_write, fsync_dir, read_limited
from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, NotFoundError, UsageError
from modelreg.records.config import CONFIG_NAME, FORMAT_VERSION, load_config
from modelreg.repo import Repo

_FORMAT_LINE = re.compile(rb"(?m)^([ \t]*format_version[ \t]*=[ \t]*)1([ \t]*(?:#[^\n]*)?)$")


@dataclass
class UpgradeReport(Accumulated):
    from_format: int
    to_format: int = FORMAT_VERSION
    converted: list[str] = field(default_factory=list)
    bytes_converted: int = 0
    stored_before: int = 0
    stored_after: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "from_format": self.from_format,
            "to_format": self.to_format,
            "converted": self.converted,
            "bytes_converted": self.bytes_converted,
            "stored_before": self.stored_before,
            "stored_after": self.stored_after,
        }


def to_convert(reg: Repo) -> list[tuple[str, int]]:
    """The whole blobs of this store that format 2 keeps as chunks: (digest, size)."""
    found = []
    limit = reg.config.storage.chunk_min_size
    for digest, path in reg.blobs.iter_digests():
        try:
            size = os.lstat(path).st_size
        except FileNotFoundError:
            continue
        if size >= limit:
            found.append((digest, size))
    return found


def upgrade(reg: Repo, progress: Progress | None = None) -> UpgradeReport:
    reg.require_writable()
    report = UpgradeReport(from_format=reg.config.format_version)
    if reg.config.format_version < 2:
        _write_format(reg)
    with reg.blob_lock():  # chunks are stored before their recipe exists: gc waits
        before = _packs_size(reg)
        for digest, size in to_convert(reg):
            if _convert(reg, digest, size, progress):
                report.converted.append(digest)
                report.bytes_converted += size
        report.stored_before = report.bytes_converted
        report.stored_after = _packs_size(reg) - before
    return report


def _write_format(reg: Repo) -> None:
    path = reg.tree.inside(reg.root / CONFIG_NAME)
    raw = read_limited(path, 1 << 20)
    new, count = _FORMAT_LINE.subn(rb"\g<1>2\g<2>", raw)
    if count != 1:
        raise UsageError(
            f"{path}: cannot find the line 'format_version = 1' to change; set format_version = 2 by hand "
            "and run 'modelreg upgrade' again",
            code="invalid_config",
        )
    atomic_write(path, new)
    reg.config = load_config(path, reg.parse_cache)
    reg.blobs.chunk_min_size = reg.config.chunk_min_size()


def _convert(reg: Repo, digest: str, size: int, progress: Progress | None) -> bool:
    """Whole blob -> chunks; False (and a warning) for a blob whose bytes do not match its name."""
    store = reg.blobs
    blob = store.path(digest)
    done = False
    if store.chunks.complete(digest, size):  # a run killed after the recipe: prove it, then finish
        try:
            store.chunks.verify(digest, size)
            done = True
        except (IntegrityError, NotFoundError):
            done = False
    if not done:
        try:
            # Hashed again while chunked: the recipe is written only if the bytes still match.
            store.put_verified(blob, digest, size)
        except IntegrityError:
            reg.warnings.append(
                f"the blob {blob} does not match its digest and was left as it is: 'modelreg verify' reports "
                "it, 'modelreg pull' replaces it"
            )
            return False
    blob.unlink(missing_ok=True)
    fsync_dir(blob.parent)
    if progress is not None:
        progress(size)
    return True


def _packs_size(reg: Repo) -> int:
    index = reg.blobs.chunks.index()
    return sum(pack.pack_size for pack in index.packs.values())
