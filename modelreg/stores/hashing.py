"""Copy a file while hashing it, with the copy and the hash running side by side.

hashlib releases the GIL on large buffers and the kernel copies with ``copy_file_range``, so a
thread that hashes while the kernel copies makes a verified copy cost about one plain copy.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from modelreg.base.parallel import start_thread

CHUNK = 8 << 20
SMALL = 4 << 20  # below this a single read, hash and write is faster than a thread
STEP = 64 << 20  # bytes per kernel copy call: bounds how long a stop request waits


def sha256_fd(fd: int, limit: int | None = None) -> tuple[str, int]:
    """Digest and size of an open file from its start; reading stops after ``limit`` bytes."""
    h = hashlib.sha256()
    size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while limit is None or size < limit:
        n = os.preadv(fd, [buf if limit is None or limit - size >= CHUNK else view[: limit - size]], size)
        if not n:
            break
        h.update(view[:n])
        size += n
    return "sha256:" + h.hexdigest(), size


def sha256_file(path: Path, limit: int | None = None) -> tuple[str, int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return sha256_fd(fd, limit)
    finally:
        os.close(fd)


def _kernel_copy(
    src_fd: int, dst_fd: int, size: int, errors: list[BaseException], stop: threading.Event, sync: bool
) -> None:
    try:
        offset = 0
        use_range = hasattr(os, "copy_file_range")
        while offset < size and not stop.is_set():
            if use_range:
                try:
                    n = os.copy_file_range(src_fd, dst_fd, min(size - offset, STEP), offset, offset)
                except OSError:
                    use_range = False  # e.g. a filesystem without support: fall back below
                    continue
            else:
                os.lseek(dst_fd, offset, os.SEEK_SET)
                n = os.sendfile(dst_fd, src_fd, offset, min(size - offset, STEP))
            if n == 0:
                break
            offset += n
        if sync and not stop.is_set():
            # Flush while the other thread still hashes: the caller's own fsync then costs little.
            os.fsync(dst_fd)
    except BaseException as exc:
        errors.append(exc)


def copy_and_hash(
    src_fd: int, dst_fd: int, size: int, *, sync: bool = False, progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """Copy ``size`` bytes from the start of src to dst; return the digest and size of what was read.

    The hash is taken over the source; the caller rejects the result if the source changed.
    ``progress`` is told the bytes hashed since its last call (the copy runs alongside).
    """
    h = hashlib.sha256()
    if size <= SMALL:
        data = os.pread(src_fd, size + 1, 0)
        h.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(dst_fd, view) :]
        if progress is not None and data:
            progress(len(data))
        return "sha256:" + h.hexdigest(), len(data)
    errors: list[BaseException] = []
    stop = threading.Event()
    copier = threading.Thread(target=_kernel_copy, args=(src_fd, dst_fd, size, errors, stop, sync), daemon=True)
    start_thread(copier)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    read = 0
    try:
        while read <= size:  # one byte past ``size`` is enough to see that the source is longer
            n = os.preadv(src_fd, [buf], read)
            if not n:
                break
            h.update(view[:n])
            read += n
            if progress is not None:
                progress(n)
    finally:
        # On any exit (Ctrl-C included) the copier stops before the caller closes the descriptors.
        if read < size:
            stop.set()
        copier.join()
    if errors:
        raise errors[0]
    return "sha256:" + h.hexdigest(), read
