"""A remote in an S3 bucket (AWS or any S3-compatible store reached via ``endpoint_url``).

boto3 and obstore are optional dependencies (``modelreg[s3]``). Where the environment alone says
how the bucket is reached, listings, reads and small writes go through obstore (``s3_obstore``)
and boto3 is imported only by a call left to it; elsewhere boto3 is imported when the remote is
opened. Directory remotes and the rest of modelreg never pay for either. Credentials come only
from the standard AWS chain (environment, profile files, SSO, instance roles); nothing about
them is read from or written to the registry.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, ModelregError, NotFoundError, RemoteError, UsageError

from .backend import Backend, ObjectInfo, Tagged, check_key
from .directory import too_large
from .s3_client import (
    S3_LEAST_PART,
    S3_LIST_SHARD_AT,
    S3_LOOKUP_THREADS,
    S3_MULTIPART_CHUNKSIZE,
    S3_MULTIPART_THRESHOLD,
    S3_TRANSFER_CONCURRENCY,
    load_boto3,
    make_client,
    transfer_config,
)
from .s3_errors import is_404, is_412, no_bucket, translate
from .s3_obstore import SINGLE_PUT, LaneDeclined, lane_transient, open_lane
from .s3_reads import read_object, read_range, read_range_into, status_of

__all__ = ["S3_MULTIPART_CHUNKSIZE", "S3_MULTIPART_THRESHOLD", "S3Backend"]


class S3Backend(Backend):
    lookup_threads = S3_LOOKUP_THREADS
    list_shard_at = S3_LIST_SHARD_AT  # one listing answers for a shard where several keys are asked

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        multipart_threshold: int = S3_MULTIPART_THRESHOLD,
        multipart_chunksize: int = S3_MULTIPART_CHUNKSIZE,
        max_concurrency: int = S3_TRANSFER_CONCURRENCY,
        direct: bool = True,
    ) -> None:
        """``direct``: listings, reads and plain writes through obstore where the environment
        alone says how the bucket is reached (``s3_obstore``); False: botocore for every call."""
        if not bucket:
            raise UsageError("an s3 remote url needs a bucket: s3://bucket/prefix")
        segments = [part for part in prefix.split("/") if part]
        if any(part in (".", "..") for part in segments):
            raise UsageError(f"the s3 prefix {prefix!r} must not contain '.' or '..' segments")
        self.bucket = bucket
        self.prefix = "".join(f"{part}/" for part in segments)
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/") if self.prefix else f"s3://{bucket}"
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize
        self.max_concurrency = max_concurrency
        self._bucket_checked = False
        self._bexc: Any = None
        self._errors: tuple[type[BaseException], ...] = ()  # botocore's, once it is loaded
        self._lane = None if not direct else open_lane(bucket, self.prefix, self.url, self.endpoint_url, self.region)
        self._boto_client: Any = None
        self._opening = threading.Lock()
        if self._lane is None:
            self._open_client()  # botocore for everything: it says now what is wrong with the settings

    @property
    def _client(self) -> Any:
        # With the obstore lane, botocore is loaded only by a call the lane does not make (from
        # any of the transfer threads: one of them opens it).
        if self._boto_client is None:
            with self._opening:
                if self._boto_client is None:
                    self._open_client()
        return self._boto_client

    def _open_client(self) -> None:
        self._boto = load_boto3(self.url)
        self._bexc = self._boto.bexc
        # Everything boto3/botocore/s3transfer raise for a failed call, caught in one place.
        self._errors = self._boto.errors
        try:
            self._boto_client = make_client(self._boto, self.endpoint_url, self.region)
        except ValueError as exc:  # botocore: "Invalid endpoint: ..."
            raise UsageError(f"invalid endpoint_url {self.endpoint_url!r} for {self.url}: {exc}") from exc
        except self._errors as exc:
            raise self._translate(exc) from exc

    def _declined(self, declined: LaneDeclined) -> None:
        """The lane could not do a call, which botocore now does; for good where ``permanent``."""
        if declined.permanent:
            self._lane = None

    def __repr__(self) -> str:
        return f"S3Backend({self.url!r}, endpoint_url={self.endpoint_url!r})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _transfer_config(self) -> Any:
        return transfer_config(self._boto, self.multipart_threshold, self.multipart_chunksize, self.max_concurrency)

    # -- errors ----------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.url} (endpoint {self.endpoint_url})" if self.endpoint_url else self.url

    def _translate(self, exc: BaseException) -> ModelregError:
        return translate(self._bexc, exc, where=self._where(), url=self.url)

    def transient(self, exc: BaseException) -> bool:
        cause = exc.__cause__ if isinstance(exc, ModelregError) and exc.__cause__ is not None else exc
        lane = lane_transient(cause)
        if lane is not None or self._boto_client is None:
            return bool(lane)
        status = status_of(cause)
        if status is not None:
            return status >= 500 or status == 429
        return isinstance(cause, self._bexc.BotoCoreError) and not isinstance(cause, self._bexc.NoCredentialsError)

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    # -- the interface -------------------------------------------------------------------------

    def require_root(self) -> None:
        """A 404 for an object does not say whether the key or the bucket is missing: ask once."""
        if self._bucket_checked:
            return
        lane = self._lane  # once: another thread may drop it meanwhile
        if lane is not None:
            try:
                lane.require_root()
            except LaneDeclined as declined:
                self._declined(declined)
            else:
                self._bucket_checked = True
                return
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._errors as exc:
            if is_404(self._bexc, exc):
                raise no_bucket(self._where()) from exc
            raise self._translate(exc) from exc
        self._bucket_checked = True

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self._errors as exc:
            if is_404(self._bexc, exc):
                self.require_root()
                return None
            raise self._translate(exc) from exc
        return ObjectInfo(int(head.get("ContentLength", 0)), head.get("ETag") or None)

    def list(self, prefix: str) -> dict[str, int]:
        lane = self._lane
        if lane is not None:
            try:
                listed = lane.list(prefix)
            except LaneDeclined as declined:
                self._declined(declined)
            else:
                self._bucket_checked = True  # it answered: the bucket is there
                return listed
        found: dict[str, int] = {}
        start = len(self.prefix)
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []) or []:
                    found[item["Key"][start:]] = int(item.get("Size", 0))
        except self._errors as exc:
            if is_404(self._bexc, exc):
                self.require_root()
                return found
            raise self._translate(exc) from exc
        if not found:
            self.require_root()
        return found

    def read(self, key: str, limit: int) -> bytes | None:
        lane = self._lane
        if lane is not None:
            try:
                return lane.read(check_key(key), limit)
            except LaneDeclined as declined:
                self._declined(declined)
        try:
            data = read_range(self._client, self.bucket, self._key(key), 0, limit, where=self.url)
        except self._errors as exc:
            if is_404(self._bexc, exc):
                return None
            if status_of(exc) == 416:  # an empty object
                return b""
            raise self._translate(exc) from exc
        if len(data) > limit:
            raise too_large(key, self.url, limit)
        return data

    def read_range(self, key: str, start: int, end: int) -> bytes:
        if self._lane is not None:
            return bytes(self.read_range_view(key, start, end))  # botocore's if the lane declines
        try:
            data = read_range(self._client, self.bucket, self._key(key), start, end - 1, where=self.url)
        except self._errors as exc:
            if is_404(self._bexc, exc):
                raise RemoteError(
                    f"the object {key} went from the remote {self.url} while it was read; try again"
                ) from exc
            if status_of(exc) != 416:
                raise self._translate(exc) from exc
            data = b""  # a range wholly past the end: no bytes, refused below as the lane's are
        if len(data) != end - start:
            raise IntegrityError(
                f"the remote {self.url} sent {len(data)} bytes of {key} for a range of {end - start}",
                code="remote_corrupt",
            )
        return data

    def read_range_into(self, key: str, start: int, buf: memoryview) -> None:
        if self._lane is not None:
            buf[:] = self.read_range_view(key, start, start + len(buf))
            return
        try:
            got = read_range_into(self._client, self.bucket, self._key(key), start, buf, where=self.url)
        except self._errors as exc:
            if is_404(self._bexc, exc):
                raise RemoteError(
                    f"the object {key} went from the remote {self.url} while it was read; try again"
                ) from exc
            if status_of(exc) != 416:
                raise self._translate(exc) from exc
            got = 0  # a range wholly past the end, as above
        if got != len(buf):
            raise IntegrityError(
                f"the remote {self.url} sent {got} bytes of {key} for a range of {len(buf)}", code="remote_corrupt"
            )

    def read_range_view(self, key: str, start: int, end: int) -> memoryview:
        lane = self._lane
        if lane is None:
            return super().read_range_view(key, start, end)
        try:
            view = lane.read_range_view(check_key(key), start, end)
        except FileNotFoundError as exc:  # obstore: no such object
            raise RemoteError(f"the object {key} went from the remote {self.url} while it was read; try again") from exc
        except LaneDeclined as declined:
            self._declined(declined)
            return super().read_range_view(key, start, end)
        if len(view) != end - start:
            raise IntegrityError(
                f"the remote {self.url} sent {len(view)} bytes of {key} for a range of {end - start}",
                code="remote_corrupt",
            )
        return view

    def get_file(self, key: str, dest: Path, info: ObjectInfo, progress: Progress | None = None) -> None:
        try:
            read_object(
                self._client,
                self.bucket,
                self._key(key),
                dest,
                length=info.size,
                etag=info.tag,
                part_size=self.multipart_chunksize,
                threads=self.max_concurrency,
                progress=progress,
                where=self._where(),
            )
        except self._errors as exc:
            if is_404(self._bexc, exc):
                raise NotFoundError(
                    f"the object {key} went from the remote {self.url} while it was read", code="blob_missing"
                ) from exc
            if is_412(self._bexc, exc):
                raise RemoteError(
                    f"the object {key} changed on the remote {self._where()} while it was read (a push "
                    "replacing it?): run the command again",
                    code="remote_changed",
                ) from exc
            raise self._translate(exc) from exc

    def put_file(self, key: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        # A PUT is atomic on S3: readers see the old state or the whole object. Racing writers of
        # one content-named key write identical bytes, so the last one winning is harmless.
        try:
            self._client.upload_file(
                str(src),
                self.bucket,
                self._key(key),
                ExtraArgs={"ContentType": "application/octet-stream"},
                Callback=progress,
                Config=self._transfer_config(),
            )
        except self._errors as exc:
            raise self._translate(exc) from exc
        return True

    def write(self, key: str, data: bytes) -> None:
        lane = self._lane
        if lane is not None:
            try:
                lane.write(check_key(key), data)
                return
            except LaneDeclined as declined:
                self._declined(declined)
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType="application/octet-stream"
            )
        except self._errors as exc:
            raise self._translate(exc) from exc

    def write_parts(self, key: str, size: int, parts: Callable[[], Iterable[bytes | memoryview]]) -> None:
        """A multipart upload sent a part at a time as ``parts`` yields them (small pieces are
        gathered up to S3's least part size); the object appears, whole, only when the upload
        completes, and an upload that fails is aborted. An object of one part is a single PUT."""
        lane = self._lane
        if lane is not None and size <= SINGLE_PUT:
            try:
                lane.write_parts(check_key(key), size, parts)
                return
            except LaneDeclined as declined:
                self._declined(declined)
        gathered = bytearray()
        upload: _Multipart | None = None
        sent = 0
        try:
            for part in parts():
                if gathered or len(part) < S3_LEAST_PART:
                    gathered += part
                    if len(gathered) < S3_LEAST_PART:
                        continue
                    part, gathered = bytes(gathered), bytearray()
                if upload is None:
                    upload = _Multipart(self._client, self.bucket, self._key(key))
                upload.send(part)
                sent += len(part)
            if sent + len(gathered) != size:
                raise IntegrityError(f"{sent + len(gathered)} bytes were given for {key}, not {size}")
            if upload is None:
                self._client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=bytes(gathered), ContentType="application/octet-stream"
                )
                return
            if gathered:
                upload.send(memoryview(gathered))
            upload.complete()
            upload = None
        except self._errors as exc:
            raise self._translate(exc) from exc
        finally:
            if upload is not None:
                upload.abort()

    def move_aside(self, key: str, target: str, tag: str | None) -> str | None:
        """Copy the object (if it is still the one ``tag`` names) to ``target``, then delete it."""
        source, destination = self._key(key), self._key(target)
        pinned: dict[str, Any] = {"CopySourceIfMatch": tag} if tag else {}
        try:
            self._client.copy(
                {"Bucket": self.bucket, "Key": source},
                self.bucket,
                destination,
                ExtraArgs=pinned,
                Config=self._transfer_config(),
            )
        except self._errors as exc:
            if is_412(self._bexc, exc) or is_404(self._bexc, exc):
                return None  # replaced or removed since it was read: leave the newer object alone
            raise self._translate(exc) from exc
        try:
            self._client.delete_object(Bucket=self.bucket, Key=source, **({"IfMatch": tag} if tag else {}))
        except self._errors as exc:
            if is_412(self._bexc, exc):
                return None  # replaced between the copy and the delete: the copy is harmless
            if not tag or not isinstance(exc, self._bexc.ClientError):
                raise self._translate(exc) from exc
            try:  # a store without conditional deletes
                self._client.delete_object(Bucket=self.bucket, Key=source)
            except self._errors as exc2:
                raise self._translate(exc2) from exc2
        return f"s3://{self.bucket}/{destination}"

    # -- conditional writes ------------------------------------------------------------------

    def read_tagged(self, key: str, limit: int) -> Tagged | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self._errors as exc:
            if is_404(self._bexc, exc):
                self.require_root()
                return None
            raise self._translate(exc) from exc
        body = answer["Body"]
        try:
            if int(answer.get("ContentLength", 0)) > limit:
                raise too_large(key, self.url, limit)
            data = body.read(limit + 1)
        except self._errors as exc:
            raise self._translate(exc) from exc
        finally:
            body.close()
        if len(data) > limit:
            raise too_large(key, self.url, limit)
        tag = answer.get("ETag")
        if not isinstance(tag, str) or not tag:
            raise RemoteError(f"the remote {self._where()} gave no ETag for {key}: it cannot hold claims")
        return Tagged(data, tag)

    def create(self, key: str, data: bytes) -> bool:
        return self._conditional_put(key, data, IfNoneMatch="*")

    def swap(self, key: str, data: bytes, expected_tag: str) -> bool:
        return self._conditional_put(key, data, IfMatch=expected_tag)

    def _conditional_put(self, key: str, data: bytes, **condition: str) -> bool:
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType="application/octet-stream", **condition
            )
        except self._errors as exc:
            # 412: the condition failed; 404: nothing to swap; 409: a concurrent conditional write
            # of the same key was in flight (AWS) and this one lost to it.
            if is_412(self._bexc, exc) or is_404(self._bexc, exc) or status_of(exc) == 409:
                if is_404(self._bexc, exc):
                    self.require_root()
                return False
            raise self._translate(exc) from exc
        return True


class _Multipart:
    """One multipart upload: parts sent in order, then completed (or aborted: nothing appears)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        answer = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/octet-stream")
        self.upload_id: str = answer["UploadId"]
        self.parts: list[dict[str, Any]] = []

    def send(self, data: bytes | memoryview) -> None:
        number = len(self.parts) + 1
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=_ViewReader(data)
        )
        self.parts.append({"ETag": answer["ETag"], "PartNumber": number})

    def complete(self) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # best effort: what a failed abort leaves is parts, never an object
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class _ViewReader:
    """A part's bytes as the seekable stream botocore takes, read in views, never copied (the part
    is often a view of a buffer its producer reuses)."""

    def __init__(self, data: bytes | memoryview) -> None:
        self._view = memoryview(data).cast("B")
        self._at = 0

    def __len__(self) -> int:
        return len(self._view)

    def read(self, size: int = -1) -> memoryview:
        # Views, not copies: botocore reads a MiB at a time to sign the part, then the connection
        # sends it in small reads; copies of those, in each transfer thread, stayed with the allocator.
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._at + size)
        piece = self._view[self._at : end]
        self._at = max(self._at, end)
        return piece

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: len(self._view)}[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self) -> int:
        return self._at

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True
