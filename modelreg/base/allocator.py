"""Memory for a process that moves large files on many threads.

glibc gives each thread that allocates an arena of its own (up to eight per core), and memory a
thread frees stays in that thread's arena. The transfer threads of ``push`` and ``pull`` each pass
thousands of requests through botocore, so their arenas grow apart from one another and the
process's peak grows with the number of requests, not with what it holds at once: a push of 4 GiB
to S3 peaked at 214 MB with the default arenas. Two arenas hold it under the bound.
"""

from __future__ import annotations

import contextlib
import mmap

_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


def fewer_arenas(count: int = 2) -> bool:
    """Cap this process's malloc arenas at ``count``; False where the C library is not glibc (or
    has no ``mallopt``), which is left as it is. Takes effect for threads that allocate after it."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, count))


def big_buffer(size: int) -> mmap.mmap:
    """``size`` bytes of private, zeroed, page-aligned memory (as direct I/O needs), in huge pages
    where the kernel gives them on request (Linux's transparent huge pages in ``madvise`` mode, the
    common default). Filling 8 MiB of fresh memory page by page costs 2,048 faults, a 2 MiB page
    one: for the dozen buffers of a register, 0.06 CPU-s of a 512 MiB file's 0.7, measured."""
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is not None:
        with contextlib.suppress(OSError):  # a kernel built without them: ordinary pages
            buf.madvise(advice)
    return buf
