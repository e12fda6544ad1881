"""Storing one large file as chunks in a single pass over its bytes.

The source is read with ``preadv`` into a few large buffers (never mmapped: a file truncated
while it is read would kill the process with SIGBUS). Each buffer is used by two threads in
turn, so the bytes hashed are the bytes stored:

1. the reader fills it and feeds the file's SHA-256 (hashlib releases the GIL on the whole
   buffer),
2. the chunker cuts it with FastCDC, names each chunk (BLAKE3), and hands the chunks the store
   lacks to the pack writer (packs.py), which copies them into its own buffers; its thread
   writes them to the disk and publishes packs as they fill. The last cut of a buffer is
   provisional, so its bytes are carried to the front of the next buffer and cut again there,
   which gives exactly the cuts of the whole file.

FastCDC and BLAKE3 release the GIL for each chunk and hashlib for each buffer, so the two stages
run on two cores. Two stages rather than three (a separate writer) because on a busy machine
every extra thread hand-off is a context switch and a GIL transfer per buffer, and the cutter
finishes a buffer in about the time the reader hashes one.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Container
from typing import Any

from modelreg.base.parallel import start_thread
from modelreg.base.progress import Progress

from .format import AVG_SIZE, MAX_SIZE, MIN_SIZE, ChunkRef, chunk_id
from .packs import PackWriter

BUF_SIZE = 8 << 20
BUFFERS = 6
_PREFIX = MAX_SIZE  # room for the carried bytes of the previous buffer's provisional last chunk


def chunker() -> Any:
    from pyfastcdc import FastCDC

    return FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE, normalized_chunking=1, seed=0)


class _Failed(Exception):
    """A stage stopped because another one failed."""


def ingest(
    src_fd: int, limit: int, known: Container[bytes], writer: PackWriter, progress: Progress | None = None
) -> tuple[str, int, list[ChunkRef]]:
    """Chunk the file open at ``src_fd`` (read at most ``limit`` bytes), append the chunks not in
    ``known`` to ``writer``; returns the file's digest, the bytes read and its chunks in order."""
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(BUFFERS):
        free.put(bytearray(_PREFIX + BUF_SIZE))
    cut_q: queue.Queue[tuple[bytearray, int, bool] | None] = queue.Queue()
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

    def cut_stage() -> None:
        cdc = chunker()
        fresh: set[bytes] = set()
        carry = b""
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
            runs: list[tuple[int, list[ChunkRef]]] = []
            run_start, run = -1, list[ChunkRef]()
            for chunk in chunks:
                cid = chunk_id(chunk.data)
                refs.append((cid, chunk.length))
                if cid in known or cid in fresh:
                    if run:
                        runs.append((run_start, run))
                        run = []
                    continue
                fresh.add(cid)
                if not run:
                    run_start = start + chunk.offset
                run.append((cid, chunk.length))
            if run:
                runs.append((run_start, run))
            for run_start, run in runs:
                writer.add(run, view[run_start : run_start + sum(n for _, n in run)])
            free.put(buf)
            if eof:
                return

    threads = [threading.Thread(target=guarded(cut_stage), name="modelreg-cut", daemon=True)]
    for thread in threads:
        start_thread(thread)
    if hasattr(os, "posix_fadvise"):
        # A larger read-ahead for a file that is not cached yet (no effect on one that is).
        os.posix_fadvise(src_fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    sha = hashlib.sha256()
    read = 0
    try:
        eof = False
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
            sha.update(view[_PREFIX : _PREFIX + n])
            read += n
            if progress is not None and n:
                progress(n)
            cut_q.put((buf, n, eof))
    finally:
        if not eof:
            stop.set()
        cut_q.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return "sha256:" + sha.hexdigest(), read, refs


def _take(free: queue.Queue[bytearray], stop: threading.Event) -> bytearray | None:
    while not stop.is_set():
        try:
            return free.get(timeout=0.1)
        except queue.Empty:
            continue
    return None
