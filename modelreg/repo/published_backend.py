"""The remote of a published registry as its readers see it: opened from the registry's URL, tried
again after a transient failure, and never written to (loaded only when a record or file is not
in the reader's cache: a warm reader never imports the remote stores)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from modelreg.errors import ConflictError
from modelreg.stores.remotes.backend import Backend, Retrying

from .locate import is_published_url, read_only_error

if TYPE_CHECKING:
    from modelreg.base.progress import Progress


def open_backend(url: str) -> Backend:
    """The backend of a published registry: ``s3://bucket/prefix`` (endpoint from
    $MODELREG_ENDPOINT_URL or boto3's $AWS_ENDPOINT_URL, region from the AWS configuration) or a directory."""
    if is_published_url(url):
        from modelreg.stores.remotes.s3 import S3Backend
        from modelreg.stores.remotes.s3_light import endpoint_from_env

        bucket, _, prefix = url[len("s3://") :].partition("/")
        endpoint = endpoint_from_env()
        return S3Backend(bucket, prefix, endpoint_url=endpoint, region=os.environ.get("AWS_REGION") or None)
    from modelreg.stores.remotes.directory import DirectoryBackend

    return DirectoryBackend(Path(url))


class ReaderBackend(Retrying):
    """The remote as a reader of its publication sees it: reads tried again after a transient
    failure, and nothing written or moved there, not even a corrupt object set aside (the reader
    may hold read-only credentials, and the remote is the writers' to repair)."""

    def put_file(self, key: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        raise read_only_error(self.url)

    def write(self, key: str, data: bytes) -> None:
        raise read_only_error(self.url)

    def move_aside(self, key: str, target: str, tag: str | None) -> str | None:
        raise ConflictError("a reader of a published registry changes nothing on the remote", code="read_only")
