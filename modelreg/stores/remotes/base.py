"""What modelreg needs of a remote blob store (``RemoteStore``), how blobs are named there, and
what a fetch tells the user.

Blobs are content-addressed: the object for ``sha256:<hex>`` lives at
``<prefix>/sha256/<hex[:2]>/<hex>``, the same layout as the local ``blobs/`` store; corrupt
copies are kept under ``<prefix>/quarantine/``. ``blob_remote.BlobRemote`` implements the store
once over any backend (``backend.Backend``). Large files of a format-2 registry live on the same
remote as packs, pack indexes and recipes (``packs/``, ``recipes/``), reached through
``objects.open_objects`` (docs/storage-format.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from modelreg.base.fs import aside_name
from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, NotFoundError

QUARANTINE = "quarantine"
"""Where corrupt objects go, beside ``sha256/`` under the remote's prefix."""

_DIGEST_RE = re.compile(r"sha256:([0-9a-f]{64})")


class RemoteStore(Protocol):
    """What the rest of modelreg needs from a remote blob store."""

    url: str

    def has(self, digest: str) -> bool:
        """Whether an object of that name is on the remote (whatever its size)."""
        ...

    def missing(self, digests: Iterable[str], sizes: Mapping[str, int] | None = None) -> set[str]:
        """The digests among ``digests`` that are not on the remote, or, for a digest that
        ``sizes`` gives the recorded size of, whose object has another size (corrupt)."""
        ...

    def upload(self, digest: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        """Store ``src`` as the blob ``digest``; False when a good object was already there.
        An object of another size is corrupt: it is quarantined and replaced."""
        ...

    def download(self, digest: str, dest: Path, size: int, progress: Progress | None = None) -> None:
        """Write the blob's raw bytes to ``dest``, never more than ``size`` bytes: an object
        larger than that, or one that is not a plain object (a FIFO, a device), is an
        IntegrityError. The caller verifies the digest."""
        ...

    def quarantine(self, digest: str) -> str | None:
        """Move the object that the last ``download`` of ``digest`` read to ``quarantine/``;
        where it went, or None when the object changed (or went) since it was read."""
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


def quarantine_key(digest: str) -> str:
    """``quarantine/<hex>.<UTC time>.<random>``: unique, so a second corrupt copy never replaces a first."""
    return f"{QUARANTINE}/{aside_name(blob_key(digest).rsplit('/', 1)[1])}"


def check_source(src: Path, size: int) -> None:
    """Refuse to publish a local blob whose size is not the recorded one."""
    try:
        actual = os.stat(src).st_size
    except FileNotFoundError:
        raise NotFoundError(f"local blob file {src} does not exist", code="blob_missing") from None
    if actual != size:
        raise IntegrityError(f"local blob {src} has {actual} bytes but {size} were recorded: run `modelreg verify`")


# -- what a fetch tells the user ------------------------------------------------------------------

_REPAIR = "a 'modelreg push' from a machine with a good copy replaces it"


def larger_than_recorded(digest: str, where: str, actual: int | None, size: int) -> IntegrityError:
    """The object holds more bytes than the manifest records: it is not the blob (nothing more is read)."""
    got = f"{actual} bytes" if actual is not None else "more bytes"
    return IntegrityError(
        f"the object of blob {digest} on the remote {where} is larger than recorded ({got}, the manifest "
        f"records {size}); it was not read further: {_REPAIR}",
        code="remote_corrupt",
    )


def not_a_blob(digest: str, what: str, where: str) -> IntegrityError:
    return IntegrityError(
        f"the object of blob {digest} on the remote {where} is {what}, not a blob file; nothing was read: {_REPAIR}",
        code="remote_corrupt",
    )


def quarantined(digest: str, where: str, place: str) -> IntegrityError:
    """A fetch found the object's bytes not matching its digest and moved it aside."""
    return IntegrityError(
        f"blob {digest} fetched from the remote {where} does not match its digest: the corrupt object "
        f"was quarantined as {place}; a 'modelreg push' from a machine with a good copy repairs the remote",
        code="digest_mismatch",
    )


def found_in_quarantine(digest: str, where: str, place: str) -> IntegrityError:
    """Asked for a blob whose only copy on the remote was quarantined by an earlier fetch."""
    return IntegrityError(
        f"blob {digest} on the remote {where} does not match its digest: its corrupt copy was quarantined "
        f"as {place} and no good copy has been pushed since; a 'modelreg push' from a machine with a good "
        "copy repairs the remote",
        code="digest_mismatch",
    )


def quarantined_prefix(digest: str) -> str:
    """The start of every quarantine name of ``digest``."""
    return f"{QUARANTINE}/{blob_key(digest).rsplit('/', 1)[1]}."
