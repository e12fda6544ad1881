"""What modelreg needs of a remote blob store, and how blobs are named there.

Blobs are content-addressed: the object for ``sha256:<hex>`` lives at
``<prefix>/sha256/<hex[:2]>/<hex>``, the same layout as the local ``blobs/`` store. Because
a key names its content, writing the same key twice writes the same bytes, which is what
makes uploads idempotent and safe to run in parallel without any locking.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from modelreg.errors import IntegrityError, NotFoundError

Progress = Callable[[int], None]
"""Called with the number of bytes moved since the previous call (S3: from transfer threads)."""

_DIGEST_RE = re.compile(r"sha256:([0-9a-f]{64})")


class RemoteStore(Protocol):
    """What the rest of modelreg needs from a remote blob store."""

    url: str

    def has(self, digest: str) -> bool:
        """Whether the blob is on the remote."""
        ...

    def missing(self, digests: Iterable[str]) -> set[str]:
        """The digests among ``digests`` that are not on the remote."""
        ...

    def upload(self, digest: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        """Store ``src`` as the blob ``digest``; False when it was already there."""
        ...

    def download(self, digest: str, dest: Path, progress: Progress | None = None) -> None:
        """Write the blob's raw bytes to ``dest`` (the caller verifies the digest)."""
        ...


def blob_key(digest: str) -> str:
    """``sha256:<hex>`` -> ``sha256/<hex[:2]>/<hex>``, refusing anything that is not a digest.

    The digest becomes a path or an object key, so it is checked strictly: a manifest that
    says ``sha256:../../x`` must not turn into a write outside the store.
    """
    match = _DIGEST_RE.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise IntegrityError(
            f"malformed blob digest {digest!r}: expected 'sha256:' and 64 lowercase hex digits",
            code="invalid_digest",
        )
    hex_digest = match.group(1)
    return f"sha256/{hex_digest[:2]}/{hex_digest}"


def check_source(src: Path, size: int) -> None:
    """Refuse to publish a local blob whose size is not the recorded one."""
    try:
        actual = os.stat(src).st_size
    except FileNotFoundError:
        raise NotFoundError(f"local blob file {src} does not exist", code="blob_missing") from None
    if actual != size:
        raise IntegrityError(f"local blob {src} has {actual} bytes but {size} were recorded: run `modelreg verify`")
