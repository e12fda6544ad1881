"""The one way modelreg runs work in parallel: a small pool that stops at the first failure.

Transfers (blobs, packs, index reads, ranged S3 reads) are I/O bound: threads overlap the waits.
The first failure, or Ctrl-C, cancels what has not started and sets ``stop``, which running jobs
check between reads, so a failed command ends promptly instead of finishing every transfer.

A thread the system refuses to create (a limit on threads or processes, or on address space:
each thread reserves its stack) is the environment's refusal, like a full disk: StorageError
(exit 4), once the threads already running have stopped.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from modelreg.errors import StorageError

if TYPE_CHECKING:
    from concurrent.futures import Future

R = TypeVar("R")


def run_parallel(jobs: list[Callable[[], R]], threads: int, stop: threading.Event | None = None) -> list[R]:
    """Run ``jobs`` on at most ``threads`` threads; their results in order."""
    if not jobs:
        return []
    if len(jobs) == 1 or threads <= 1:
        return [job() for job in jobs]
    # Here rather than at the top: concurrent.futures brings logging, which a hot read never needs.
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
        # each job in a copy of this thread's context: what it reports (base/effects) reaches this call
        futures: list[Future[R]] = []
        try:
            for job in jobs:
                futures.append(pool.submit(contextvars.copy_context().run, job))
        except RuntimeError as exc:
            if not _refused(exc):
                raise
            # The job whose thread could not start is queued already: drop it with the others,
            # and let the running ones stop (leaving the pool waits for them).
            _cancel(futures, stop)
            pool.shutdown(wait=False, cancel_futures=True)
            raise threads_refused(exc) from exc
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


def start_thread(thread: threading.Thread) -> None:
    """Start ``thread``; StorageError (exit 4) when the system refuses to create it."""
    try:
        thread.start()
    except RuntimeError as exc:
        if not _refused(exc):
            raise
        raise threads_refused(exc) from exc


def threads_refused(exc: BaseException) -> StorageError:
    return StorageError(
        f"the system refused to start a thread ({exc}): a limit on threads or processes (ulimit -u) or on "
        "memory (ulimit -v) is reached; raise it, or run fewer commands at once, then try again",
        code="threads_refused",
    )


def _refused(exc: RuntimeError) -> bool:
    # CPython's words when pthread_create fails (EAGAIN: a thread or process limit, or no memory
    # left for the new thread's stack); any other RuntimeError is a bug and stays one.
    return "start new thread" in str(exc)


def _cancel(futures: list[Future[R]], stop: threading.Event | None) -> None:
    if stop is not None:
        stop.set()
    for other in futures:
        other.cancel()
