"""Reading an S3 object into a file, never past the size its manifest records.

boto3's ``download_file`` reads whatever the server sends (and writes its own temporary name),
so a download here is ranged GETs of our own: the object's length and ETag come from a HEAD
that the caller has checked against the recorded size, every GET is pinned to that ETag
(``If-Match``) and asks for one range, and no GET is read past the end of its range. A big
object is read in parts by a few threads, written in place with ``pwrite``.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path
from typing import Any

from modelreg.base.parallel import run_parallel
from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, RemoteError

_READ_CHUNK = 1024 * 1024
_INTO_CHUNK = 256 * 1024  # what a read into a caller's buffer asks of the stream at a time
_PART_ATTEMPTS = 3


def timed_out(exc: BaseException) -> bool:
    """A server that did not answer in time: botocore has retried it already, and trying again
    would only multiply the wait (minutes, for a process waiting on its model)."""
    import botocore.exceptions as bexc

    return isinstance(exc, (TimeoutError, bexc.ReadTimeoutError, bexc.ConnectTimeoutError))


def _retryable() -> tuple[type[BaseException], ...]:
    """What a broken stream raises mid-body (botocore retries only up to the response headers)."""
    import botocore.exceptions as bexc

    return (
        TimeoutError,
        ConnectionError,
        bexc.ReadTimeoutError,
        bexc.IncompleteReadError,
        bexc.ResponseStreamingError,
    )


def read_object(
    client: Any,
    bucket: str,
    key: str,
    dest: Path,
    *,
    length: int,
    etag: str | None,
    part_size: int,
    threads: int,
    progress: Progress | None,
    where: str,
) -> None:
    """Write the ``length`` bytes of the object (as HEAD saw it, ETag ``etag``) to a new file ``dest``."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_BINARY", 0), 0o644)
    stop = threading.Event()
    try:
        part_size = max(part_size, _READ_CHUNK)
        parts = [(start, min(start + part_size, length)) for start in range(0, length, part_size)]
        read_part = partial(_read_part, client, bucket, key, fd, etag=etag, stop=stop, progress=progress, where=where)
        run_parallel([partial(read_part, start, end) for start, end in parts], threads, stop)
        if os.fstat(fd).st_size != length:
            raise RemoteError(f"the object {key} on the remote {where} came back short; try again")
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_part(
    client: Any,
    bucket: str,
    key: str,
    fd: int,
    start: int,
    end: int,
    *,
    etag: str | None,
    stop: threading.Event,
    progress: Progress | None,
    where: str,
) -> None:
    retryable = _retryable()
    for attempt in range(1, _PART_ATTEMPTS + 1):
        try:
            _get_range(client, bucket, key, fd, start, end, etag, stop, progress, where)
            return
        except retryable as exc:  # before any byte of the body arrived
            cause: BaseException = exc
            if timed_out(exc):
                raise RemoteError(f"reading {key} from the remote {where} failed: {exc}") from exc
        except _Partial as partial_read:
            if progress is not None and partial_read.written:
                progress(-partial_read.written)
            cause = partial_read.cause
        if attempt == _PART_ATTEMPTS:
            raise RemoteError(f"reading {key} from the remote {where} failed: {cause}") from cause


class _Partial(Exception):
    """A retryable failure after ``written`` bytes of a part were reported to the progress bar."""

    def __init__(self, written: int, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.written = written
        self.cause = cause


def _get_range(
    client: Any,
    bucket: str,
    key: str,
    fd: int,
    start: int,
    end: int,
    etag: str | None,
    stop: threading.Event,
    progress: Progress | None,
    where: str,
) -> int:
    args: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{end - 1}"}
    if etag:
        args["IfMatch"] = etag  # the object HEAD saw, or 412: never a newer, larger one
    body = client.get_object(**args)["Body"]
    want = end - start
    got = 0
    try:
        while not stop.is_set():
            # One byte past the range at most: a server that ignores Range shows, and is not read on.
            chunk = body.read(min(_READ_CHUNK, want - got + 1))
            if not chunk:
                break
            if got + len(chunk) > want:
                raise IntegrityError(
                    f"the remote {where} sent more of {key} than was asked for (bytes {start}-{end - 1}); "
                    "it was not read further",
                    code="remote_corrupt",
                )
            view = memoryview(chunk)
            offset = start + got
            while view:
                n = os.pwrite(fd, view, offset)
                view = view[n:]
                offset += n
            got += len(chunk)
            if progress is not None:
                progress(len(chunk))
    except _retryable() as exc:
        raise _Partial(got, exc) from exc
    finally:
        body.close()
    if not stop.is_set() and got < want:
        raise _Partial(got, EOFError(f"{want - got} bytes short"))
    return got


def read_range(client: Any, bucket: str, key: str, start: int, last: int, *, where: str) -> bytes:
    """Bytes ``start``..``last`` (inclusive) as the server sends them, at most one byte more (so a
    server that ignores Range shows, and is not read on); a broken stream is read again."""
    want = last - start + 1
    retryable = _retryable()
    for attempt in range(1, _PART_ATTEMPTS + 1):
        try:
            body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{last}")["Body"]
            parts: list[bytes] = []
            got = 0
            try:
                while got <= want:
                    # One read of the whole range: one buffer, filled in place (pieces would be
                    # copied once more by the join, and held twice meanwhile).
                    piece = body.read(want + 1 - got)
                    if not piece:
                        break
                    parts.append(piece)
                    got += len(piece)
            finally:
                body.close()
            return b"".join(parts)
        except retryable as exc:
            if attempt == _PART_ATTEMPTS or timed_out(exc):
                raise RemoteError(f"reading {key} from the remote {where} failed: {exc}") from exc
    raise AssertionError("unreachable")


def read_range_into(client: Any, bucket: str, key: str, start: int, buf: memoryview, *, where: str) -> int:
    """Fill ``buf`` with the bytes from ``start`` as the server sends them; how many came (one more
    than fits shows as ``len(buf) + 1``: a server that ignores Range is not read on). A broken
    stream is read again."""
    want = len(buf)
    retryable = _retryable()
    spare = bytearray(1)
    for attempt in range(1, _PART_ATTEMPTS + 1):
        try:
            body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + want - 1}")["Body"]
            readinto = getattr(body, "readinto", None) or partial(_readinto, body)  # older botocore: read
            got = 0
            try:
                while got < want:  # in small reads: the stream copies each one once more
                    n = readinto(buf[got : got + _INTO_CHUNK])
                    if not n:
                        break
                    got += n
                if got == want and readinto(spare):
                    got += 1
            finally:
                body.close()
            return got
        except retryable as exc:
            if attempt == _PART_ATTEMPTS or timed_out(exc):
                raise RemoteError(f"reading {key} from the remote {where} failed: {exc}") from exc
    raise AssertionError("unreachable")


def _readinto(body: Any, buf: memoryview | bytearray) -> int:
    piece = body.read(len(buf))
    buf[: len(piece)] = piece
    return len(piece)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a failed S3 call, when the server answered."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None
