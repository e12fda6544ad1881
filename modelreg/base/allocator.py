"""The C allocator of a process that moves large files on many threads.

glibc gives each thread that allocates an arena of its own (up to eight per core), and memory a
thread frees stays in that thread's arena. The transfer threads of ``push`` and ``pull`` each pass
thousands of requests through botocore, so their arenas grow apart from one another and the
process's peak grows with the number of requests, not with what it holds at once: a push of 4 GiB
to S3 peaked at 214 MB with the default arenas. Two arenas hold it under the bound.
"""

from __future__ import annotations

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
