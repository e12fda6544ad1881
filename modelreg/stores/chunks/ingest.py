"""Storing one large file as chunks in a single pass over its bytes.

The source is read with ``preadv`` into a few large buffers (never mmapped: a file truncated
while it is read would kill the process with SIGBUS). Each buffer is used by three threads in
turn, so the bytes hashed are the bytes stored:

1. the reader fills it and feeds the file's SHA-256 (hashlib releases the GIL),
2. the chunker cuts it with FastCDC, names each chunk (BLAKE3) and picks the chunks the store
   lacks; the last cut of a buffer is provisional, so its bytes are carried to the front of the
   next buffer and cut again there, which gives exactly the cuts of the whole file,
3. the writer appends the new chunks to packs, which a fourth thread publishes as they fill.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Container
from typing import Any

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
    write_q: queue.Queue[tuple[bytearray, list[tuple[int, list[ChunkRef]]]] | None] = queue.Queue()
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
        try:
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
                write_q.put((buf, runs))
                if eof:
                    return
        finally:
            write_q.put(None)

    def write_stage() -> None:
        while True:
            item = write_q.get()
            if item is None:
                return
            buf, runs = item
            if not stop.is_set():
                view = memoryview(buf)
                for start, run in runs:
                    writer.add(run, view[start : start + sum(n for _, n in run)])
            free.put(buf)

    threads = [
        threading.Thread(target=guarded(cut_stage), name="modelreg-cut", daemon=True),
        threading.Thread(target=guarded(write_stage), name="modelreg-write", daemon=True),
    ]
    for thread in threads:
        thread.start()
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
