"""Writing a chunked file back out, and checking one, straight from the packs.

Assembly groups the recipe's chunks into runs that lie back to back in one pack (a first
register writes a file's chunks in file order, so a GiB is about 16 runs), copies each run with
``copy_file_range`` (a reflink where the filesystem has them), and hashes the same ranges on
another thread: the file's SHA-256 must come out as its digest, or nothing is handed out.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelreg.base.fs import open_regular
from modelreg.base.progress import Progress

from .format import Recipe, chunk_id
from .index import ChunkIndex

_READ = 8 << 20
_STEP = 64 << 20
_OPEN_PACKS = 16


@dataclass(frozen=True)
class Run:
    pack: str
    src: int  # offset in the pack
    dst: int  # offset in the file
    length: int


def plan_runs(index: ChunkIndex, recipe: Recipe) -> tuple[list[Run], list[bytes]]:
    """The copy runs of a recipe, and the chunk ids the index lacks."""
    runs: list[Run] = []
    missing: list[bytes] = []
    dst = 0
    for cid, length in recipe.chunks:
        where = index.locate(cid)
        if where is None or where[2] != length:
            missing.append(cid)
        elif runs and runs[-1].pack == where[0] and runs[-1].src + runs[-1].length == where[1]:
            last = runs[-1]
            runs[-1] = Run(last.pack, last.src, last.dst, last.length + length)
        else:
            runs.append(Run(where[0], where[1], dst, length))
        dst += length
    return runs, missing


class PackFiles:
    """A few open pack files (a large file may span more packs than a process may hold open)."""

    def __init__(self, index: ChunkIndex) -> None:
        self.index = index
        self._open: OrderedDict[str, int] = OrderedDict()

    def fd(self, name: str) -> int:
        fd = self._open.pop(name, None)
        if fd is None:
            fd = open_regular(self.index.pack_path(name))
            while len(self._open) >= _OPEN_PACKS:
                os.close(self._open.popitem(last=False)[1])
        self._open[name] = fd
        return fd

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()


def _copy_runs(
    index: ChunkIndex, runs: list[Run], dest_fd: int, errors: list[BaseException], stop: threading.Event
) -> None:
    files = PackFiles(index)
    try:
        use_range = hasattr(os, "copy_file_range")
        for run in runs:
            src_fd = files.fd(run.pack)
            done = 0
            while done < run.length and not stop.is_set():
                want = min(run.length - done, _STEP)
                if use_range:
                    try:
                        n = os.copy_file_range(src_fd, dest_fd, want, run.src + done, run.dst + done)
                    except OSError:
                        use_range = False
                        continue
                else:
                    n = os.pwrite(dest_fd, os.pread(src_fd, min(want, _READ), run.src + done), run.dst + done)
                if n == 0:
                    raise OSError(f"pack {run.pack} ended early")
                done += n
    except BaseException as exc:
        errors.append(exc)
    finally:
        files.close()


def read_runs(index: ChunkIndex, runs: list[Run]) -> Iterator[memoryview]:
    """The bytes of ``runs`` in order, a buffer at a time (valid until the next one)."""
    files = PackFiles(index)
    buf = bytearray(_READ)
    view = memoryview(buf)
    try:
        for run in runs:
            fd = files.fd(run.pack)
            done = 0
            while done < run.length:
                n = os.preadv(fd, [view[: min(_READ, run.length - done)]], run.src + done)
                if n == 0:
                    raise OSError(f"pack {run.pack} ended early")
                yield view[:n]
                done += n
    finally:
        files.close()


def assemble(index: ChunkIndex, runs: list[Run], dest_fd: int, progress: Progress | None = None) -> str:
    """Copy ``runs`` into ``dest_fd``; returns the SHA-256 of the bytes read from the packs."""
    errors: list[BaseException] = []
    stop = threading.Event()
    copier = threading.Thread(target=_copy_runs, args=(index, runs, dest_fd, errors, stop), daemon=True)
    copier.start()
    sha = hashlib.sha256()
    try:
        for piece in read_runs(index, runs):
            sha.update(piece)
            if progress is not None:
                progress(len(piece))
    except BaseException:
        stop.set()
        raise
    finally:
        copier.join()
    if errors:
        raise errors[0]
    return "sha256:" + sha.hexdigest()


def file_digest(index: ChunkIndex, runs: list[Run], progress: Progress | None = None) -> str:
    sha = hashlib.sha256()
    for piece in read_runs(index, runs):
        sha.update(piece)
        if progress is not None:
            progress(len(piece))
    return "sha256:" + sha.hexdigest()


def bad_chunks(index: ChunkIndex, recipe: Recipe) -> list[bytes]:
    """The chunks of ``recipe`` whose bytes in the store do not hash to their id."""
    files = PackFiles(index)
    bad: list[bytes] = []
    try:
        for cid, length in dict.fromkeys(recipe.chunks):
            where = index.locate(cid)
            if where is None:
                continue
            data = os.pread(files.fd(where[0]), length, where[1])
            if len(data) != length or chunk_id(data) != cid:
                bad.append(cid)
    finally:
        files.close()
    return bad


def check_pack(path: Path, offsets: list[tuple[bytes, int, int]]) -> list[bytes]:
    """The chunks of one pack whose bytes do not hash to their id (read once, in order)."""
    bad: list[bytes] = []
    fd = open_regular(path)
    try:
        for cid, offset, length in offsets:
            data = os.pread(fd, length, offset)
            if len(data) != length or chunk_id(data) != cid:
                bad.append(cid)
    finally:
        os.close(fd)
    return bad
