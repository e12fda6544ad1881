"""A remote blob store in an S3 bucket (AWS or any S3-compatible store).

boto3 is an optional dependency (``modelreg[s3]``): it is imported only when an ``s3://``
remote is opened, so directory remotes and the rest of modelreg never pay for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError, NotFoundError, UsageError

from .base import (
    Progress,
    blob_key,
    check_source,
    found_in_quarantine,
    larger_than_recorded,
    quarantine_key,
    quarantined_prefix,
)
from .s3_client import (
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
from .s3_reads import read_object, run_parallel

__all__ = ["S3_MULTIPART_CHUNKSIZE", "S3_MULTIPART_THRESHOLD", "S3Remote"]


class S3Remote:
    """Blobs in an S3 bucket (AWS or any S3-compatible store reached via ``endpoint_url``).

    Credentials come only from the standard AWS chain (environment, profile files, SSO,
    instance roles); nothing about them is read from or written to the registry.
    """

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
    ) -> None:
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
        self._read: dict[str, str] = {}  # digest -> ETag of the object the last download read
        self._boto = load_boto3(self.url)
        self._bexc = self._boto.bexc
        # Everything boto3/botocore/s3transfer raise for a failed call, caught in one place.
        self._errors = self._boto.errors
        try:
            self._client = make_client(self._boto, self.endpoint_url, self.region)
        except ValueError as exc:  # botocore: "Invalid endpoint: ..."
            raise UsageError(f"invalid endpoint_url {self.endpoint_url!r} for {self.url}: {exc}") from exc
        except self._errors as exc:
            raise self._translate(exc) from exc

    def __repr__(self) -> str:
        return f"S3Remote({self.url!r}, endpoint_url={self.endpoint_url!r})"

    def _transfer_config(self) -> Any:
        return transfer_config(self._boto, self.multipart_threshold, self.multipart_chunksize, self.max_concurrency)

    def _key(self, digest: str) -> str:
        return self.prefix + blob_key(digest)

    # -- errors ----------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.url} (endpoint {self.endpoint_url})" if self.endpoint_url else self.url

    def _translate(self, exc: BaseException, *, digest: str | None = None) -> ModelregError:
        return translate(self._bexc, exc, where=self._where(), url=self.url, digest=digest)

    def _is_404(self, exc: BaseException) -> bool:
        return is_404(self._bexc, exc)

    def _ensure_bucket(self) -> None:
        """A 404 from HEAD object does not say whether the key or the bucket is missing."""
        if self._bucket_checked:
            return
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._errors as exc:
            if self._is_404(exc):
                raise no_bucket(self._where()) from exc
            raise self._translate(exc) from exc
        self._bucket_checked = True

    # -- the store ---------------------------------------------------------------------------

    def _head(self, digest: str) -> tuple[int, str | None] | None:
        """The object's size and ETag, or None when there is no such object."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(digest))
        except self._errors as exc:
            if self._is_404(exc):
                self._ensure_bucket()
                return None
            raise self._translate(exc) from exc
        return int(head.get("ContentLength", 0)), head.get("ETag")

    def has(self, digest: str) -> bool:
        return self._head(digest) is not None

    def missing(self, digests: Iterable[str], sizes: Mapping[str, int] | None = None) -> set[str]:
        wanted = set(digests)
        recorded = sizes or {}
        by_shard: dict[str, list[str]] = {}
        for digest in sorted(wanted):
            by_shard.setdefault(blob_key(digest)[: len("sha256/ab")], []).append(digest)
        # One listing answers for a whole shard; a HEAD answers for one digest. List the
        # shards where several digests are asked, HEAD the rest. Both give the object's size.
        jobs: list[Callable[[], set[str]]] = []
        for shard, group in by_shard.items():
            if len(group) >= S3_LIST_SHARD_AT:
                jobs.append(functools.partial(self._missing_by_listing, shard, group, recorded))
            else:
                jobs.extend(functools.partial(self._missing_by_head, digest, recorded.get(digest)) for digest in group)
        found_missing: set[str] = set()
        for part in run_parallel(jobs, S3_LOOKUP_THREADS):
            found_missing |= part
        return found_missing

    def _missing_by_head(self, digest: str, size: int | None) -> set[str]:
        head = self._head(digest)
        return set() if head is not None and size in (None, head[0]) else {digest}

    def _missing_by_listing(self, shard: str, group: list[str], sizes: Mapping[str, int]) -> set[str]:
        present: dict[str, int] = {}
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{shard}/"):
                for item in page.get("Contents", []) or []:
                    present[item["Key"]] = int(item.get("Size", 0))
        except self._errors as exc:
            raise self._translate(exc) from exc
        wrong = {digest for digest in group if self._key(digest) in present and digest in sizes}
        wrong = {digest for digest in wrong if present[self._key(digest)] != sizes[digest]}
        return {digest for digest in group if self._key(digest) not in present} | wrong

    def upload(self, digest: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        head = self._head(digest)
        if head is not None and head[0] == size:
            return False
        check_source(src, size)
        if head is not None:
            # An object of another size is corrupt: keep it under quarantine/, then replace it.
            self._move_aside(digest, head[1])
        # A PUT is atomic on S3: readers see the old state or the whole object. Racing
        # uploaders of one digest write identical bytes, so the last one winning is harmless.
        try:
            self._client.upload_file(
                str(src),
                self.bucket,
                self._key(digest),
                ExtraArgs={"ContentType": "application/octet-stream"},
                Callback=progress,
                Config=self._transfer_config(),
            )
        except self._errors as exc:
            raise self._translate(exc) from exc
        return True

    def download(self, digest: str, dest: Path, size: int, progress: Progress | None = None) -> None:
        head = self._head(digest)
        if head is None:
            raise self._not_here(digest)
        length, etag = head
        if length > size:
            raise larger_than_recorded(digest, self.url, length, size)
        try:
            read_object(
                self._client,
                self.bucket,
                self._key(digest),
                dest,
                length=length,
                etag=etag,
                part_size=self.multipart_chunksize,
                threads=self.max_concurrency,
                progress=progress,
                where=self._where(),
            )
        except self._errors as exc:
            raise self._translate(exc, digest=digest) from exc
        self._read[digest] = etag or ""  # a store without ETags: quarantine unconditionally

    def quarantine(self, digest: str) -> str | None:
        etag = self._read.pop(digest, None)
        return None if etag is None else self._move_aside(digest, etag or None)

    def _move_aside(self, digest: str, etag: str | None) -> str | None:
        """Copy the object (if it is still the one with ``etag``) under quarantine/, then delete it."""
        key = self._key(digest)
        target = self.prefix + quarantine_key(digest)
        pinned: dict[str, Any] = {"CopySourceIfMatch": etag} if etag else {}
        try:
            self._client.copy(
                {"Bucket": self.bucket, "Key": key},
                self.bucket,
                target,
                ExtraArgs=pinned,
                Config=self._transfer_config(),
            )
        except self._errors as exc:
            if is_412(self._bexc, exc) or self._is_404(exc):
                return None  # replaced or removed since it was read: leave the newer object alone
            raise self._translate(exc) from exc
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key, **({"IfMatch": etag} if etag else {}))
        except self._errors as exc:
            if is_412(self._bexc, exc):
                return None  # replaced between the copy and the delete: the copy is harmless
            if not etag or not isinstance(exc, self._bexc.ClientError):
                raise self._translate(exc) from exc
            try:  # a store without conditional deletes
                self._client.delete_object(Bucket=self.bucket, Key=key)
            except self._errors as exc2:
                raise self._translate(exc2) from exc2
        return f"s3://{self.bucket}/{target}"

    def _not_here(self, digest: str) -> ModelregError:
        """Not on the remote: say so, or that an earlier fetch quarantined its corrupt copy."""
        prefix = self.prefix + quarantined_prefix(digest)
        try:
            listed = self._client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=100)
            keys = sorted(item["Key"] for item in listed.get("Contents", []) or [])
        except self._errors:
            keys = []
        if keys:
            return found_in_quarantine(digest, self.url, f"s3://{self.bucket}/{keys[-1]}")
        return NotFoundError(f"blob {digest} is not on the remote {self.url}", code="blob_missing")
