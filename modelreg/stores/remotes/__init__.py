"""Remote blob stores, one module per backend behind one interface (``RemoteStore``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from modelreg.errors import UsageError

from .base import Progress, RemoteStore, blob_key

if TYPE_CHECKING:
    from .directory import DirectoryRemote
    from .s3 import S3Remote

__all__ = ["DirectoryRemote", "Progress", "RemoteStore", "S3Remote", "blob_key", "open_remote"]

_URL_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def open_remote(
    url: str,
    *,
    root: Path,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> RemoteStore:
    """Open the remote named by ``url``: ``s3://bucket/prefix``, ``file:///dir`` or a path.

    A relative path is taken relative to ``root``, the registry directory, so a
    ``modelreg.toml`` that says ``url = "../shared-blobs"`` means the same on every clone.
    """
    text = url.strip()
    if not text:
        raise UsageError("the remote url is empty: set [remote] url in modelreg.toml")
    if _URL_SCHEME_RE.match(text):
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if parts.query or parts.fragment:
            raise UsageError(f"remote url {url!r} must not have a query or fragment")
        if scheme == "s3":
            from .s3 import S3Remote

            return S3Remote(
                bucket=parts.netloc,
                prefix=parts.path,
                endpoint_url=endpoint_url,
                region=region,
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
            from .directory import DirectoryRemote

            return DirectoryRemote(Path(local))
        raise UsageError(f"unsupported remote url {url!r}: use s3://bucket/prefix, file:///dir or a directory path")
    from .directory import DirectoryRemote

    path = Path(text).expanduser()
    if not path.is_absolute():
        path = Path(root) / path
    return DirectoryRemote(path)


def __getattr__(name: str) -> object:
    # The backends load on demand: a registry without an S3 remote never imports that module.
    if name == "DirectoryRemote":
        from .directory import DirectoryRemote

        return DirectoryRemote
    if name == "S3Remote":
        from .s3 import S3Remote

        return S3Remote
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
