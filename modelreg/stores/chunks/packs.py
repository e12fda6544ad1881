"""Writing packs: chunks appended to a temporary file, published as ``<name>.pack`` plus its index.

Chunk bytes are copied into a page-aligned staging buffer; a background thread writes each full
buffer to the pack with direct I/O (``O_DIRECT``, set with ``fcntl``), and a pack's last, short
piece with an ordinary write. Direct I/O sends the bytes from the buffer to the disk without
going through the page cache: a register then costs one memory copy per byte instead of a copy
into the page cache plus the kernel's dirty-page accounting and writeback, which on a busy
machine cost several times the hashing (measured in docs/performance.md). Where a filesystem
refuses direct I/O (tmpfs on older kernels, some network filesystems) the same writes go through
the page cache. Each pack is flushed (fsync) once, when it is full.

A pack is published by the same thread, in order after its writes: the pack is flushed and
renamed, then its index is written under a temporary name, flushed and renamed. Until the index
exists nothing reads the pack, so a kill at any point leaves at worst a temporary file or an
unreferenced pack, both removed by gc. ``finish`` publishes the last pack, waits for the thread
and flushes the directory once: every rename is durable before the caller writes the recipe
that refers to the chunks.
"""

from __future__ import annotations

import errno
import mmap
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from modelreg.base.allocator import big_buffer
from modelreg.base.fs import fsync_dir, tmp_name, write_all
from modelreg.base.parallel import start_thread

from .format import PACK_CAP, ChunkRef, PackIndex, encode_index

ALIGN = 4096  # direct I/O wants offsets, lengths and addresses in multiples of the block size
STAGE = 8 << 20  # bytes per direct write (a multiple of ALIGN)
STAGES = 3  # buffers: one being filled, up to two being written

# ("write", fd, offset, buffer, length) or ("publish", fd, tmp, entries); None stops the thread.
_Job = tuple[str, int, object, object, object] | None


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
        self._stages: queue.Queue[mmap.mmap] = queue.Queue()
        self._made = 0
        self._stage: mmap.mmap | None = None
        self._staged = 0  # bytes in the stage buffer
        self._offset = 0  # where in the current pack the stage buffer goes
        self._direct = hasattr(os, "O_DIRECT")  # until the filesystem says otherwise

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
                    self._copy(data[offset : offset + nbytes])
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
            thread = self._thread
            self._thread = None
        if thread is not None:
            # The thread finishes what it was given (the current pack's writes, which are then
            # removed below, and full packs, which stay published) before its descriptors close.
            self._jobs.put(None)
            thread.join()
        with self._lock:
            self._discard_current()
        for tmp in self._pending:
            tmp.unlink(missing_ok=True)

    # -- inside -------------------------------------------------------------------------------

    def _raise_failed(self) -> None:
        if self._errors:
            raise self._errors[0]

    def _copy(self, data: memoryview) -> None:
        """Append ``data`` to the current pack through the stage buffer."""
        while data:
            if self._stage is None:
                self._stage = self._take_stage()
            take = min(len(data), STAGE - self._staged)
            memoryview(self._stage)[self._staged : self._staged + take] = data[:take]
            self._staged += take
            data = data[take:]
            if self._staged == STAGE:
                self._flush_stage()

    def _take_stage(self) -> mmap.mmap:
        if self._made < STAGES:
            self._made += 1
            return big_buffer(STAGE)
        while True:
            try:
                return self._stages.get(timeout=0.1)
            except queue.Empty:
                self._raise_failed()
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError("the pack writer thread is gone") from None

    def _flush_stage(self) -> None:
        """Hand the stage buffer to the thread, to be written at its place in the pack."""
        if self._stage is None or not self._staged:
            return
        self._submit(("write", self._fd, self._offset, self._stage, self._staged))
        self._offset += self._staged
        self._stage, self._staged = None, 0

    def _submit(self, job: _Job) -> None:
        if self._thread is None:
            thread = threading.Thread(target=self._publisher, name="modelreg-packs", daemon=True)
            start_thread(thread)  # kept only once started: closing joins it
            self._thread = thread
        self._jobs.put(job)

    def _open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_name(self.dir / "pack")
        self._fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        self._tmp = tmp
        self._offset = 0

    def _discard_current(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        self._entries, self._size = [], 0
        if self._stage is not None:
            self._stages.put(self._stage)
        self._stage, self._staged, self._offset = None, 0, 0

    def _close(self) -> None:
        assert self._tmp is not None
        self._flush_stage()
        self._pending.append(self._tmp)
        self._submit(("publish", self._fd, self._tmp, self._entries, None))
        self._fd, self._tmp, self._entries, self._size = -1, None, [], 0

    def _publisher(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            kind, fd = job[0], job[1]
            if kind == "write":
                offset, stage, length = job[2], job[3], job[4]
                assert isinstance(offset, int) and isinstance(stage, mmap.mmap) and isinstance(length, int)
                try:
                    if not self._errors:
                        self._write(fd, offset, memoryview(stage)[:length])
                except BaseException as exc:
                    self._errors.append(exc)
                finally:
                    self._stages.put(stage)
                continue
            tmp, entries = job[2], job[3]
            assert isinstance(tmp, Path) and isinstance(entries, list)
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

    def _write(self, fd: int, offset: int, data: memoryview) -> None:
        """Write ``data`` at ``offset``: its whole blocks directly, a short tail through the cache."""
        whole = len(data) - len(data) % ALIGN
        if whole and self._direct and offset % ALIGN == 0:
            try:
                _set_direct(fd, True)
                _pwrite_all(fd, data[:whole], offset)
                data, offset = data[whole:], offset + whole
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._direct = False  # this filesystem does not take direct I/O: the cache it is
            finally:
                _set_direct(fd, False)
        _pwrite_all(fd, data, offset)


def _set_direct(fd: int, on: bool) -> None:
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    wanted = flags | os.O_DIRECT if on else flags & ~os.O_DIRECT
    if wanted != flags:
        fcntl.fcntl(fd, fcntl.F_SETFL, wanted)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


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
