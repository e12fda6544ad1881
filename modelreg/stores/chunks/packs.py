"""Writing packs: chunks appended to a temporary file, published as ``<name>.pack`` plus its index.

A pack is published by a background thread as soon as it is full: the pack is flushed (fsync)
and renamed, then its index is written under a temporary name, flushed and renamed. Until the
index exists nothing reads the pack, so a kill at any point leaves at worst a temporary file or
an unreferenced pack, both removed by gc. ``finish`` publishes the last pack, waits for the
thread and flushes the directory once: every rename is durable before the caller writes the
recipe that refers to the chunks.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from modelreg.base.fs import fsync_dir, tmp_name, write_all

from .format import PACK_CAP, ChunkRef, PackIndex, encode_index

_Job = tuple[int, Path, list[ChunkRef]] | None


class PackWriter:
    """Append chunks; packs of at most PACK_CAP bytes are published as they fill. Thread-safe."""

    def __init__(self, packs_dir: Path, on_published: Callable[[PackIndex], None] | None = None) -> None:
        self.dir = packs_dir
        self.published: list[PackIndex] = []
        self._on_published = on_published
        self._lock = threading.Lock()
        self._fd = -1
        self._tmp: Path | None = None
        self._entries: list[ChunkRef] = []
        self._size = 0
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._errors: list[BaseException] = []
        self._pending: list[Path] = []  # temporary files handed to the thread, not yet renamed

    @property
    def bytes_written(self) -> int:
        return sum(index.pack_size for index in self.published) + self._size

    def add(self, entries: list[ChunkRef], data: memoryview) -> None:
        """Append chunks whose bytes are ``data``, back to back, in that order."""
        with self._lock:
            self._raise_failed()
            offset = 0
            i = 0
            while i < len(entries):
                if self._fd < 0:
                    self._open()
                nbytes = 0
                take = 0
                while i + take < len(entries) and self._size + nbytes + entries[i + take][1] <= PACK_CAP:
                    nbytes += entries[i + take][1]
                    take += 1
                if take:
                    write_all(self._fd, data[offset : offset + nbytes])
                    self._entries.extend(entries[i : i + take])
                    self._size += nbytes
                    offset += nbytes
                    i += take
                if i < len(entries):
                    self._close()

    def finish(self) -> list[PackIndex]:
        """Publish what is left and wait until every pack and index is durable."""
        with self._lock:
            if self._entries:
                self._close()
            elif self._fd >= 0:
                self._discard_current()
            thread = self._thread
            self._thread = None
        if thread is not None:
            self._jobs.put(None)
            thread.join()
        self._raise_failed()
        if self.published:
            fsync_dir(self.dir)
        return self.published

    def abort(self) -> None:
        """Stop after an error or an interrupt: remove the temporary files (published packs stay)."""
        with self._lock:
            self._discard_current()
            thread = self._thread
            self._thread = None
        if thread is not None:
            self._jobs.put(None)
            thread.join()
        for tmp in self._pending:
            tmp.unlink(missing_ok=True)

    # -- inside -------------------------------------------------------------------------------

    def _raise_failed(self) -> None:
        if self._errors:
            raise self._errors[0]

    def _open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_name(self.dir / "pack")
        self._fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        self._tmp = tmp

    def _discard_current(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        self._entries, self._size = [], 0

    def _close(self) -> None:
        assert self._tmp is not None
        if self._thread is None:
            self._thread = threading.Thread(target=self._publisher, name="modelreg-packs", daemon=True)
            self._thread.start()
        self._pending.append(self._tmp)
        self._jobs.put((self._fd, self._tmp, self._entries))
        self._fd, self._tmp, self._entries, self._size = -1, None, [], 0

    def _publisher(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fd, tmp, entries = job
            try:
                if self._errors:
                    continue
                os.fsync(fd)
                os.close(fd)
                fd = -1
                index = publish_pack(self.dir, tmp, entries)
                self._pending.remove(tmp)
                self.published.append(index)
                if self._on_published is not None:
                    self._on_published(index)
            except BaseException as exc:
                self._errors.append(exc)
            finally:
                if fd >= 0:
                    os.close(fd)


def publish_pack(packs_dir: Path, tmp: Path, entries: list[ChunkRef]) -> PackIndex:
    """Rename a flushed pack to its name, then write its index (flushed, renamed): now it exists."""
    name, data = encode_index(entries)
    os.replace(tmp, packs_dir / f"{name}.pack")
    idx_tmp = tmp_name(packs_dir / "idx")
    fd = os.open(idx_tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        idx_tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(idx_tmp, packs_dir / f"{name}.idx")
    return PackIndex(name, sum(n for _, n in entries), tuple(entries))
