"""The one way modelreg runs work in parallel: a small pool that stops at the first failure.

Transfers (blobs, packs, index reads, ranged S3 reads) are I/O bound: threads overlap the waits.
The first failure, or Ctrl-C, cancels what has not started and sets ``stop``, which running jobs
check between reads, so a failed command ends promptly instead of finishing every transfer.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

R = TypeVar("R")


def run_parallel(jobs: list[Callable[[], R]], threads: int, stop: threading.Event | None = None) -> list[R]:
    """Run ``jobs`` on at most ``threads`` threads; their results in order."""
    if not jobs:
        return []
    if len(jobs) == 1 or threads <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
        # each job in a copy of this thread's context: what it reports (base/effects) reaches this call
        futures: list[Future[R]] = [pool.submit(contextvars.copy_context().run, job) for job in jobs]
        try:
            done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:
            _cancel(futures, stop)
            raise
        for future in done:
            error = future.exception()
            if error is not None:
                _cancel(futures, stop)
                raise error
        return [future.result() for future in futures]


def _cancel(futures: list[Future[R]], stop: threading.Event | None) -> None:
    if stop is not None:
        stop.set()
    for other in futures:
        other.cancel()
