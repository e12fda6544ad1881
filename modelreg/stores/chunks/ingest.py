"""Storing one large file as chunks in a single pass over its bytes.

The source is read with ``preadv`` into a few large buffers in huge pages (``big_buffer``; the
source itself is never mmapped: a file truncated while it is read would kill the process with
SIGBUS). The reader (the caller's thread) fills a buffer from the file and hands it to two
threads at once, which only read it, so the bytes hashed are the bytes stored; the second to be
done with it hands it back to the reader:

- the hasher feeds it to the file's SHA-256 (hashlib releases the GIL on the whole buffer),
- the cutter cuts it with FastCDC, names each chunk (BLAKE3), and hands the chunks the store
  lacks to the pack writer (packs.py), which copies them into its own buffers; its thread
  writes them to the disk and publishes packs as they fill. The last cut of a buffer is
  provisional, so its bytes are carried to the front of the next buffer (into room kept before
  the bytes read, which the hasher does not read) and cut again there, which gives exactly the
  cuts of the whole file.

The SHA-256 is the largest single piece of work (about 40 % of the CPU, and it cannot be split:
it is one sequential hash), so its thread does nothing else; the copy out of the page cache, the
cutting and the naming run beside it, and no thread holds much more than the SHA-256's share.
Every stage releases the GIL for its bulk work (``preadv``, hashlib and blake3 on their whole
inputs, FastCDC around each cut), so the stages use two cores when they are free. Buffers are
handed on whole, 8 MiB at a time: a few hundred hand-offs per GiB. (Handing each buffer to the
hasher and then to the cutter, as before, made the cutter wait for the first buffer to be hashed
and the end wait for the last one to be cut: 0.38 against 0.35 s for 512 MiB.)
"""

from __future__ import annotations

import hashlib
import mmap
import os
import queue
import threading
from collections.abc import Callable, Container
from typing import Any

from modelreg.base.allocator import big_buffer
from modelreg.base.parallel import start_thread
from modelreg.base.progress import Progress

from .format import AVG_SIZE, MAX_SIZE, MIN_SIZE, ChunkRef, chunk_id
from .packs import PackWriter

BUF_SIZE = 8 << 20
BUFFERS = 6
_PREFIX = MAX_SIZE  # room for the carried bytes of the previous buffer's provisional last chunk

_Item = tuple[mmap.mmap, int, bool] | None  # (buffer, bytes read into it, end of file); None: stop


def chunker() -> Any:
    from pyfastcdc import FastCDC

    return FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE, normalized_chunking=1, seed=0)


def ingest(
    src_fd: int, limit: int, known: Container[bytes], writer: PackWriter, progress: Progress | None = None
) -> tuple[str, int, list[ChunkRef]]:
    """Chunk the file open at ``src_fd`` (read at most ``limit`` bytes), append the chunks not in
    ``known`` to ``writer``; returns the file's digest, the bytes read and its chunks in order."""
    free: queue.Queue[mmap.mmap] = queue.Queue()
    for _ in range(BUFFERS):
        free.put(big_buffer(_PREFIX + BUF_SIZE))
    hash_q: queue.Queue[_Item] = queue.Queue()
    cut_q: queue.Queue[_Item] = queue.Queue()
    sha = hashlib.sha256()
    refs: list[ChunkRef] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:
                errors.append(exc)
                stop.set()

        return run

    # Both stages read each buffer at once; the second to finish with it hands it back.
    finished_once: set[int] = set()
    handing = threading.Lock()

    def done_with(buf: mmap.mmap) -> None:
        with handing:
            if id(buf) in finished_once:
                finished_once.discard(id(buf))
                free.put(buf)
            else:
                finished_once.add(id(buf))

    def hash_stage() -> None:
        while True:
            item = hash_q.get()
            if item is None or stop.is_set():
                return
            buf, n, eof = item
            sha.update(memoryview(buf)[_PREFIX : _PREFIX + n])
            done_with(buf)
            if eof:
                return

    def cut_stage() -> None:
        cdc = chunker()
        fresh: set[bytes] = set()
        carry = b""
        add_ref = refs.append
        while True:
            item = cut_q.get()
            if item is None or stop.is_set():
                return
            buf, n, eof = item
            view = memoryview(buf)
            start = _PREFIX - len(carry)
            view[start:_PREFIX] = carry
            chunks = list(cdc.cut_buf(view[start : _PREFIX + n]))
            carry = b""
            if not eof and chunks:
                carry = bytes(chunks.pop().data)
            # Runs of consecutive new chunks go to the writer as one slice of the buffer.
            run: list[ChunkRef] = []
            run_start = run_end = 0
            for chunk in chunks:
                cid = chunk_id(chunk.data)
                length = chunk.length
                add_ref((cid, length))
                if cid in fresh or cid in known:
                    if run:
                        writer.add(run, view[run_start:run_end])
                        run = []
                    continue
                fresh.add(cid)
                if not run:
                    run_start = run_end = start + chunk.offset
                run.append((cid, length))
                run_end += length
            if run:
                writer.add(run, view[run_start:run_end])
            done_with(buf)
            if eof:
                return

    threads = [
        threading.Thread(target=guarded(hash_stage), name="modelreg-hash", daemon=True),
        threading.Thread(target=guarded(cut_stage), name="modelreg-cut", daemon=True),
    ]
    try:
        for thread in threads:
            start_thread(thread)
    except BaseException:
        stop.set()
        hash_q.put(None)  # the stage that did start returns instead of waiting for work
        cut_q.put(None)
        raise
    if hasattr(os, "posix_fadvise"):
        # A larger read-ahead for a file that is not cached yet (no effect on one that is).
        os.posix_fadvise(src_fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    read = 0
    eof = False
    try:
        while not eof and not stop.is_set():
            buf = _take(free, stop)
            if buf is None:
                break
            view = memoryview(buf)
            n = 0
            while n < BUF_SIZE:
                # One byte past ``limit`` at most: enough to see that the file grew, never more.
                want = min(BUF_SIZE - n, limit + 1 - read - n)
                got = os.preadv(src_fd, [view[_PREFIX + n : _PREFIX + n + want]], read + n) if want > 0 else 0
                if not got:
                    eof = True
                    break
                n += got
            read += n
            if progress is not None and n:
                progress(n)
            hash_q.put((buf, n, eof))
            cut_q.put((buf, n, eof))
    finally:
        if not eof:
            stop.set()
        hash_q.put(None)
        cut_q.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return "sha256:" + sha.hexdigest(), read, refs


def _take(free: queue.Queue[mmap.mmap], stop: threading.Event) -> mmap.mmap | None:
    while not stop.is_set():
        try:
            return free.get(timeout=0.1)
        except queue.Empty:
            continue
    return None
