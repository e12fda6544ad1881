"""Named objects (packs, their indexes, recipes) in an S3 remote: one request per object or range.

Listing answers "what does the remote have" for a whole prefix in one request per 1,000 keys;
a pack is one PUT; a read asks for one byte range (S3 answers a multi-range request with the
whole object) and never reads past it.
"""

from __future__ import annotations

import time
from typing import Any

from modelreg.errors import IntegrityError, RemoteError

from .object_keys import check_key, quarantine_name, too_large
from .s3 import S3Remote
from .s3_reads import _retryable, timed_out

_ATTEMPTS = 3
_PUT_ATTEMPTS = 5  # after botocore's own retries
_READ_CHUNK = 1 << 20


class S3Objects:
    def __init__(self, remote: S3Remote) -> None:
        self.remote = remote
        self.url = remote.url
        self._client = remote._client
        self._bucket = remote.bucket
        self._prefix = remote.prefix

    def list(self, prefix: str) -> dict[str, int]:
        found: dict[str, int] = {}
        start = len(self._prefix)
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix):
                for item in page.get("Contents", []) or []:
                    found[item["Key"][start:]] = int(item.get("Size", 0))
        except self.remote._errors as exc:
            if self.remote._is_404(exc):
                self.remote._ensure_bucket()
                return found
            raise self.remote._translate(exc) from exc
        if not found:
            self.remote._ensure_bucket()
        return found

    def _get(self, key: str, start: int, last: int) -> bytes:
        """Bytes ``start``..``last`` (inclusive) as the server sends them, at most one byte more."""
        want = last - start + 1
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                body = self._client.get_object(
                    Bucket=self._bucket, Key=self._prefix + key, Range=f"bytes={start}-{last}"
                )["Body"]
                parts: list[bytes] = []
                got = 0
                try:
                    while got <= want:
                        piece = body.read(min(_READ_CHUNK, want + 1 - got))
                        if not piece:
                            break
                        parts.append(piece)
                        got += len(piece)
                finally:
                    body.close()
                return b"".join(parts)
            except _retryable() as exc:
                if attempt == _ATTEMPTS or timed_out(exc):
                    raise RemoteError(f"reading {key} from the remote {self.url} failed: {exc}") from exc
        raise AssertionError("unreachable")

    def read(self, key: str, limit: int) -> bytes | None:
        check_key(key)
        try:
            data = self._get(key, 0, limit)
        except self.remote._errors as exc:
            if self.remote._is_404(exc):
                return None
            if _status(exc) == 416:  # an empty object
                return b""
            raise self.remote._translate(exc) from exc
        if len(data) > limit:
            raise too_large(key, self.url, limit)
        return data

    def read_range(self, key: str, start: int, end: int) -> bytes:
        check_key(key)
        try:
            data = self._get(key, start, end - 1)
        except self.remote._errors as exc:
            if self.remote._is_404(exc):
                raise RemoteError(
                    f"the object {key} went from the remote {self.url} while it was read; try again"
                ) from exc
            raise self.remote._translate(exc) from exc
        if len(data) != end - start:
            raise IntegrityError(
                f"the remote {self.url} sent {len(data)} bytes of {key} for a range of {end - start}",
                code="remote_corrupt",
            )
        return data

    def write(self, key: str, data: bytes) -> None:
        check_key(key)
        for attempt in range(1, _PUT_ATTEMPTS + 1):
            try:
                self._client.put_object(
                    Bucket=self._bucket, Key=self._prefix + key, Body=data, ContentType="application/octet-stream"
                )
                return
            except self.remote._errors as exc:
                # Content-named, so writing again is harmless; a busy server drops a 64 MiB PUT now and then.
                if attempt == _PUT_ATTEMPTS or not self._transient(exc):
                    raise self.remote._translate(exc) from exc
            time.sleep(0.25 * 2**attempt)

    def _transient(self, exc: BaseException) -> bool:
        status = _status(exc)
        if status is not None:
            return status >= 500 or status == 429
        return isinstance(exc, self.remote._bexc.BotoCoreError) and not isinstance(
            exc, self.remote._bexc.NoCredentialsError
        )

    def quarantine(self, key: str) -> str | None:
        check_key(key)
        target = self._prefix + quarantine_name(key)
        try:
            self._client.copy_object(
                Bucket=self._bucket, Key=target, CopySource={"Bucket": self._bucket, "Key": self._prefix + key}
            )
            self._client.delete_object(Bucket=self._bucket, Key=self._prefix + key)
        except self.remote._errors as exc:
            if self.remote._is_404(exc):
                return None
            raise self.remote._translate(exc) from exc
        return f"s3://{self._bucket}/{target}"


def _status(exc: BaseException) -> int | None:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None
