"""Remotes: one module per backend behind one object interface (``backend.Backend``), and the
blob store and chunk objects written once over it (``blob_remote``, ``objects``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from modelreg.base.progress import Progress
from modelreg.errors import UsageError

from .backend import Backend
from .base import RemoteStore, blob_key
from .blob_remote import BlobRemote

if TYPE_CHECKING:
    from .directory import DirectoryBackend
    from .s3 import S3Backend

__all__ = [
    "Backend",
    "BlobRemote",
    "DirectoryBackend",
    "Progress",
    "RemoteStore",
    "S3Backend",
    "blob_key",
    "open_remote",
]

_URL_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def open_remote(
    url: str,
    *,
    root: Path,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> BlobRemote:
    """Open the remote named by ``url``: ``s3://bucket/prefix``, ``file:///dir`` or a path.

    A relative path is taken relative to ``root``, the registry directory, so a
    ``modelreg.toml`` that says ``url = "../shared-blobs"`` means the same on every clone.
    """
    from .blob_remote import BlobRemote

    text = url.strip()
    if not text:
        raise UsageError("the remote url is empty: set [remote] url in modelreg.toml")
    if _URL_SCHEME_RE.match(text):
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if parts.query or parts.fragment:
            raise UsageError(f"remote url {url!r} must not have a query or fragment")
        if scheme == "s3":
            from .s3 import S3Backend

            return BlobRemote(
                S3Backend(bucket=parts.netloc, prefix=parts.path, endpoint_url=endpoint_url, region=region)
            )
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise UsageError(
                    f"remote url {url!r} names host {parts.netloc!r}: "
                    "a file URL must be absolute, like file:///srv/blobs"
                )
            local = unquote(parts.path)
            if not local:
                raise UsageError(f"remote url {url!r} has no path")
            from .directory import DirectoryBackend

            return BlobRemote(DirectoryBackend(Path(local)))
        raise UsageError(f"unsupported remote url {url!r}: use s3://bucket/prefix, file:///dir or a directory path")
    from .directory import DirectoryBackend

    path = Path(text).expanduser()
    if not path.is_absolute():
        path = Path(root) / path
    return BlobRemote(DirectoryBackend(path))


def __getattr__(name: str) -> object:
    # The backends load on demand: a registry without an S3 remote never imports that module.
    if name == "BlobRemote":
        from .blob_remote import BlobRemote

        return BlobRemote
    if name == "DirectoryBackend":
        from .directory import DirectoryBackend

        return DirectoryBackend
    if name == "S3Backend":
        from .s3 import S3Backend

        return S3Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
