"""Fetching a file missing here from the remote: as chunks when the remote keeps it so, else as
its whole blob (stored as chunks on arrival in a format-2 registry); every byte verified."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from modelreg.base.progress import Progress
from modelreg.errors import NotFoundError

if TYPE_CHECKING:
    from modelreg.stores.blobs import LocalBlobStore
    from modelreg.stores.chunks.remote_index import RemoteIndex
    from modelreg.stores.chunks.sync import FileRef, Moved
    from modelreg.stores.remotes import RemoteStore


def remote_index(remote: RemoteStore, cache_base: Path, warn: Callable[[str], None]) -> RemoteIndex:
    from modelreg.stores.chunks.remote_index import RemoteIndex, cache_dir_for
    from modelreg.stores.remotes.objects import open_objects

    return RemoteIndex(open_objects(remote), cache_dir_for(cache_base, remote.url), warn)


def pull_chunked(
    remote: RemoteStore,
    store: LocalBlobStore,
    rindex: RemoteIndex,
    files: list[FileRef],
    jobs: int,
    progress: Progress | None,
    on_plan: Callable[[int], None] | None = None,
) -> Moved:
    from modelreg.stores.chunks.pull import pull_files

    return pull_files(store.chunks, rindex.objects, rindex, files, jobs, progress, on_plan)


def fetch_file(
    remote: RemoteStore,
    store: LocalBlobStore,
    rindex: RemoteIndex,
    digest: str,
    size: int,
    progress: Progress | None = None,
    jobs: int = 8,
) -> int:
    """Make one file present here; returns the bytes moved. The caller holds the blob lock shared."""
    from modelreg.stores.remotes.fetch import fetch_blob

    if store.chunked(size):
        moved = pull_chunked(remote, store, rindex, [(digest, size)], jobs, progress)
        if not moved.absent:
            return moved.bytes
    try:
        fetch_blob(remote, store, digest, size, progress)
        return size
    except NotFoundError as exc:
        if store.chunked(size) or exc.code != "blob_missing":
            raise
    # A format-1 registry, or a small file, that the remote keeps as chunks.
    moved = pull_chunked(remote, store, rindex, [(digest, size)], jobs, progress)
    if moved.absent:
        raise NotFoundError(f"blob {digest} is not on the remote {remote.url}", code="blob_missing")
    return moved.bytes
